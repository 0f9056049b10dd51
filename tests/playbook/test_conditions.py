"""The condition rules where Python once disagreed with SQL: numbers, text, regexes.

The cross-engine half (the same answers in DuckDB, PostgreSQL and Spark) is
tests/analytics/test_sql_semantics.py and test_regex_equivalence.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.playbook.conditions import as_number, compile_field, text_of
from leadgate.playbook.loader import PlaybookError, load_playbook
from leadgate.playbook.model import FieldCondition
from leadgate.playbook.regex import RegexError, to_dialect

PLAYBOOK = """\
name: t
fit:
  rules:
    - name: ok
      if: {{field: job_title, op: matches, value: "(?i)\\\\bvp\\\\b"}}
      points: 10
    - name: odd
      if: {{field: job_title, op: matches, value: '{pattern}'}}
      points: 20
stages:
  mql:
    hand_raisers: [demo_request]
"""


@pytest.mark.parametrize(
    "text", ["１２３", "١٢٣", "12３", "۱۲۳", "nan", "NaN", " 5 5", "1__0", "_1", "0x10", ""]
)
def test_only_ascii_numbers_are_numbers(text: str) -> None:
    assert as_number(text) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [("123", 123.0), (" 1,200 ", 1200.0), ("1_000", 1000.0), ("-1e3", -1000.0), (".5", 0.5)],
)
def test_ascii_numbers_are_read(text: str, number: float) -> None:
    assert as_number(text) == number


def test_infinity_is_a_number() -> None:
    assert as_number("-Infinity") == float("-inf") and as_number("inf") == float("inf")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x", "x"),
        (True, "True"),
        (1200, "1200"),
        (1200.0, "1200"),
        (-0.0, "0"),
        (-3, "-3"),
        (5.5, None),
        (1e20, None),
        (2**53, None),
        (float("inf"), None),
        ({"a": 1}, None),
        (["a"], None),
    ],
)
def test_text_of(value: object, text: str | None) -> None:
    assert text_of(value) == text


def _test(op: str, value: object) -> object:
    return compile_field(FieldCondition(field="f", op=op, value=value))


def test_contains_reads_a_whole_numbers_digits() -> None:
    for needle in ("20", 20, 20.0):
        assert _test("contains", needle)({"f": 1200})
    assert not _test("contains", ".")({"f": 1200.0})
    assert not _test("contains", "5")({"f": 5.5})
    assert not _test("contains", "a")({"f": {"a": 1}})
    assert _test("contains", 5)({"f": [5.0, "x"]})


def test_matches_is_the_portable_meaning() -> None:
    assert not _test("matches", "^vp$")({"f": "vp\n"})  # $: the very end
    assert not _test("matches", "\\d")({"f": "١٢٣"})  # \d: ASCII
    assert not _test("matches", "(?i)k")({"f": "\u212a"})  # the pattern's letters fold
    assert _test("matches", "(?i)é")({"f": "É"})
    assert _test("matches", "x\\b")({"f": "xé"})  # \b: ASCII word characters
    assert _test("matches", "^a.b$")({"f": "a\rb"}) and not _test("matches", "a.b")({"f": "a\nb"})
    assert not _test("matches", "1")({"f": 1.5})


REFUSED = {
    "(?=x)": "lookahead",
    "(?!x)": "lookahead",
    "(?<=x)y": "lookbehind",
    "(?<!x)y": "lookbehind",
    "(a)\\1": "backreference",
    "a*+": "possessive",
    "a++": "possessive",
    "(?>a)": "atomic",
    "x(?i)y": "only (?i), at the very start",
    "(?m)^a": "only (?i), at the very start",
    "(?s).": "only (?i), at the very start",
    "(?i:a)": "only (?i), at the very start",
    "(?P<n>a)": "named group",
    "\\p{L}": "Unicode property",
    "[[:alpha:]]": "inside a class",
    "[a&&b]": "set operation",
    "a{256}": "above 255",
    "a{1,300}": "above 255",
    "a{x}": "not a repeat count",
    "[]a]": "']' first",
    "a|": "empty alternative",
    "\\Gx": "escape \\G",
    "[\\W]": "inside [...]",
    "\\z": "escape \\z",
}


@pytest.mark.parametrize(("pattern", "why"), REFUSED.items())
def test_unportable_regexes_are_refused_with_the_reason(pattern: str, why: str) -> None:
    with pytest.raises(RegexError, match=re.escape(why)):
        to_dialect(pattern, "python")


@pytest.mark.parametrize("pattern", ["(?=x)", "(a)\\1", "a*+", "x(?i)y", "[]a]", "\\p{L}"])
def test_playbook_check_names_file_line_and_reason(pattern: str) -> None:
    with pytest.raises(PlaybookError) as exc:
        load_playbook(PLAYBOOK.format(pattern=pattern), "pb.yaml")
    (problem,) = exc.value.problems
    assert problem.line == 8, str(problem)
    assert str(problem).startswith("pb.yaml:8: fit.rules[1].if: bad regular expression")


def test_cli_playbook_check_refuses_a_lookahead(tmp_path: Path) -> None:
    path = tmp_path / "pb.yaml"
    path.write_text(PLAYBOOK.format(pattern="^(?!test)"))
    out = CliRunner().invoke(app, ["playbook", "check", str(path)])
    assert out.exit_code == 2
    assert f"{path}:8" in out.output and "lookahead" in out.output


def test_portable_regexes_are_accepted() -> None:
    load_playbook(PLAYBOOK.format(pattern="^(?:a|b){2,3}[\\w.+-]+@\\S+\\.[a-z]{2,}$"), "pb.yaml")


def test_blank_text_fails_contains_and_matches_even_when_the_needle_is_blank() -> None:
    # The one-call fast paths of contains and matches (stop 16) keep the empty-field rule.
    class Text(str):
        pass

    for v in ("   ", "", Text("  ")):
        assert not _test("contains", " ")({"f": v})
        assert not _test("matches", " ")({"f": v})
        assert not _test("matches", ".*")({"f": v})
    assert _test("contains", " ")({"f": Text("a b")})
    assert _test("matches", "a b")({"f": Text("a b")})
    assert _test("gte", 1)({"f": 1.0}) and not _test("gte", 1)({"f": float("nan")})
    assert _test("between", [1, 2])({"f": "1.5"}) and not _test("between", [1, 2])({"f": " "})
