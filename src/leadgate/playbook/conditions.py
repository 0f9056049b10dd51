"""Compile playbook conditions into plain Python predicates (no eval, ever).

Semantics, shared with the SQL compiler (DuckDB, PostgreSQL, Spark: see
`leadgate.analytics.sqlcompile`) so batch and real-time agree:
- A missing or empty field makes every test false, except `exists: false`.
  (`not` of a false test is true: `not` is applied after that rule.)
- Strings compare without regard to case for eq, ne, in, not_in and contains.
- Numbers: gt/gte/lt/lte/between (and eq/in against a number) compare numbers; a value
  that is not a number is false. A JSON number is a number; a string is one when, once
  stripped of spaces and commas, it is written in ASCII: optional sign, digits 0-9 (with
  `_` between digits), optional fraction and exponent, or inf/infinity ("1,200", "-1e3",
  "1_000"). "１２３" (fullwidth) and "١٢٣" (Arabic-Indic) are not numbers, though
  Python's float() reads them; neither is "nan". Beyond the double range, text reads
  as float() rounds it: "1e400" is inf, "1e-400" is 0.
- The text of a value, which `contains` and `matches` read: a string as it is, a
  boolean as True / False, a whole number (|n| < 2^53) as its digits (1200 and 1200.0
  are "1200", -3 is "-3"). Other numbers (5.5, 1e20) and objects have no text: both
  tests are false on them. `contains` on a list is true when an item's text, stripped,
  equals the value's text (case ignored); `matches` on a list is false. The value of
  `contains` is read the same way (`contains: 20` and `contains: 20.0` look for "20").
- `matches` is a regular-expression search in the portable subset of
  `leadgate.playbook.regex` (refused by `playbook check` otherwise): ASCII `\\d \\w \\s \\b`,
  `$` only at the very end, `.` anything but a newline, `(?i)` only at the start and
  folding the pattern's letters only — the same answer in Python and every SQL engine.
- On `email_domain` and `email`, a text value is compared in each spelling of the domain
  it names (`xn--bcher-kva.de` and `bücher.de`; `.xn--p1ai` and `.рф` for `contains`):
  stored addresses spell domains in Unicode (`leadgate.playbook.domains`). `matches`
  takes its pattern as written: it tests the Unicode spelling.

Example:
    >>> test = compile_field(FieldCondition(field="size", op="contains", value=20))
    >>> test({"size": 1200}), test({"size": 5.5}), as_number("１２３")
    (True, False, None)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from leadgate.playbook.domains import DOMAIN_FIELDS, field_spellings
from leadgate.playbook.model import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    NotCondition,
    ScoreCondition,
)
from leadgate.playbook.regex import compile_python

Scores = Mapping[str, float | None]
Predicate = Callable[[Mapping[str, Any], Scores], bool]

_TRUE = {"true", "yes", "1", "y", "t"}
# The number grammar, ASCII only (the SQL compiler tests the same expressions).
NUMBER_RX = r"^[+-]?(([0-9](_?[0-9])*)(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?$"  # noqa: E501
INF_RX = r"^[+-]?(inf|infinity)$"
_NUMBER = re.compile(NUMBER_RX.replace("$", "\\Z"), re.ASCII)
_INF = re.compile(INF_RX.replace("$", "\\Z"), re.ASCII)
_WHOLE = 2.0**53


def as_number(v: Any) -> float | None:
    """A number from an attribute value, or None when it is not one (see module doc)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        text = v.strip().replace(",", "")
        if _NUMBER.match(text) or _INF.match(text.lower()):
            return float(text)
    return None


def text_of(v: Any) -> str | None:
    """The text `contains` and `matches` read (see module doc); None when it has none."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int | float):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if float(v) == math.floor(v) and abs(v) < _WHOLE:
            return str(int(v))
    return None


def _is_empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _norm(v: Any) -> Any:
    """Comparable form: numbers as floats, booleans as bools, text case-folded."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return float(v)
    return str(v).strip().casefold()


def _equals(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool):
        if isinstance(actual, bool):
            return actual is expected
        return (str(actual).strip().casefold() in _TRUE) is expected
    if isinstance(expected, int | float):
        n = as_number(actual)
        return n is not None and n == float(expected)
    return bool(_norm(actual) == _norm(expected))


