"""A bad `forms:` section is refused at load time, each error at file:line: field."""

from __future__ import annotations

import pytest

from leadgate.playbook.loader import PlaybookError, load_playbook

from .conftest import playbook_text

BASE = """forms:
  demo:
    steps:
      - fields:
          - {name: email, type: email, required: true}
"""


def problems(forms_yaml: str) -> list[str]:
    with pytest.raises(PlaybookError) as err:
        load_playbook(playbook_text(forms_yaml), "pb.yaml")
    return [str(p) for p in err.value.problems]


def line_of(text: str, needle: str) -> int:
    lines = text.splitlines()
    start = lines.index("forms:")
    return next(i for i, line in enumerate(lines[start:], start + 1) if needle in line)


def test_the_smallest_form_loads() -> None:
    pb = load_playbook(playbook_text(BASE))
    assert list(pb.forms) == ["demo"]


@pytest.mark.parametrize(
    ("extra", "needle", "says"),
    [
        ("          - {name: size, type: select}\n", "name: size", "needs its options"),
        ("          - {name: email2, type: email}\n", "steps:", "exactly one email field"),
        ("          - {name: x, type: radio}\n", "name: x", "Input should be"),
        (
            "          - {name: ok, type: consent}\n",
            "name: ok",
            "needs its text and version",
        ),
        (
            "          - {name: b, type: select, options: [yes, no], "
            "qualification: {criterion: budgett, answers: {yes: met}}}\n",
            "name: b",
            "not a criterion of bant",
        ),
        (
            "          - {name: c, type: text, show_if: {field: d, op: eq, value: 1}}\n"
            "          - {name: d, type: text}\n",
            "name: c",
            "comes at or after this field",
        ),
    ],
)
def test_bad_fields_are_located(extra: str, needle: str, says: str) -> None:
    text = playbook_text(BASE + extra)
    found = problems(BASE + extra)
    assert any(says in p for p in found), found
    assert any(f"pb.yaml:{line_of(text, needle)}:" in p for p in found), found


def test_hand_raiser_must_be_one_of_the_playbook() -> None:
    found = problems(BASE.replace("    steps:", "    hand_raiser: webinar\n    steps:"))
    assert any("forms.demo.hand_raiser" in p and "hand_raisers" in p for p in found), found


def test_a_step_cannot_read_a_later_answer() -> None:
    yaml = BASE + (
        "      - show_if: {field: later, op: eq, value: x}\n"
        "        fields:\n"
        "          - {name: later, type: text}\n"
    )
    found = problems(yaml)
    assert any("steps[1].show_if" in p and "earlier answers only" in p for p in found), found


def test_origins_are_origins() -> None:
    found = problems(
        BASE.replace("    steps:", "    allowed_origins: [https://a.com/path]\n    steps:")
    )
    assert any("allowed_origins" in p and "scheme://host" in p for p in found), found
