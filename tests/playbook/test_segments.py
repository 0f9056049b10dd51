"""Segments in the playbook: checked at load time at their line, evaluated over a lead's state."""

from __future__ import annotations

import pytest

from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook
from leadgate.playbook.segments import compile_segments, lead_view

BUNDLED = bundled_playbook()[1]
# The bundled playbook without its own segments (each test adds its own section).
BASE = BUNDLED[: BUNDLED.index("\nsegments:\n")] + BUNDLED[BUNDLED.index("\nstages:\n") :]


def _problems(extra: str) -> list[str]:
    with pytest.raises(PlaybookError) as err:
        load_playbook(BASE + extra, "p.yaml")
    return [str(p) for p in err.value.problems]


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("extra", "needle", "message"),
    [
        (
            "\nsegments:\n  hot:\n    all:\n      - {field: stage, op: in, value: [mql, sqll]}\n",
            "sqll",
            "segments.hot.all[0].value: unknown stage 'sqll' (did you mean 'sql'?)",
        ),
        (
            "\nsegments:\n  hot: {field: fit, op: gte, value: 10}\n",
            "field: fit",
            "segments.hot.field: 'fit' is a score, not a field",
        ),
        (
            "\nsegments:\n  hot: {field: grade, op: eq, value: E9}\n",
            "E9",
            "unknown grade 'E9'",
        ),
        (
            "\nsegments:\n  hot: {field: country, op: equals, value: DE}\n",
            "equals",
            "unknown operator 'equals'",
        ),
        (
            "\nsegments:\n  Hot Leads: {field: country, op: eq, value: DE}\n",
            "segments:",
            "must be lower_case letters, digits, _",
        ),
        (
            "\nsegments:\n  hot: {scor: fit, op: gte, value: 1}\n",
            "{scor:",
            "a condition needs 'field'",
        ),
    ],
)
def test_a_bad_segment_is_an_error_at_its_line(extra: str, needle: str, message: str) -> None:
    problems = _problems(extra)
    line = _line_of(BASE + extra, needle)
    assert any(p.startswith(f"p.yaml:{line}: ") and message in p for p in problems), problems


def test_a_track_naming_an_unknown_segment_is_an_error_at_its_line() -> None:
    text = BUNDLED.replace(
        "\nsegments:\n", "\nsegments:\n  big: {field: company_size, op: gt, value: 1000}\n"
    ).replace(
        "nurture:\n  tracks: []",
        "nurture:\n  tracks:\n    - name: t\n      segment: bgi\n      steps: [{wait_days: 1}]",
    )
    with pytest.raises(PlaybookError) as err:
        load_playbook(text, "p.yaml")
    problems = [str(p) for p in err.value.problems]
    line = _line_of(text, "segment: bgi")
    assert problems == [
        f"p.yaml:{line}: nurture.tracks[0].segment: unknown segment 'bgi' "
        "(did you mean 'big'?) (segments: big, hot_mqls, enterprise)"
    ]


def test_segments_read_the_lead_state_before_attributes_of_the_same_name() -> None:
    pb = load_playbook(
        BASE.replace(
            "\nstages:\n",
            "\nsegments:\n"
            "  mqls: {field: stage, op: eq, value: MQL}\n"
            "  fit_b_no_owner:\n    all:\n      - {field: fit_grade, op: eq, value: b}\n"
            "      - {field: owner, op: exists, value: false}\n"
            "  likely: {score: predicted, op: gte, value: 0.5}\n"
            "  web: {field: source, op: eq, value: web}\nstages:\n",
        ),
        "p.yaml",
    )
    segs = compile_segments(pb.segments)
    view = lead_view(
        "a@x.io",
        {"stage": "mql", "owner": "bo", "predicted": "0.9", "source": " Web "},
        stage="lead",
        grade="B2",
        owner=None,
        fit=30.0,
        engagement=20.0,
        total=50.0,
    )
    assert not segs["mqls"](*view)  # the attribute `stage` is not the lead's stage
    assert segs["fit_b_no_owner"](*view)  # nor `owner`
    assert not segs["likely"](*view)  # predicted is a stored number, not text
    assert segs["web"](*view)


def test_the_bundled_playbook_has_segments() -> None:
    pb, _ = bundled_playbook()
    assert list(pb.segments) == ["hot_mqls", "enterprise"]