def _member_test(options: list[Any]) -> Callable[[Any], bool]:
    """Whether a value equals any option, by the module's rules, in O(1) for text and numbers.

    Fit rules run for every lead on every change, so the common `in [list]` test must not
    loop over the list comparing one option at a time.
    """
    texts = {str(o).strip().casefold() for o in options if isinstance(o, str)}
    numbers = {float(o) for o in options if isinstance(o, int | float) and not isinstance(o, bool)}
    bools = [o for o in options if isinstance(o, bool)]

    def test(v: Any) -> bool:
        if texts and isinstance(v, str) and v.strip().casefold() in texts:
            return True
        if numbers:
            n = as_number(v)
            if n is not None and n in numbers:
                return True
        if texts and not isinstance(v, str) and _norm(v) in texts:
            return True
        return any(_equals(v, b) for b in bools)

    return test


def compile_field(cond: FieldCondition) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate over a mapping of fields (lead attributes or event properties)."""
    name, op, value = cond.field, cond.op, cond.value

    if op == "exists":
        want = bool(value)
        return lambda d: (not _is_empty(d.get(name))) is want

    def guard(test: Callable[[Any], bool]) -> Callable[[Mapping[str, Any]], bool]:
        # `_is_empty` inline: these run for every scored event and every fit rule.
        def run(d: Mapping[str, Any]) -> bool:
            v = d.get(name)
            if v is None or (isinstance(v, str) and not v.strip()):
                return False
            return test(v)

        return run

    if op in ("eq", "ne", "in", "not_in"):
        member = _member_test(compared_values(cond))
        if op in ("eq", "in"):
            return guard(member)
        return guard(lambda v: not member(v))
    if op == "contains":
        tests = [_contains(name, n) for n in contains_needles(cond)]
        if len(tests) == 1:
            return tests[0]
        return lambda d: any(t(d) for t in tests)
    if op == "matches":
        rx = compile_python(str(value))

        search = rx.search

        def run_matches(d: Mapping[str, Any]) -> bool:
            # `guard` and the test in one call: a fit rule runs for every lead.
            v = d.get(name)
            if type(v) is str:
                return bool(v.strip()) and search(v) is not None
            if v is None or (isinstance(v, str) and not v.strip()):
                return False
            t = text_of(v)
            return t is not None and search(t) is not None

        return run_matches
    return guard(_numeric(op, value))


def compared_values(cond: FieldCondition) -> list[Any]:
    """The options eq/ne/in/not_in compare with (the one value of eq/ne, the list of
    in/not_in), each text in every spelling of the domain it names on a field that holds
    one (module doc). The SQL compiler compares with the same."""
    values = list(cond.value) if cond.op in ("in", "not_in") else [cond.value]
    if cond.field not in DOMAIN_FIELDS:
        return values
    return [
        s for v in values for s in (field_spellings(cond.field, v) if isinstance(v, str) else [v])
    ]


def contains_needles(cond: FieldCondition) -> list[str]:
    """The case-folded texts `contains` looks for: the value's text, and on a field that
    holds a domain its other spellings (module doc). The SQL compiler looks for the same."""
    text = text_of(cond.value) or str(cond.value)
    if cond.field not in DOMAIN_FIELDS or not isinstance(cond.value, str):
        return [text.casefold()]
    return list(dict.fromkeys(t.casefold() for t in field_spellings(cond.field, text)))


def _contains(name: str, needle: str) -> Callable[[Mapping[str, Any]], bool]:
    """`contains` of one case-folded needle (see the module doc)."""

    def item(x: Any) -> bool:
        t = text_of(x)
        return t is not None and t.strip().casefold() == needle

    def contains(v: Any) -> bool:
        if type(v) is str:  # nearly always (a URL, a title): no further checks
            return needle in v.casefold()
        if isinstance(v, list | tuple | set):
            return any(item(x) for x in v)
        t = text_of(v)
        return t is not None and needle in t.casefold()

    def run_contains(d: Mapping[str, Any]) -> bool:
        # `guard(contains)` in one call for the common case, a non-empty string.
        v = d.get(name)
        if type(v) is str:
            return bool(v.strip()) and needle in v.casefold()
        if v is None or (isinstance(v, str) and not v.strip()):
            return False
        return contains(v)

    return run_contains


def _numeric(op: str, value: Any) -> Callable[[Any], bool]:
    # A float is its own number (`as_number` would return it as it is): scores always
    # are, and they are tested at every event of a lead that may become an MQL.
    if op == "between":
        lo, hi = float(value[0]), float(value[1])

        def between(v: Any) -> bool:
            n = v if type(v) is float else as_number(v)
            return n is not None and lo <= n <= hi

        return between
    target = float(value)
    cmp: Callable[[float, float], bool] = {
        "gt": operator.gt,
        "gte": operator.ge,
        "lt": operator.lt,
        "lte": operator.le,
        "eq": operator.eq,
        "ne": operator.ne,
    }[op]

    def numeric(v: Any) -> bool:
        n = v if type(v) is float else as_number(v)
        return n is not None and cmp(n, target)

    return numeric


def compile_condition(cond: Condition) -> Predicate:
    """A predicate over (fields, scores). Score names: fit, engagement, total, predicted."""
    if isinstance(cond, FieldCondition):
        f = compile_field(cond)
        return lambda d, s: f(d)
    if isinstance(cond, ScoreCondition):
        test = _numeric(cond.op, cond.value)
        key = cond.score

        def score_test(d: Mapping[str, Any], s: Scores) -> bool:
            v = s.get(key)
            if v is None:
                return False
            return test(v)

        return score_test
    if isinstance(cond, AllCondition):
        parts = tuple(compile_condition(c) for c in cond.all)

        def all_(d: Mapping[str, Any], s: Scores) -> bool:
            # A loop, not all() over a generator: no generator built per call.
            for p in parts:  # noqa: SIM110
                if not p(d, s):
                    return False
            return True

        return all_
    if isinstance(cond, AnyCondition):
        parts = tuple(compile_condition(c) for c in cond.any)

        def any_(d: Mapping[str, Any], s: Scores) -> bool:
            for p in parts:  # noqa: SIM110 (as in all_)
                if p(d, s):
                    return True
            return False

        return any_
    if isinstance(cond, NotCondition):
        inner = compile_condition(cond.not_)
        return lambda d, s: not inner(d, s)
    raise TypeError(f"not a condition: {cond!r}")  # pragma: no cover


def uses_scores(cond: Condition | None) -> set[str]:
    """Which scores a condition reads (the MQL rule may read fit, engagement, total...)."""
    if cond is None or isinstance(cond, FieldCondition):
        return set()
    if isinstance(cond, ScoreCondition):
        return {cond.score}
    if isinstance(cond, AllCondition | AnyCondition):
        out: set[str] = set()
        for c in cond.all if isinstance(cond, AllCondition) else cond.any:
            out |= uses_scores(c)
        return out
    return uses_scores(cond.not_)


Tri = Callable[[Mapping[str, Any] | None, float | None, float], bool | None]


def compile_tri(cond: Condition) -> Tri:
    """Kleene evaluation of an MQL rule with engagement unknown, compiled once per rule.

    The function takes (fields, fit, eng_max) and answers True, False or None (it
    depends). `fields` and `fit` may be None too (not computed yet): a test on them is
    then unknown, so a False found without them stays False once they are known.
    `eng_max` bounds the engagement the lead can ever have: a `gt`/`gte` test on
    engagement (or total) above the bound is False whatever the history.
    """
    if isinstance(cond, FieldCondition):
        test = compile_field(cond)
        return lambda fields, fit, eng_max: None if fields is None else test(fields)
    if isinstance(cond, ScoreCondition):
        if cond.score == "fit":
            pred = compile_condition(cond)
            return lambda fields, fit, eng_max: (
                None if fields is None or fit is None else pred(fields, {"fit": fit})
            )
        if (
            cond.score in ("engagement", "total")
            and cond.op in ("gt", "gte")
            and isinstance(cond.value, int | float)
        ):
            need, on_total = float(cond.value), cond.score == "total"

            def bounded(
                fields: Mapping[str, Any] | None, fit: float | None, eng_max: float
            ) -> bool | None:
                # The engine checks scores rounded to cents (engagement, then the total of
                # fit and engagement), and rounding never lowers the largest of them: the
                # bound is rounded the same way (1.875 of engagement shows as 1.88).
                top = round(eng_max, 2)
                if on_total:
                    if fit is None:
                        return None
                    top = round(fit + top, 2)
                return False if top < need else None

            return bounded
        return lambda fields, fit, eng_max: None
    if isinstance(cond, AllCondition):
        return _kleene([compile_tri(c) for c in cond.all], decisive=False)
    if isinstance(cond, AnyCondition):
        return _kleene([compile_tri(c) for c in cond.any], decisive=True)
    if isinstance(cond, NotCondition):
        inner = compile_tri(cond.not_)

        def not_(
            fields: Mapping[str, Any] | None, fit: float | None, eng_max: float
        ) -> bool | None:
            v = inner(fields, fit, eng_max)
            return None if v is None else not v

        return not_
    raise TypeError(cond)  # pragma: no cover


def _kleene(parts: list[Tri], decisive: bool) -> Tri:
    """`all` (decisive False) or `any` (decisive True) of three-valued parts: one
    decisive part decides; otherwise any unknown part leaves the whole unknown."""

    def combined(
        fields: Mapping[str, Any] | None, fit: float | None, eng_max: float
    ) -> bool | None:
        unknown = False
        for part in parts:
            v = part(fields, fit, eng_max)
            if v is decisive:
                return decisive
            unknown = unknown or v is None
        return None if unknown else not decisive

    return combined
