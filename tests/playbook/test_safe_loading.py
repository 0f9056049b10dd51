"""Hostile playbooks: each is refused with file:line, quickly, and never crashes the loader.

Issue 13: an alias bomb, YAML 1.1 booleans ("the Norway problem"), NaN and infinity,
deep nesting, huge numbers, exotic tags.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leadgate.playbook.loader import MAX_BYTES, PlaybookError, load_playbook, load_playbook_file
from leadgate.playbook.model import FieldCondition

MQL = "stages: {mql: {hand_raisers: [demo_request]}}\n"


def problems(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as exc:
        load_playbook(text, "pb.yaml")
    return [str(p) for p in exc.value.problems]


def one(text: str) -> str:
    msgs = problems(text)
    assert len(msgs) == 1, msgs
    return msgs[0]


# -- item 1: alias bomb, size, depth ---------------------------------------------------


def test_alias_bomb_is_refused_at_the_first_alias() -> None:
    # Billion laughs: 9 levels of 9 aliases expand to 9**9 (~387 million) strings.
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join(f"*a{i - 1}" for _ in range(9))
        lines.append(f"a{i}: &a{i} [{refs}]")
    text = "name: t\n" + "\n".join(lines) + "\n" + MQL
    msg = one(text)
    assert msg.startswith("pb.yaml:3: ")
    assert "alias" in msg


def test_a_single_alias_is_refused_with_its_line() -> None:
    text = (
        "name: t\nfit:\n  rules:\n"
        "    - {name: a, if: &c {field: country, op: eq, value: SE}, points: 5}\n"
        "    - {name: b, if: *c, points: 5}\n" + MQL
    )
    msg = one(text)
    assert msg.startswith("pb.yaml:5: ")
    assert "alias" in msg and "*c" in msg


def test_merge_key_alias_is_refused() -> None:
    text = "base: &b {x: 1}\nname: t\nfit: {<<: *b}\n" + MQL
    assert "alias" in one(text)


def test_oversized_document_is_refused_before_parsing() -> None:
    text = "name: t\n" + MQL + "# " + "x" * MAX_BYTES + "\n"
    msg = one(text)
    assert msg.startswith("pb.yaml: ")
    assert "too large" in msg


def test_deep_nesting_is_refused_with_its_line() -> None:
    text = "name: t\ndescription: " + "[" * 5000 + "]" * 5000 + "\n" + MQL
    msg = one(text)
    assert msg.startswith("pb.yaml:2: ")
    assert "nested" in msg


def test_deep_condition_nesting_is_refused_not_a_recursion_error() -> None:
    cond = "{field: country, op: eq, value: SE}"
    for _ in range(300):
        cond = "{not: " + cond + "}"
    text = f"name: t\nfit:\n  rules:\n    - {{name: a, if: {cond}, points: 5}}\n" + MQL
    assert "nested" in one(text)


def test_explicit_python_or_unknown_tags_are_refused() -> None:
    for tag in ("!!python/object/apply:os.system ['true']", "!custom x", "!!timestamp 2024-13-45"):
        msg = one(f"name: t\ndescription: {tag}\n" + MQL)
        assert msg.startswith("pb.yaml:2: "), msg
        assert "tag" in msg


def test_complex_keys_are_refused_not_a_type_error() -> None:
    msg = one("name: t\n? [a, b]\n: 1\n" + MQL)
    assert msg.startswith("pb.yaml:2: ")


def test_huge_integer_is_refused_with_its_field() -> None:
    text = "name: t\nengagement:\n  rules:\n    - {event: x, points: 5, max_per_lead: 9" + (
        "9" * 5000 + "}\n" + MQL
    )
    msg = one(text)
    assert msg.startswith("pb.yaml:4: ")
    assert "too large" in msg


def test_surrogates_and_control_characters_are_refused() -> None:
    assert "pb.yaml" in one("name: t\ud800\n" + MQL)
    assert "pb.yaml" in one("name: t\x00\n" + MQL)


def test_a_file_of_many_documents_is_refused() -> None:
    assert "one YAML document" in one("name: t\n" + MQL + "---\nname: u\n")


def test_a_line_break_in_a_key_or_value_does_not_split_the_message() -> None:
    text = 'name: t\nfit:\n  rules:\n    - {name: a, if: {field: c, op: "x\\ny", value: 1}, points: 5}\n'
    msg = one(text + MQL)
    assert msg.startswith("pb.yaml:4: fit.rules[0].if.op: unknown operator 'x\\ny' (operators:")
    assert "\n" not in msg


def test_a_huge_value_is_not_echoed_whole() -> None:
    op = "k" * 100_000
    text = f"name: t\nfit:\n  rules:\n    - {{name: a, if: {{field: c, op: {op}, value: 1}}, points: 5}}\n"
    msg = one(text + MQL)
    assert msg.startswith("pb.yaml:4: fit.rules[0].if.op: unknown operator 'kkk")
    assert len(msg) < 600 and msg.endswith("...")


# -- item 2: YAML 1.2 core schema --------------------------------------------------------


def _country_rule(values: str) -> str:
    return (
        "name: t\nfit:\n  rules:\n"
        f"    - {{name: nordics, if: {{field: country, op: in, value: {values}}}, points: 5}}\n"
        + MQL
    )


def test_norway_stays_a_country() -> None:
    pb = load_playbook(_country_rule("[SE, DK, NO, FI]"))
    cond = pb.fit.rules[0].if_
    assert isinstance(cond, FieldCondition)
    assert cond.value == ["SE", "DK", "NO", "FI"]


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "Off", "Y"])
def test_yaml_11_booleans_are_text(word: str) -> None:
    pb = load_playbook(f"name: t\ndescription: {word}\n" + MQL)
    assert pb.description == word


def test_only_true_and_false_are_booleans() -> None:
    pb = load_playbook("name: t\nengagement: {adjustments: {decay: true}}\n" + MQL)
    assert pb.engagement.adjustments.decay is True
    msg = one("name: t\nengagement: {adjustments: {decay: yes}}\n" + MQL)
    assert msg.startswith("pb.yaml:2: engagement.adjustments.decay:")


def test_yaml_11_octal_and_sexagesimal_are_not_numbers_of_another_base() -> None:
    text = "name: t\nfit:\n  rules:\n    - {name: a, if: {field: zip, op: eq, value: 0755}, points: 5}\n"
    pb = load_playbook(text + MQL)
    cond = pb.fit.rules[0].if_
    assert isinstance(cond, FieldCondition)
    assert cond.value == 755  # YAML 1.2: decimal, not octal 493
    text = (
        "name: t\nfit:\n  rules:\n    - {name: a, if: {field: t, op: eq, value: 1:30}, points: 5}\n"
    )
    pb = load_playbook(text + MQL)
    assert pb.fit.rules[0].if_.value == "1:30"  # type: ignore[union-attr]


def test_exists_with_a_yaml_11_boolean_is_an_error_with_its_line() -> None:
    text = "name: t\nfit:\n  rules:\n    - {name: a, if: {field: phone, op: exists, value: yes}, points: 5}\n"
    msg = one(text + MQL)
    assert msg.startswith("pb.yaml:4: fit.rules[0].if")
    assert "true or false" in msg


@pytest.mark.parametrize(
    ("op", "value", "needs"),
    [
        ("in", "[SE, [DK]]", "text, numbers or true/false"),
        ("in", "[SE, null]", "text, numbers or true/false"),
        ("in", "[SE, {a: 1}]", "text, numbers or true/false"),
        ("eq", "[SE, DK]", "one value"),
        ("ne", "{a: 1}", "one value"),
        ("contains", "true", "text or a number"),
    ],
)
def test_condition_value_of_the_wrong_type_is_an_error_with_its_line(
    op: str, value: str, needs: str
) -> None:
    text = f"name: t\nfit:\n  rules:\n    - {{name: a, if: {{field: c, op: {op}, value: {value}}}, points: 5}}\n"
    msg = one(text + MQL)
    assert msg.startswith("pb.yaml:4: fit.rules[0].if"), msg
    assert needs in msg


# -- item 3: NaN and infinity --------------------------------------------------------------


@pytest.mark.parametrize(
    ("snippet", "line", "path"),
    [
        (
            "fit:\n  rules:\n    - {name: a, if: {field: c, op: eq, value: x}, points: .nan}\n",
            4,
            "fit.rules[0].points",
        ),
        (
            "fit:\n  rules:\n    - {name: a, if: {field: c, op: eq, value: x}, points: .inf}\n",
            4,
            "fit.rules[0].points",
        ),
        (
            "fit:\n  rules:\n    - {name: a, if: {field: c, op: eq, value: x}, points: -.inf}\n",
            4,
            "fit.rules[0].points",
        ),
        (
            "fit:\n  rules:\n    - {name: a, if: {field: c, op: eq, value: x}, points: nan}\n",
            4,
            "fit.rules[0].points",
        ),
        (
            "fit:\n  rules:\n    - {name: a, if: {field: c, op: eq, value: x}, points: 1e400}\n",
            4,
            "fit.rules[0].points",
        ),
        (
            "fit:\n  rules:\n    - {name: a, if: {field: c, op: eq, value: x}, points: 1e300}\n",
            4,
            "fit.rules[0].points",
        ),
        ("engagement:\n  half_life_days: .inf\n", 3, "engagement.half_life_days"),
        ("fit:\n  grades: {A: .inf, B: 30, C: 10}\n", 3, "fit.grades"),
        (
            "fit:\n  rules:\n    - {name: a, if: {field: c, op: gt, value: .nan}, points: 5}\n",
            4,
            "fit.rules[0].if",
        ),
        (
            "fit:\n  rules:\n    - {name: a, if: {field: c, op: between, value: [0, .inf]}, points: 5}\n",
            4,
            "fit.rules[0].if",
        ),
        (
            "fit:\n  rules:\n    - {name: a, if: {field: c, op: in, value: [1, .nan]}, points: 5}\n",
            4,
            "fit.rules[0].if",
        ),
        (
            "engagement:\n  rules:\n    - {event: x, points: 5, max_per_days: {count: 1, days: .inf}}\n",
            4,
            "engagement.rules[0].max_per_days.days",
        ),
        (
            "routing:\n  pools:\n    - {name: p, reps: [a], weights: {a: .nan}}\n",
            4,
            "routing.pools[0].weights",
        ),
        (
            "stages:\n  sal: {accept_within_hours: .inf}\n  mql: {hand_raisers: [x]}\n",
            3,
            "stages.sal.accept_within_hours",
        ),
    ],
)
def test_non_finite_numbers_are_refused_everywhere(snippet: str, line: int, path: str) -> None:
    text = "name: t\n" + snippet
    if "mql:" not in snippet:
        text += MQL
    msg = one(text)
    assert msg.startswith(f"pb.yaml:{line}: {path}"), msg
    assert "finite" in msg or "too large" in msg, msg


def test_a_file_is_read_no_further_than_the_size_limit(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="too large"):
        load_playbook_file("/dev/zero")  # endless: reading it whole would never finish
    big = tmp_path / "big.yaml"
    big.write_text("name: t\n" + MQL + "#" * (MAX_BYTES + 10) + "\n")
    with pytest.raises(PlaybookError, match="too large"):
        load_playbook_file(big)
