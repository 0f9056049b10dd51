"""Playbook conditions as SQL: field access (JSON kind and text) and the condition tests.

The tests mean exactly what `leadgate.playbook.conditions` means (numbers from ASCII
digits, the text of a value, portable regexes, blanks test false), written with LG_*
placeholders that `leadgate.analytics.sqldialect` spells per engine.

Example:
    >>> from leadgate.playbook.model import FieldCondition
    >>> sql = field_sql(FieldCondition(field="url", op="contains", value="/pricing"),
    ...                 lambda k: json_value("p", k))
    >>> "STRPOS" in sql and "LG_TEXT(p, 'url')" in sql
    True
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from leadgate.analytics.sqldialect import _json_path, dbl, lit
from leadgate.playbook.conditions import compared_values, contains_needles, text_of
from leadgate.playbook.model import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    NotCondition,
    ScoreCondition,
)

_TRUE = ("true", "yes", "1", "y", "t")


@dataclass(frozen=True)
class Value:
    """A field as SQL sees it: its JSON kind and its text.

    kind is one of 'missing', 'null', 'string', 'number', 'boolean', 'array', 'object'.
    """

    kind: str
    text: str
    array_of: str | None = None  # (doc, key) placeholder args, for `contains` on arrays
    # Columns holding what conditions derive from kind and text, when a stage computed
    # them once (`StagedColumns`): as_number, text_of, the lower-cased stripped text,
    # and blankness. None: written out at every use.
    number: str | None = None
    text_of: str | None = None
    norm: str | None = None
    empty: str | None = None


def json_value(doc: str, key: str) -> Value:
    """A key of a JSON text column."""
    return Value(f"LG_KIND({doc}, {lit(key)})", f"LG_TEXT({doc}, {lit(key)})", f"{doc}, {lit(key)}")


class Columns:
    """Fields read by conditions, each extracted once into a column pair (kind, text).

    Inlining the JSON access into every test parses the document a dozen times per row;
    a projection computed once (and materialized) parses it twice per field.
    """

    def __init__(
        self,
        doc: str,
        prefix: str,
        base: Callable[[str], Value] | None = None,
        lists: bool = False,
    ):
        self.doc, self.prefix = doc, prefix
        self.base = base or (lambda k: json_value(doc, k))
        self.keys: dict[str, int] = {}
        # lists=True: `contains` on arrays reads a projected list column too, so no
        # condition refers to the document itself (DuckDB only: LG_LIST_HAS).
        self.lists = lists
        self.list_keys: set[str] = set()

    def array_test(self, key: str, needle: str) -> str | None:
        """`contains` on an array field: via the projected list column when lists=True."""
        v = self.base(key)
        if not v.array_of:
            return None
        if not self.lists:
            return f"LG_ARRAY_HAS({v.array_of}, {needle})"
        self.list_keys.add(key)
        return f"LG_LIST_HAS({self.prefix}l{self.keys[key]}, {needle})"

    def __call__(self, key: str) -> Value:
        i = self.keys.setdefault(key, len(self.keys))
        v = self.base(key)
        return Value(f"{self.prefix}k{i}", f"{self.prefix}x{i}", v.array_of)

    def select(self) -> str:
        """The projection: `kind AS pk0, text AS px0, ...` (empty when no field is read)."""
        out = []
        for key, i in self.keys.items():
            v = self.base(key)
            out.append(f", {v.kind} AS {self.prefix}k{i}, {v.text} AS {self.prefix}x{i}")
            if key in self.list_keys and v.array_of:
                out.append(
                    f", (CASE WHEN {v.kind} = 'array' THEN LG_LIST({v.array_of}) END) "
                    f"AS {self.prefix}l{i}"
                )
        return "".join(out)

    def parse_once(self) -> tuple[str, str]:
        """(inner, outer) projections reading every field from one parse of the document.

        DuckDB only: the inner stage reads every key's JSON type name (`{prefix}jt`) and
        text (`{prefix}js`) as two lists, one parse of the document each; the outer one
        takes kind and text of each field from them, where `select()` would parse the
        document twice per field (and extracting the values as JSON first, then their
        kinds and texts, parsed each value again: ~25% more CPU on the fit).
        """
        if len(self.keys) < 2:
            return "", self.select()
        paths = ", ".join(lit(_json_path(k)) for k in self.keys)
        p = self.prefix
        inner = (
            f", JSON_TYPE({self.doc}, [{paths}]) AS {p}jt, "
            f"JSON_EXTRACT_STRING({self.doc}, [{paths}]) AS {p}js"
        )
        out = []
        for key, i in self.keys.items():
            kind = f"LG_TKIND({p}jt[{i + 1}])"
            out.append(f", {kind} AS {p}k{i}, {p}js[{i + 1}] AS {p}x{i}")
            v = self.base(key)
            if key in self.list_keys and v.array_of:
                out.append(
                    f", (CASE WHEN {kind} = 'array' THEN LG_LIST({v.array_of}) END) AS {p}l{i}"
                )
        return inner, "".join(out)


class StagedColumns(Columns):
    """Columns whose derived values (number, text_of, normalized text, blankness) are
    computed once per field in a stage of their own (`stage()`), and read by name.

    DuckDB's fit: the bundled playbook's rules wrote the same derivations out ~14
    times, and planning the copies cost ~0.14 CPU-s of every query (its fixed cost).
    """

    def __call__(self, key: str) -> Value:
        v = super().__call__(key)
        i, p = self.keys[key], self.prefix
        return replace(v, number=f"{p}n{i}", text_of=f"{p}t{i}", norm=f"{p}q{i}", empty=f"{p}e{i}")

    def stage(self, using: str) -> str:
        """`, number AS {p}n0, text_of AS {p}t0, ...` over the kind/text columns, for
        the derived columns that the SQL `using` reads (the others would cost planning)."""
        out = []
        p = self.prefix
        for i in self.keys.values():
            v = Value(f"{p}k{i}", f"{p}x{i}")
            for name, expr in (
                (f"{p}n{i}", _number(v)),
                (f"{p}t{i}", _text_of(v)),
                (f"{p}q{i}", _norm_text(v)),
                (f"{p}e{i}", _is_empty(v)),
            ):
                if re.search(rf"\b{name}\b", using):
                    out.append(f", {expr} AS {name}")
        return "".join(out)


def _is_empty(v: Value) -> str:
    if v.empty:
        return v.empty
    return f"({v.kind} IN ('missing', 'null') OR ({v.kind} = 'string' AND LG_BLANK({v.text})))"


def _number(v: Value) -> str:
    """as_number(): numbers as they are, text stripped and without commas, else NULL."""
    if v.number:
        return v.number
    return (
        f"(CASE WHEN {v.kind} = 'number' THEN CAST({v.text} AS DOUBLE) "
        f"WHEN {v.kind} = 'string' THEN LG_NUM(REPLACE(LG_TRIM({v.text}), ',', '')) END)"
    )


def _norm_text(v: Value) -> str:
    return v.norm or f"LOWER(LG_TRIM({v.text}))"


def _text_of(v: Value) -> str:
    """conditions.text_of: strings as they are, booleans True/False, whole numbers
    (|n| < 2^53) as their digits, anything else NULL. The digits are the engine's own
    BIGINT-to-text cast, never the JSON text, which engines spell differently (1.0,
    1e20, 1.50 kept as written by PostgreSQL)."""
    if v.text_of:
        return v.text_of
    n = f"CAST({v.text} AS DOUBLE)"
    small = f"ABS({n}) < {dbl(2.0**53)}"
    # FLOOR and the BIGINT cast only ever see a number in range: Spark's FLOOR returns a
    # BIGINT, and its ANSI mode fails the whole query on an overflow (1e20).
    safe = f"(CASE WHEN {small} THEN {n} ELSE {dbl(0)} END)"
    whole = (
        f"(CASE WHEN {small} AND {safe} = FLOOR({safe}) "
        f"THEN CAST(CAST({safe} AS BIGINT) AS VARCHAR) END)"
    )
    return (
        f"(CASE WHEN {v.kind} = 'string' THEN {v.text} WHEN {v.kind} = 'boolean' THEN "
        f"(CASE WHEN {v.text} = 'true' THEN 'True' ELSE 'False' END) "
        f"WHEN {v.kind} = 'number' THEN {whole} END)"
    )


def _true(x: str) -> str:
    return f"COALESCE({x}, FALSE)"


def _member(v: Value, options: list[object]) -> str:
    parts: list[str] = []
    texts = sorted({str(o).strip().casefold() for o in options if isinstance(o, str)})
    nums = sorted(
        {float(o) for o in options if isinstance(o, int | float) and not isinstance(o, bool)}
    )
    bools = [o for o in options if isinstance(o, bool)]
    if texts:
        parts.append(
            f"({v.kind} = 'string' AND {_norm_text(v)} IN ({', '.join(lit(t) for t in texts)}))"
        )
    if nums:
        parts.append(_true(f"{_number(v)} IN ({', '.join(dbl(n) for n in nums)})"))
    for b in dict.fromkeys(bools):
        truthy = f"{_norm_text(v)} IN ({', '.join(lit(t) for t in _TRUE)})"
        parts.append(
            f"(CASE WHEN {v.kind} = 'boolean' THEN {v.text} = {lit('true' if b else 'false')} "
            f"ELSE {'' if b else 'NOT '}{_true(truthy)} END)"
        )
    return "(" + " OR ".join(_true(p) for p in parts) + ")" if parts else "FALSE"


def field_sql(cond: FieldCondition, get: Callable[[str], Value]) -> str:
    """A FieldCondition as a never-NULL SQL boolean (conditions.py semantics)."""
    v = get(cond.field)
    op, value = cond.op, cond.value
    if op == "exists":
        return f"(NOT {_is_empty(v)})" if value else _is_empty(v)
    if op in ("eq", "in", "ne", "not_in"):
        test = _member(v, compared_values(cond))
        if op in ("ne", "not_in"):
            test = f"(NOT {test})"
    elif op == "contains":
        # One needle, or each spelling of a domain (conditions.contains_needles).
        tests = [_contains(cond.field, v, lit(n), get) for n in contains_needles(cond)]
        test = tests[0] if len(tests) == 1 else "(" + " OR ".join(tests) + ")"
    elif op == "matches":
        test = _true(f"LG_RX({_text_of(v)}, {lit(str(value))})")
    elif op == "between":
        lo, hi = dbl(value[0]), dbl(value[1])
        n = _number(v)
        test = _true(f"({n} >= {lo} AND {n} <= {hi})")
    else:
        sym = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        test = _true(f"{_number(v)} {sym} {dbl(value)}")
    # The engine's guard (blank values test False) is implied where a blank value's
    # number is NULL, or where a non-blank needle cannot be inside a blank text.
    if op in ("gt", "gte", "lt", "lte", "between") or (
        op == "contains" and (text_of(value) or str(value)).casefold().strip()
    ):
        return _true(test)
    return f"(NOT {_is_empty(v)} AND {_true(test)})"


def _contains(field: str, v: Value, needle: str, get: Callable[[str], Value]) -> str:
    """`contains` of one needle (an SQL literal, case-folded) as a never-NULL boolean."""
    scalar = f"STRPOS(LOWER({_text_of(v)}), {needle}) > 0"
    arr_test = get.array_test(field, needle) if isinstance(get, Columns) else None
    if arr_test is None and v.array_of:
        arr_test = f"LG_ARRAY_HAS({v.array_of}, {needle})"
    arr = arr_test or "FALSE"
    return f"(CASE WHEN {v.kind} = 'array' THEN {arr} ELSE {_true(scalar)} END)"


def condition_sql(cond: Condition, get: Callable[[str], Value]) -> str:
    """A field-only condition (rules never read scores) as SQL."""
    if isinstance(cond, FieldCondition):
        return field_sql(cond, get)
    if isinstance(cond, AllCondition):
        return "(" + " AND ".join(condition_sql(c, get) for c in cond.all) + ")"
    if isinstance(cond, AnyCondition):
        return "(" + " OR ".join(condition_sql(c, get) for c in cond.any) + ")"
    if isinstance(cond, NotCondition):
        return f"(NOT {condition_sql(cond.not_, get)})"
    if isinstance(cond, ScoreCondition):  # pragma: no cover - refused by the model
        raise ValueError("rules test fields and properties, not scores")
    raise TypeError(f"not a condition: {cond!r}")  # pragma: no cover


def lead_field(
    name: str, get: Callable[[str], Value] | None = None, after_at: str | None = None
) -> Value:
    """A lead field as fit rules see it: attributes, plus `email` and `email_domain`.

    `get` reads a raw attribute (default: JSON access on l.attributes); `after_at` is the
    text after the email's last @ when the caller projected it already.
    """
    raw = get or (lambda k: json_value("l.attributes", k))
    attr = raw(name)
    if name not in ("email", "email_domain"):
        return attr
    email = raw("email")
    email_kind = f"(CASE WHEN {email.kind} = 'missing' THEN 'string' ELSE {email.kind} END)"
    email_text = f"(CASE WHEN {email.kind} = 'missing' THEN l.email ELSE {email.text} END)"
    if name == "email":
        return Value(email_kind, email_text)
    if name == "email_domain":
        dom = f"LOWER(LG_TRIM({after_at or f'LG_AFTER_AT({email_text})'}))"
        kind = (
            f"(CASE WHEN {attr.kind} <> 'missing' THEN {attr.kind} "
            f"WHEN {email_kind} = 'string' AND {email_text} LIKE '%@%' THEN 'string' "
            "ELSE 'null' END)"
        )
        text = f"(CASE WHEN {attr.kind} <> 'missing' THEN {attr.text} ELSE {dom} END)"
        return Value(kind, text)
    return attr
