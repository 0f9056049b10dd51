"""Playbook validation: every error names file, line and field."""

from __future__ import annotations

import json

import pytest

from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook
from leadgate.playbook.model import Playbook

BASE = """\
name: t
fit:
  rules:
    - name: senior
      if: {field: job_title, op: matches, value: "(?i)vp"}
      points: 20
stages:
  mql:
    hand_raisers: [demo_request]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as exc:
        load_playbook(text, "playbook.yaml")
    return [str(p) for p in exc.value.problems]


def test_bundled_playbook_is_valid_and_uses_the_seed_points() -> None:
    pb, _ = bundled_playbook()
    points = {r.event: r.points for r in pb.engagement.rules}
    assert points["whitepaper_download"] == 10
    assert points["newsletter_signup"] == 5
    assert points["webinar_attended"] == 20
    assert "demo_request" in pb.stages.mql.hand_raisers
    assert pb.stages.sql.framework == "bant"


def test_unknown_operator_names_line_field_and_suggests() -> None:
    text = BASE.replace('op: matches, value: "(?i)vp"', "op: contain, value: vp")
    assert problems(text) == [
        "playbook.yaml:5: fit.rules[0].if.op: unknown operator 'contain' (did you mean 'contains'?)"
    ]


def test_unknown_key_is_an_error_not_ignored() -> None:
    text = BASE + "  sal: {accept_within_hourz: 2}\n"
    [msg] = problems(text)
    assert msg.startswith("playbook.yaml:10: stages.sal.accept_within_hourz: unknown key")
    assert "did you mean 'accept_within_hours'" in msg


def test_wrong_type_bad_regex_and_impossible_threshold_are_all_reported() -> None:
    text = (
        "name: t\n"
        "fit:\n"
        "  rules:\n"
        "    - {name: a, if: {field: t, op: matches, value: '([a-'}, points: 5}\n"
        "    - {name: b, if: {field: s, op: gt, value: 10}, points: many}\n"
        "  grades: {A: 10, B: 30, C: 5}\n"
        "stages: {mql: {hand_raisers: [demo_request]}}\n"
    )
    msgs = problems(text)
    assert any(
        m.startswith("playbook.yaml:4: fit.rules[0].if: bad regular expression") for m in msgs
    )
    assert any(m.startswith("playbook.yaml:5: fit.rules[1].points:") for m in msgs)
    assert any("playbook.yaml:6: fit.grades: impossible thresholds" in m for m in msgs)


def test_malformed_yaml_names_the_line() -> None:
    [msg] = problems("name: t\nfit:\n  rules: [\n")
    assert msg.startswith("playbook.yaml:4: malformed YAML")


def test_duplicate_keys_are_refused() -> None:
    [msg] = problems("name: a\nname: b\nstages: {mql: {hand_raisers: [x]}}\n")
    assert "key appears twice (lines 1 and 2)" in msg


def test_mql_exit_above_mql_threshold_is_impossible() -> None:
    text = (
        "name: t\nstages:\n  mql: {when: {all: [{score: engagement, op: gte, value: 30}]}}\n"
        "  recycle: {mql_exit_engagement: 40}\n"
    )
    [msg] = problems(text)
    assert "impossible threshold" in msg


def test_score_conditions_are_refused_in_fit_rules() -> None:
    text = BASE.replace(
        '{field: job_title, op: matches, value: "(?i)vp"}', "{score: fit, op: gt, value: 1}"
    )
    [msg] = problems(text)
    assert "rules test fields and properties, not scores" in msg


def test_unknown_event_type_is_a_warning_not_an_error() -> None:
    text = (
        BASE
        + "engagement:\n  known_events: [webinar_attended, demo_request]\n  rules:\n    - {event: webinr_attended, points: 5}\n"
    )
    pb = load_playbook(text)
    [w] = pb.warnings()
    assert "webinr_attended" in w and "did you mean 'webinar_attended'" in w


def test_json_schema_is_exported_for_editors() -> None:
    schema = Playbook.model_json_schema(by_alias=True)
    assert "fit" in schema["properties"]
    json.dumps(schema)


def test_stage_names_in_the_playbook_ignore_case() -> None:
    from leadgate.lifecycle.stages import allowed_targets

    text = BASE + (
        "  allow_skip: [{from: Lead, to: SQL}]\n"
        "  reasons: {Nurture: [not now], DISQUALIFIED: [spam]}\n"
    )
    pb = load_playbook(text, "case.yaml")
    assert (pb.stages.allow_skip[0].from_, pb.stages.allow_skip[0].to) == ("lead", "sql")
    assert pb.stages.reasons == {"nurture": ["not now"], "disqualified": ["spam"]}
    assert "sql" in allowed_targets("lead", pb)
    twice = BASE + "  reasons: {nurture: [a], Nurture: [b]}\n"
    assert any("listed twice" in p for p in problems(twice))
