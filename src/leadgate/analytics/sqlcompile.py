"""Compile a playbook's scoring (fit, capped and decayed engagement, grades) to one SQL query.

The query is written once in DuckDB's dialect, with a few placeholder functions for the
things engines spell differently (JSON access, trimming, regular expressions, safe number
parsing), transpiled by SQLGlot to the target dialect (postgres, spark; DuckDB's is used as
written), and the placeholders are then expanded with that dialect's spelling.

Input tables (names are parameters):
- leads(id, email, attributes)  — attributes is JSON text, as the store keeps it;
- events(id, lead_id, type, occurred_at, properties) — occurred_at in epoch seconds,
  properties JSON text.
Output: one row per lead: lead_id, fit, engagement, total, fit_grade, engagement_grade, grade.

Semantics are those of `leadgate.scoring.engagement` and `leadgate.playbook.conditions`:
- events in (occurred_at, id) order (ids compared by code point: `COLLATE "C"` on
  PostgreSQL); events after `as_of` do not exist;
- `max_per_lead` keeps a rule's first N scored events;
- `max_per_days {count, days}` is greedy and sequential: an event scores only if fewer
  than `count` events of the rule were *scored* in (t - days, t]. The query splits each
  (lead, rule) stream into segments separated by gaps of at least `days` (the window
  empties there, so the state resets); a segment of at most `count` events scores
  entirely, and only longer ("dense") segments are walked event by event with a
  recursive CTE whose state is the times of the last `count` scored events. Exact, and
  the recursion touches only the few dense segments;
- decay 2^(-(as_of - t)/half_life); manual adjustments (`manual_adjustment` events:
  points, reason, score fit|engagement) grouped by label as `EngagementRules._adjust`;
- a fit rule's points and a fit adjustment's points count in cents (`FitRules`,
  `EngagementRules._adjust`);
- each rule's and adjustment's contribution is rounded to cents, then summed and
  rounded again, exactly as `ScoreCard`/`LeadProcessor.engagement` do. Rounding
  reproduces Python's `round(x, 2)` bit for bit (half-even on the exact binary value):
  the product x·200 is split error-free (Dekker/Veltkamp), so ties such as 0.125 and
  near-ties such as 2.675 (really 2.67499…) round as Python rounds them.

Known differences (documented in docs/analytics.md): text comparisons use SQL `lower()`
where Python uses `str.casefold()` (they differ outside ASCII, e.g. "ß"); `matches` runs
the engine's regex flavour (RE2 in DuckDB, ARE in PostgreSQL with `\\b` rewritten to
`\\y`, Java in Spark); numbers written with trailing zeros (1.50) read as "1.50" by
PostgreSQL `contains`/`matches` where Python sees "1.5". Spark needs 4.1+ (recursive CTE)
when a rule has `max_per_days`, and 4.0+ (VARIANT) for JSON value types.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlglot

from leadgate.playbook.model import (
    AllCondition,
    AnyCondition,
    Condition,
    EngagementRule,
    FieldCondition,
    NotCondition,
    Playbook,
    ScoreCondition,
)
from leadgate.scoring.engagement import ADJUSTMENT, DAY

DIALECTS = ("duckdb", "postgres", "spark")
_TRUE = ("true", "yes", "1", "y", "t")
# Every character Python's str.strip() removes (str.isspace over the BMP).
_WS = "".join(chr(c) for c in range(0x10000) if chr(c).isspace())
_WS_CLASS = "[" + "".join("\\" + ch if ch in "\\]^-" else ch for ch in _WS) + "]"
_SENTINEL = "CAST(-1e300 AS DOUBLE)"
_NUM_RX = r"^[+-]?(([0-9](_?[0-9])*)(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?$"  # noqa: E501
_INF_RX = r"^[+-]?(inf|infinity)$"


def dbl(x: float | int) -> str:
    """A float literal typed DOUBLE (a bare 1.5 is DECIMAL in DuckDB, NUMERIC in PostgreSQL)."""
    return f"CAST({float(x)!r} AS DOUBLE)"


def lit(s: str) -> str:
    """A SQL string literal (standard quoting, as DuckDB and PostgreSQL read it)."""
    return "'" + s.replace("'", "''") + "'"


# round2's constants: x·200, halves, and Veltkamp's split factor 2^27 + 1.
_R2_CONSTANTS = ("CAST(200 AS DOUBLE)", "CAST(0.5 AS DOUBLE)", "CAST(134217729 AS DOUBLE)")


def round2(x: str) -> str:
    """Python's round(x, 2), bit for bit, in portable double arithmetic (see module doc).

    x·200 = p + e exactly (Veltkamp split of x, Dekker product); with P = p/2, E = e/2,
    f = floor(P), the sign of (P - f - 1/2) + E says which way the exact x·100 rounds,
    and an exact tie goes to the even neighbour.
    """
    c200, c05, split = _R2_CONSTANTS
    p = f"({x} * {c200})"
    ah = f"(({x} * {split}) - (({x} * {split}) - {x}))"
    e = f"((({ah} * {c200}) - {p}) + (({x} - {ah}) * {c200}))"
    big_p = f"({p} * {c05})"
    f = f"FLOOR({big_p})"
    s = f"((({big_p} - {f}) - {c05}) + ({e} * {c05}))"
    n = (
        f"(CASE WHEN {s} > 0 THEN {f} + 1 WHEN {s} < 0 THEN {f} "
        f"WHEN {f} - 2 * FLOOR({f} * {c05}) = 0 THEN {f} ELSE {f} + 1 END)"
    )
    return f"(CAST({n} AS DOUBLE) / CAST(100 AS DOUBLE))"


def round2_staged(src: str, xs: dict[str, str]) -> str:
    """`SELECT *, round2(x) AS name, ... FROM src` for each name, x of `xs` (DuckDB).

    The same operations as `round2`, bit for bit, one stage per subquery: each part is a
    column, so nothing is written twice. The inline form repeats x and its parts, and
    DuckDB spent ~0.05 s planning the copies in every rescore.
    """
    c200, c05, split = _R2_CONSTANTS
    q = "SELECT *, " + ", ".join(f"({x}) AS {n}__x" for n, x in xs.items()) + f" FROM {src}"
    stages = [
        "{n}__x * " + split + " AS {n}__m, {n}__x * " + c200 + " AS {n}__p",
        "{n}__m - ({n}__m - {n}__x) AS {n}__ah, {n}__p * " + c05 + " AS {n}__bp",
        "(({n}__ah * " + c200 + ") - {n}__p) + (({n}__x - {n}__ah) * " + c200 + ") AS {n}__e, "
        "FLOOR({n}__bp) AS {n}__f",
        "(({n}__bp - {n}__f) - " + c05 + ") + ({n}__e * " + c05 + ") AS {n}__s, "
        "FLOOR({n}__f * " + c05 + ") AS {n}__h",
        "CAST((CASE WHEN {n}__s > 0 THEN {n}__f + 1 WHEN {n}__s < 0 THEN {n}__f "
        "WHEN {n}__f - 2 * {n}__h = 0 THEN {n}__f ELSE {n}__f + 1 END) AS DOUBLE) "
        "/ CAST(100 AS DOUBLE) AS {n}",
    ]
    for k, stage in enumerate(stages):
        cols = ", ".join(stage.format(n=n) for n in xs)
        q = f"SELECT *, {cols} FROM ({q}) AS r2_{k}"
    return q


# -- field access --------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A field as SQL sees it: its JSON kind and its text.

    kind is one of 'missing', 'null', 'string', 'number', 'boolean', 'array', 'object'.
    """

    kind: str
    text: str
    array_of: str | None = None  # (doc, key) placeholder args, for `contains` on arrays


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

        DuckDB only: the inner stage extracts all keys as a list of JSON values
        (`{prefix}j`), the outer one takes kind and text of each from that list, where
        `select()` would parse the document twice per field.
        """
        if len(self.keys) < 2:
            return "", self.select()
        paths = ", ".join(lit(_json_path(k)) for k in self.keys)
        inner = f", JSON_EXTRACT({self.doc}, [{paths}]) AS {self.prefix}j"
        out = []
        for key, i in self.keys.items():
            j = f"{self.prefix}j[{i + 1}]"
            out.append(f", LG_JKIND({j}) AS {self.prefix}k{i}, LG_JTEXT({j}) AS {self.prefix}x{i}")
            v = self.base(key)
            if key in self.list_keys and v.array_of:
                out.append(
                    f", (CASE WHEN LG_JKIND({j}) = 'array' THEN LG_LIST({v.array_of}) END) "
                    f"AS {self.prefix}l{i}"
                )
        return inner, "".join(out)


def _is_empty(v: Value) -> str:
    return f"({v.kind} IN ('missing', 'null') OR ({v.kind} = 'string' AND LG_BLANK({v.text})))"


def _number(v: Value) -> str:
    """as_number(): numbers as they are, text stripped and without commas, else NULL."""
    return (
        f"(CASE WHEN {v.kind} = 'number' THEN CAST({v.text} AS DOUBLE) "
        f"WHEN {v.kind} = 'string' THEN LG_NUM(REPLACE(LG_TRIM({v.text}), ',', '')) END)"
    )


def _norm_text(v: Value) -> str:
    return f"LOWER(LG_TRIM({v.text}))"


def _py_str(v: Value) -> str:
    """str(value) as Python shows it (booleans are True/False)."""
    return (
        f"(CASE WHEN {v.kind} = 'boolean' THEN (CASE WHEN {v.text} = 'true' THEN 'True' "
        f"ELSE 'False' END) ELSE {v.text} END)"
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
        opts = list(value) if op in ("in", "not_in") else [value]
        test = _member(v, opts)
        if op in ("ne", "not_in"):
            test = f"(NOT {test})"
    elif op == "contains":
        needle = lit(str(value).casefold())
        scalar = f"STRPOS(LOWER({_py_str(v)}), {needle}) > 0"
        arr_test = get.array_test(cond.field, needle) if isinstance(get, Columns) else None
        if arr_test is None and v.array_of:
            arr_test = f"LG_ARRAY_HAS({v.array_of}, {needle})"
        arr = arr_test or "FALSE"
        test = f"(CASE WHEN {v.kind} = 'array' THEN {arr} ELSE {_true(scalar)} END)"
    elif op == "matches":
        test = _true(f"LG_RX({_py_str(v)}, {lit(str(value))})")
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
        op == "contains" and str(value).casefold().strip()
    ):
        return _true(test)
    return f"(NOT {_is_empty(v)} AND {_true(test)})"


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


# -- the query -----------------------------------------------------------------------------


def _case_r(values: dict[int, str], default: str = "NULL") -> str:
    if not values:
        return default
    whens = " ".join(f"WHEN {k} THEN {v}" for k, v in values.items())
    return f"(CASE r {whens} ELSE {default} END)"


def _build(pb: Playbook, leads: str, events: str, as_of: float) -> str:
    eng = pb.engagement
    rules = eng.rules
    hl = eng.half_life_days * DAY if eng.half_life_days else None
    as_of_sql = dbl(as_of)
    types = sorted({r.event for r in rules} | {ADJUSTMENT})

    def decay(t: str) -> str:
        if hl is None:
            return "CAST(1 AS DOUBLE)"
        return f"POW(CAST(2 AS DOUBLE), -({as_of_sql} - {t}) / {dbl(hl)})"

    ctes: list[tuple[str, str, bool]] = []  # (name, body, materialized)
    ctes.append(
        (
            "ev",
            "SELECT lead_id, id AS eid, type AS etype, CAST(occurred_at AS DOUBLE) AS t, "
            f"properties AS p FROM {events} WHERE CAST(occurred_at AS DOUBLE) <= {as_of_sql} "
            f"AND type IN ({', '.join(lit(t) for t in types)})",
            True,
        )
    )
    # One column per "slot": the k-th rule of an event type (an event may score several).
    slots: dict[str, list[int]] = {}
    for i, r in enumerate(rules):
        slots.setdefault(r.event, []).append(i)
    nslots = max((len(v) for v in slots.values()), default=0)
    props = Columns("p", "p")
    kinds: dict[int, str] = {}
    for i, r in enumerate(rules):
        if r.max_per_days is not None:
            kinds[i] = "rolling"
        elif r.max_per_lead is not None:
            kinds[i] = "capped"
        else:
            kinds[i] = "plain"
    union_m: list[str] = []
    if nslots:
        cols = []
        for s in range(nslots):
            whens = []
            for etype, idx in slots.items():
                if s < len(idx):
                    i = idx[s]
                    cond = rules[i].if_
                    test = "" if cond is None else " AND " + condition_sql(cond, props)
                    whens.append(f"WHEN etype = {lit(etype)}{test} THEN {i}")
            cols.append(f"(CASE {' '.join(whens)} END) AS r{s}" if whens else f"NULL AS r{s}")
        filtered = sorted({r.event for r in rules if r.if_ is not None})
        if props.keys:
            tl = ", ".join(lit(t) for t in filtered)
            ctes.append(
                (
                    "evp",
                    f"SELECT lead_id, eid, t, etype, p{props.select()} FROM ev "
                    f"WHERE etype IN ({tl}) ",
                    True,
                )
            )
            src = (
                "(SELECT * FROM evp UNION ALL SELECT lead_id, eid, t, etype, p"
                + "".join(", NULL, NULL" for _ in props.keys)
                + f" FROM ev WHERE etype NOT IN ({tl})) AS e"
            )
        else:
            src = "ev"
        ctes.append(("mm", f"SELECT lead_id, eid, t, {', '.join(cols)} FROM {src}", False))
        for s in range(nslots):
            union_m.append(f"SELECT lead_id, eid, t, r{s} AS r FROM mm WHERE r{s} IS NOT NULL")
        ctes.append(("m", " UNION ALL ".join(union_m), True))

    scored: list[str] = []
    plain = [i for i, k in kinds.items() if k == "plain"]
    capped = [i for i, k in kinds.items() if k == "capped"]
    rolling = [i for i, k in kinds.items() if k == "rolling"]
    order = "ORDER BY t, LG_ORD(eid)"
    if plain:
        scored.append(f"SELECT lead_id, r, t FROM m WHERE r IN ({', '.join(map(str, plain))})")
    if capped:
        caps = {i: str(rules[i].max_per_lead) for i in capped}
        ctes.append(
            (
                "mc",
                "SELECT lead_id, r, t, ROW_NUMBER() OVER (PARTITION BY lead_id, r "
                f"{order}) AS rn FROM m WHERE r IN ({', '.join(map(str, capped))})",
                False,
            )
        )
        scored.append(f"SELECT lead_id, r, t FROM mc WHERE rn <= {_case_r(caps)}")
    if rolling:
        width = {i: dbl(rules[i].max_per_days.days * DAY) for i in rolling}  # type: ignore[union-attr]
        count = {i: str(rules[i].max_per_days.count) for i in rolling}  # type: ignore[union-attr]
        ctes.append(
            (
                "ra",
                "SELECT lead_id, r, eid, t, LAG(t) OVER (PARTITION BY lead_id, r "
                f"{order}) AS pt FROM m WHERE r IN ({', '.join(map(str, rolling))})",
                False,
            )
        )
        ctes.append(
            (
                "rb",
                "SELECT lead_id, r, eid, t, SUM(CASE WHEN pt IS NULL OR pt <= t - "
                f"{_case_r(width)} THEN 1 ELSE 0 END) OVER (PARTITION BY lead_id, r {order} "
                "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seg FROM ra",
                False,
            )
        )
        ctes.append(
            (
                "rc",
                "SELECT lead_id, r, eid, t, seg, ROW_NUMBER() OVER (PARTITION BY lead_id, r, seg "
                f"{order}) AS n, COUNT(*) OVER (PARTITION BY lead_id, r, seg) AS sz FROM rb",
                True,
            )
        )
        window_rows = [f"SELECT lead_id, r, eid, t FROM rc WHERE sz <= {_case_r(count)}"]
        for i in rolling:
            k = rules[i].max_per_days.count  # type: ignore[union-attr]
            d = width[i]
            ws = [f"w{j}" for j in range(1, k + 1)]
            ctes.append(
                (
                    f"dense{i}",
                    f"SELECT lead_id, seg, n, eid, t FROM rc WHERE r = {i} AND sz > {k}",
                    True,
                )
            )
            base_w = [_SENTINEL] * (k - 1) + ["t"]
            ok = f"(w.w1 <= c.t - {d})"
            step_w = [f"CASE WHEN {ok} THEN w.w{j + 1} ELSE w.w{j} END" for j in range(1, k)]
            step_w.append(f"CASE WHEN {ok} THEN c.t ELSE w.w{k} END")
            body = (
                "SELECT lead_id, seg, n, eid, t, TRUE AS ok, "
                + ", ".join(f"{b} AS {w}" for b, w in zip(base_w, ws, strict=True))
                + f" FROM dense{i} WHERE n = 1 UNION ALL "
                f"SELECT c.lead_id, c.seg, c.n, c.eid, c.t, {ok} AS ok, "
                + ", ".join(f"{s} AS {w}" for s, w in zip(step_w, ws, strict=True))
                + f" FROM walk{i} AS w JOIN dense{i} AS c ON c.lead_id = w.lead_id "
                "AND c.seg = w.seg AND c.n = w.n + 1"
            )
            ctes.append((f"walk{i}", body, False))
            window_rows.append(f"SELECT lead_id, {i} AS r, eid, t FROM walk{i} WHERE ok")
        ctes.append(("rw", " UNION ALL ".join(window_rows), False))
        lead_caps = {i: str(rules[i].max_per_lead) for i in rolling if rules[i].max_per_lead}
        if lead_caps:
            ctes.append(
                (
                    "rn",
                    "SELECT lead_id, r, t, ROW_NUMBER() OVER (PARTITION BY lead_id, r "
                    f"{order}) AS k FROM rw",
                    False,
                )
            )
            scored.append(f"SELECT lead_id, r, t FROM rn WHERE k <= {_case_r(lead_caps, '-1')}")
            scored.append(
                f"SELECT lead_id, r, t FROM rw WHERE r NOT IN ({', '.join(map(str, lead_caps))})"
            )
        else:
            scored.append("SELECT lead_id, r, t FROM rw")

    contribs: list[str] = []
    if scored:
        ctes.append(("sc", " UNION ALL ".join(scored), False))
        points = {i: dbl(r.points) for i, r in enumerate(rules)}
        agg = "SUM(" + decay("t") + ")" if hl is not None else "CAST(COUNT(*) AS DOUBLE)"
        ctes.append(
            (
                "pr",
                f"SELECT lead_id, r, {agg} AS s FROM sc GROUP BY lead_id, r",
                False,
            )
        )
        ctes.append(("prv", f"SELECT lead_id, {_case_r(points)} * s AS x FROM pr", True))
        contribs.append(f"SELECT lead_id, {round2('x')} AS c FROM prv")

    _adjustments(ctes, contribs, eng.adjustments.decay, decay, hl)
    ctes.append(("ce", " UNION ALL ".join(contribs), False))
    ctes.append(("eg", "SELECT lead_id, SUM(c) AS x FROM ce GROUP BY lead_id", True))

    fit_terms = ["CAST(0 AS DOUBLE)"]
    attrs = Columns("l.attributes", "a", lead_field)
    for fr in pb.fit.rules:
        fit_terms.append(
            f"(CASE WHEN {condition_sql(fr.if_, attrs)} THEN {dbl(round(fr.points, 2))} "
            "ELSE CAST(0 AS DOUBLE) END)"
        )
    ctes.append(("la", f"SELECT l.id, l.attributes{attrs.select()} FROM {leads} AS l", True))
    ctes.append(
        (
            "fl",
            f"SELECT l.id AS lead_id, ({' + '.join(fit_terms)}) AS fx FROM la AS l",
            True,
        )
    )
    ctes.append(
        (
            "sx",
            "SELECT fl.lead_id, fl.fx + COALESCE(adjf.x, CAST(0 AS DOUBLE)) AS fx, "
            "COALESCE(eg.x, CAST(0 AS DOUBLE)) AS ex FROM fl "
            "LEFT JOIN adjf ON adjf.lead_id = fl.lead_id LEFT JOIN eg ON eg.lead_id = fl.lead_id",
            True,
        )
    )
    return _grades(pb, ctes, recursive=bool(rolling))


def _adjustments(
    ctes: list[tuple[str, str, bool]],
    contribs: list[str],
    decays: bool,
    decay: Callable[[str], str],
    hl: float | None,
) -> None:
    """Manual adjustments (label = "manual: <reason>", fit or engagement) from `ev`."""
    pts = Value("LG_KIND(p, 'points')", "LG_TEXT(p, 'points')")
    score_v = json_value("p", "score")
    reason_v = json_value("p", "reason")
    ctes.append(
        (
            "adj",
            "SELECT lead_id, t, "
            f"COALESCE({_number(pts)}, CAST(0 AS DOUBLE)) AS pts, "
            f"(CASE WHEN {reason_v.kind} IN ('missing', 'null') OR ({reason_v.kind} = 'string' "
            f"AND {reason_v.text} = '') THEN 'no reason given' ELSE {reason_v.text} END) AS label, "
            f"({score_v.kind} = 'string' AND {score_v.text} = 'fit') AS is_fit "
            f"FROM ev WHERE etype = {lit(ADJUSTMENT)}",
            True,
        )
    )
    adj_decay = decay("t") if (hl is not None and decays) else "CAST(1 AS DOUBLE)"
    ctes.append(
        (
            "adje",
            f"SELECT lead_id, SUM(pts * {adj_decay}) AS x FROM adj WHERE NOT is_fit "
            "GROUP BY lead_id, label",
            True,
        )
    )
    contribs.append(f"SELECT lead_id, {round2('x')} AS c FROM adje")
    ctes.append(
        (
            "adjf",
            f"SELECT lead_id, SUM({round2('pts')}) AS x FROM adj WHERE is_fit GROUP BY lead_id",
            True,
        )
    )


def _grades(
    pb: Playbook,
    ctes: list[tuple[str, str, bool]],
    recursive: bool,
    staged: bool = False,
    inline: frozenset[str] = frozenset(),
) -> str:
    """Round, grade and assemble the query from `sx` (lead_id, fx, ex).

    staged: round with `round2_staged` (DuckDB), else inline (any engine). `inline`: CTEs
    written without MATERIALIZED (read once: DuckDB then streams them instead of copying).
    """
    fg, egr = pb.fit.grades, pb.engagement.grades
    if staged:
        sr = (
            "SELECT lead_id, fit, engagement FROM "
            f"({round2_staged('sx', {'fit': 'fx', 'engagement': 'ex'})}) AS r"
        )
    else:
        sr = f"SELECT lead_id, {round2('fx')} AS fit, {round2('ex')} AS engagement FROM sx"
    ctes.append(("sr", sr, True))
    fit_grade = (
        f"CASE WHEN fit >= {dbl(fg['A'])} THEN 'A' WHEN fit >= {dbl(fg['B'])} THEN 'B' "
        f"WHEN fit >= {dbl(fg['C'])} THEN 'C' ELSE 'D' END"
    )
    eng_grade = (
        f"CASE WHEN engagement >= {dbl(egr['1'])} THEN '1' WHEN engagement >= {dbl(egr['2'])} "
        f"THEN '2' WHEN engagement >= {dbl(egr['3'])} THEN '3' ELSE '4' END"
    )
    ctes.append(
        (
            "st",
            "SELECT lead_id, fit, engagement, fit + engagement AS tx, "
            f"{fit_grade} AS fit_grade, {eng_grade} AS engagement_grade FROM sr",
            True,
        )
    )
    total, src = (
        ("total", f"({round2_staged('st', {'total': 'tx'})}) AS r")
        if staged
        else (f"{round2('tx')} AS total", "st")
    )
    final = (
        f"SELECT lead_id, fit, engagement, {total}, fit_grade, engagement_grade, "
        f"fit_grade || engagement_grade AS grade FROM {src}"
    )
    with_parts = []
    for name, body, mat in ctes:
        mat = mat and name not in inline
        with_parts.append(f"{name} AS {'MATERIALIZED ' if mat else ''}({body})")
    return f"WITH {'RECURSIVE ' if recursive else ''}" + ", ".join(with_parts) + " " + final


# Every character that can stand in a JSON text outside its strings' contents, or in
# DuckDB's text of a number (NaN and Infinity included) or a boolean, lower-cased.
_OUTSIDE_STRINGS = frozenset(" \t\n\r{}[]:,0123456789.+-e" + "truefalsn" + "infinityan")


def _prefilter(cond: Condition | None, doc: str) -> str | None:
    """A cheap test on the raw JSON text `doc` that `cond` implies, or None.

    `contains` is true only if the needle is in the field's lower-cased text (or, for
    an array, equals an element). Where the raw text is ASCII without a backslash, every
    string's contents stand in it verbatim, so a needle found inside a string's contents
    is in the lower-cased raw text too. A needle with a quote or a backslash, or made only
    of characters that can stand outside strings (digits, `e`, `.`, `true`, `NaN`,
    brackets…: a number or an object's serialization may differ from the raw text there)
    gets no prefilter. Raw texts with escapes or non-ASCII characters always pass.
    """
    if isinstance(cond, FieldCondition):
        if cond.op != "contains":
            return None
        needle = str(cond.value).casefold()
        if '"' in needle or "\\" in needle or not set(needle) - _OUTSIDE_STRINGS:
            return None
        return (
            f"(CONTAINS(LOWER({doc}), {lit(needle)}) OR CONTAINS({doc}, CHR(92)) "
            f"OR STRLEN({doc}) <> LENGTH({doc}))"
        )
    if isinstance(cond, AllCondition):
        pres = [x for x in (_prefilter(c, doc) for c in cond.all) if x]
        return "(" + " AND ".join(pres) + ")" if pres else None
    if isinstance(cond, AnyCondition):
        anys = [_prefilter(c, doc) for c in cond.any]
        return "(" + " OR ".join(x for x in anys if x) + ")" if all(anys) else None
    return None


# -- the DuckDB query ------------------------------------------------------------------------
#
# The portable query above sorts every scored event by window functions and groups by
# (lead, rule); on 20M events that is ~18 s in DuckDB. The DuckDB query reaches the same
# numbers with fewer passes:
# - a rule's score depends only on the multiset of its scored events' times (decay reads
#   nothing else, and the caps' decisions depend on times only), so events tied in time are
#   interchangeable: no tie-break by id is needed, and "the first N" of a per-lead cap are
#   the N smallest times. Rules without a rolling window are one single-pass pivot
#   (SUM / MIN / MIN(t, N) with FILTER) over all events, grouped by lead;
# - rolling windows: one sort per rule; segments of at most `count` events score whole
#   (grouped), only the rest is walked (as in the portable query), all rules in one
#   recursive CTE;
# - fit conditions are evaluated once per distinct combination of the fields they read;
# - JSON properties are parsed only on rows of event types whose rules read them, each
#   read field once, and not at all on rows a cheap exact test of the raw text rules out
#   (`_prefilter`, for `contains`);
# - cents are rounded in stages (`round2_staged`) and CTEs read once are not
#   materialized: planning and copying cost a noticeable share on small inputs.


def _build_duckdb(pb: Playbook, leads: str, events: str, as_of: float) -> str:
    eng = pb.engagement
    rules = eng.rules
    hl = eng.half_life_days * DAY if eng.half_life_days else None
    as_of_sql = dbl(as_of)

    def decay(t: str) -> str:
        if hl is None:
            return "CAST(1 AS DOUBLE)"
        return f"POW(CAST(2 AS DOUBLE), -({as_of_sql} - {t}) / {dbl(hl)})"

    ctes: list[tuple[str, str, bool]] = []
    rolling = [i for i, r in enumerate(rules) if r.max_per_days is not None]

    def source(subset: list[int], extra_types: tuple[str, ...] = ()) -> str:
        """Events of the subset's types (and `extra_types`), with a flag m<i> per rule.

        Each consumer scans the events itself: only its types, and JSON parsed only
        on rows of types whose rules read properties.
        """
        props = Columns("p", "p", lists=True)
        flags = []
        for i in subset:
            cond = rules[i].if_
            test = "" if cond is None else " AND " + condition_sql(cond, props)
            flags.append(f", (etype = {lit(rules[i].event)}{test}) AS m{i}")
        want = sorted({rules[i].event for i in subset} | set(extra_types))
        json_types = sorted(
            {rules[i].event for i in subset if rules[i].if_ is not None} | set(extra_types)
        )
        p = (
            f"CASE WHEN type IN ({', '.join(lit(t) for t in json_types)}) THEN properties END"
            if json_types
            else "CAST(NULL AS VARCHAR)"
        )
        # Rows of a type whose every rule has a prefilter are read only where one holds.
        pre_by_type: dict[str, list[str]] = {}
        for t in want:
            pres = [_prefilter(rules[i].if_, "properties") for i in subset if rules[i].event == t]
            if t not in extra_types and pres and all(pres):
                pre_by_type[t] = [x for x in pres if x]
        keep = ""
        if pre_by_type:
            free = [t for t in want if t not in pre_by_type]
            alts = [f"type IN ({', '.join(lit(t) for t in free)})"] if free else []
            alts += [f"(type = {lit(t)} AND ({' OR '.join(x)}))" for t, x in pre_by_type.items()]
            keep = f" AND ({' OR '.join(alts)})"
        raw = (
            f"SELECT lead_id, type AS etype, CAST(occurred_at AS DOUBLE) AS t, {p} AS p "
            f"FROM {events} WHERE CAST(occurred_at AS DOUBLE) <= {as_of_sql} "
            f"AND type IN ({', '.join(lit(t) for t in want)}){keep}"
        )
        p_inner, p_outer = props.parse_once()
        return (
            f"(SELECT lead_id, etype, t, p{''.join(flags)} FROM (SELECT *{p_outer} FROM "
            f"(SELECT *{p_inner} FROM ({raw}) AS e0) AS e1) AS e2)"
        )

    ctes.append(("ev", f"SELECT lead_id, etype, t, p FROM {source([], (ADJUSTMENT,))}", False))

    def rule_filter(i: int) -> str:
        return f"m{i}"

    # Rules without a rolling window: one pivot over all events.
    aggs: list[str] = []
    pivot_terms: dict[str, str] = {}
    for i, r in enumerate(rules):
        if r.max_per_days is not None:
            continue
        f = f"FILTER (WHERE {rule_filter(i)})"
        cap = r.max_per_lead
        if hl is None:
            n = f"CAST(COUNT(*) {f} AS DOUBLE)"
            agg = n if cap is None else f"LEAST({n}, {dbl(cap)})"
        elif cap is None:
            agg = f"SUM({decay('t')}) {f}"
        elif cap == 1:
            agg = decay(f"MIN(t) {f}")
        else:
            agg = f"LG_LIST_DECAY(MIN(t, {int(cap)}) {f}, {as_of_sql}, {dbl(hl)})"
        aggs.append(f"{agg} AS s{i}")
        pivot_terms[f"c{i}"] = f"({dbl(r.points)} * s{i})"
    if aggs:
        src = source([i for i in range(len(rules)) if i not in rolling])
        ctes.append(("pv", f"SELECT lead_id, {', '.join(aggs)} FROM {src} GROUP BY lead_id", False))
        ctes.append(("pve", _sum_rounded("pv", pivot_terms), True))

    contribs: list[str] = []
    if rolling:
        _rolling(ctes, rules, rolling, [source([i]) for i in rolling], decay, hl, as_of)

    _adjustments(ctes, contribs, eng.adjustments.decay, decay, hl)
    ctes.append(("ce", " UNION ALL ".join(contribs), False))
    ctes.append(("eg", "SELECT lead_id, SUM(c) AS x FROM ce GROUP BY lead_id", True))

    # Fit: once per distinct combination of the fields the rules read.
    # Three stages: the raw JSON fields (each parsed once), the fields as rules see them
    # (email, email_domain derived), then the rules on distinct combinations.
    rawf = Columns("l.attributes", "r")
    attrs = Columns("l.attributes", "a", lambda k: lead_field(k, rawf, "l.em_at"), lists=True)
    fit_terms = ["CAST(0 AS DOUBLE)"]
    for fr in pb.fit.rules:
        fit_terms.append(
            f"(CASE WHEN {condition_sql(fr.if_, attrs)} THEN {dbl(round(fr.points, 2))} "
            "ELSE CAST(0 AS DOUBLE) END)"
        )
    la_cols = attrs.select()
    if "email_domain" in attrs.keys:
        rawf("email")
    r_inner, r_outer = rawf.parse_once()
    em_at = ""
    if "email_domain" in attrs.keys:
        e = rawf("email")
        em_at = (
            f", LG_AFTER_AT(CASE WHEN {e.kind} = 'missing' THEN email ELSE {e.text} END) AS em_at"
        )
    # The leads are copied first: a file of one row group is read by one thread, and
    # the JSON work on the copy runs on all of them.
    ctes.append(("l0", f"SELECT id, email, attributes FROM {leads}", True))
    ctes.append(
        (
            "lr",
            f"SELECT *{em_at} FROM (SELECT *{r_outer} FROM (SELECT l.id, l.email, "
            f"l.attributes{r_inner} FROM l0 AS l) AS l) AS l1",
            False,
        )
    )
    ctes.append(("la", f"SELECT l.id{la_cols} FROM lr AS l", True))
    keys = [f"{c}{n}" for n in range(len(attrs.keys)) for c in ("ak", "ax")]
    keys += [f"al{attrs.keys[k]}" for k in sorted(attrs.list_keys)]
    if keys:
        # GROUP BY puts NULLs together, as the rules see them (missing is missing).
        ctes.append(
            (
                "fd",
                f"SELECT LIST(id) AS ids, {', '.join(keys)} FROM la GROUP BY {', '.join(keys)}",
                False,
            )
        )
        ctes.append(("fv", f"SELECT ids, ({' + '.join(fit_terms)}) AS fx FROM fd", False))
        ctes.append(("fl", "SELECT UNNEST(ids) AS lead_id, fx FROM fv", False))
    else:
        ctes.append(("fl", f"SELECT id AS lead_id, {' + '.join(fit_terms)} AS fx FROM la", False))
    joins = ""
    ex = "COALESCE(eg.x, CAST(0 AS DOUBLE))"
    if aggs:
        joins += " LEFT JOIN pve ON pve.lead_id = fl.lead_id"
        ex = f"COALESCE(pve.x, CAST(0 AS DOUBLE)) + {ex}"
    if rolling:
        joins += " LEFT JOIN rpe ON rpe.lead_id = fl.lead_id"
        ex = f"COALESCE(rpe.x, CAST(0 AS DOUBLE)) + {ex}"
    ctes.append(
        (
            "sx",
            "SELECT fl.lead_id, fl.fx + COALESCE(adjf.x, CAST(0 AS DOUBLE)) AS fx, "
            f"{ex} AS ex FROM fl LEFT JOIN adjf ON adjf.lead_id = fl.lead_id "
            f"LEFT JOIN eg ON eg.lead_id = fl.lead_id{joins}",
            False,
        )
    )
    # Each read once: streamed, not copied (the few read twice stay materialized).
    once = frozenset({"pve", "rpe", "la", "eg", "adje", "adjf", "sr", "st"})
    return _grades(pb, ctes, recursive=bool(rolling), staged=True, inline=once)


def _sum_rounded(src: str, terms: dict[str, str]) -> str:
    """lead_id and x = the sum of each term rounded to cents (a missing term counts 0)."""
    total = " + ".join(f"COALESCE({n}, CAST(0 AS DOUBLE))" for n in terms)
    return f"SELECT lead_id, {total} AS x FROM ({round2_staged(src, terms)}) AS r"


def _rolling(
    ctes: list[tuple[str, str, bool]],
    rules: list[EngagementRule],
    rolling: list[int],
    sources: list[str],
    decay: Callable[[str], str],
    hl: float | None,
    as_of: float,
) -> None:
    """The rules with a rolling window (`max_per_days`), all in one sort and one walk.

    One window over (lead, rule) gives positions and the K times before and after each
    event (K the largest `count`). A segment (events closer than `days` to their
    predecessor) of at most `count` events scores whole; whether an event's segment is
    that small is read from its neighbours. Tied events are interchangeable (and in one
    segment), so no tie-break is needed. Only the rest ("dense" segments) is walked, by
    one recursive CTE for all rules, whose state is the last K scored times.
    """
    big_k = max(rules[i].max_per_days.count for i in rolling)  # type: ignore[union-attr]
    days = {i: dbl(rules[i].max_per_days.days * DAY) for i in rolling}  # type: ignore[union-attr]
    counts = {i: rules[i].max_per_days.count for i in rolling}  # type: ignore[union-attr]

    def col(prefix: str, j: int) -> str:
        return "t" if j == 0 else f"{prefix}{j}"

    def starts(j: int, d: str) -> str:  # a segment starts j events before this one
        return f"({col('b', j + 1)} IS NULL OR {col('b', j + 1)} <= {col('b', j)} - {d})"

    def ends(j: int, d: str) -> str:  # a segment ends j events after this one
        return f"({col('a', j + 1)} IS NULL OR {col('a', j)} <= {col('a', j + 1)} - {d})"

    # One sort per rule, each with the neighbours its count needs. Partitioned by
    # (lead, rule), not by lead alone: DuckDB sorts the latter on one thread when the
    # file is already ordered by lead (seen here: 3x the wall time).
    w = "PARTITION BY lead_id, r ORDER BY t"
    parts = []
    for i, src in zip(rolling, sources, strict=True):
        k, d = counts[i], days[i]
        small = " OR ".join(
            f"({starts(x, d)} AND {ends(y, d)})" for x in range(k) for y in range(k - x)
        )
        win = (
            f"SELECT lead_id, r, t, ROW_NUMBER() OVER ({w}) AS pos, "
            + ", ".join(f"LAG(t, {j}) OVER ({w}) AS b{j}" for j in range(1, k + 1))
            + ", "
            + ", ".join(f"LEAD(t, {j}) OVER ({w}) AS a{j}" for j in range(1, k + 1))
            + f" FROM (SELECT lead_id, {i} AS r, t FROM {src} AS e WHERE m{i}) AS e"
        )
        parts.append(
            f"SELECT lead_id, r, t, pos, {starts(0, d)} AS first, ({small}) AS small "
            f"FROM ({win}) AS e"
        )
    ctes.append(("rb", " UNION ALL ".join(parts), True))
    ctes.append(("rd", "SELECT lead_id, r, pos, t, first FROM rb WHERE NOT small", True))
    # The greedy walk through dense segments. State: the last K scored times, oldest
    # first; a rule of count k compares with the k-th latest (w{K-k+1}).
    ws = [f"w{j}" for j in range(1, big_k + 1)]
    oks = {i: f"(w.w{big_k - counts[i] + 1} <= c.t - {days[i]})" for i in rolling}
    ok = (
        oks[rolling[0]]
        if len(rolling) == 1
        else "(CASE w.r " + " ".join(f"WHEN {i} THEN {x}" for i, x in oks.items()) + " END)"
    )
    base_w = [_SENTINEL] * (big_k - 1) + ["t"]
    step_w = [f"CASE WHEN {ok} THEN w.w{j + 1} ELSE w.w{j} END" for j in range(1, big_k)]
    step_w.append(f"CASE WHEN {ok} THEN c.t ELSE w.w{big_k} END")
    ctes.append(
        (
            "wk",
            "SELECT lead_id, r, pos, t, TRUE AS ok, "
            + ", ".join(f"{b} AS {n}" for b, n in zip(base_w, ws, strict=True))
            + " FROM rd WHERE first UNION ALL "
            f"SELECT c.lead_id, c.r, c.pos, c.t, {ok} AS ok, "
            + ", ".join(f"{b} AS {n}" for b, n in zip(step_w, ws, strict=True))
            + " FROM wk AS w JOIN rd AS c ON c.lead_id = w.lead_id AND c.r = w.r "
            "AND c.pos = w.pos + 1 AND NOT c.first",
            False,
        )
    )
    as_of_sql = dbl(as_of)
    aggs: list[str] = []
    terms: dict[str, str] = {}
    for i in rolling:
        f = f"FILTER (WHERE r = {i})"
        cap = rules[i].max_per_lead
        if cap is None:
            agg = f"SUM({decay('t')}) {f}"
        else:
            agg = f"LG_LIST_DECAY(MIN(t, {int(cap)}) {f}, {as_of_sql}, {dbl(hl) if hl else 'NULL'})"
        aggs.append(f"{agg} AS s{i}")
        terms[f"c{i}"] = f"({dbl(rules[i].points)} * s{i})"
    ctes.append(
        (
            "rp",
            f"SELECT lead_id, {', '.join(aggs)} FROM (SELECT lead_id, r, t FROM rb WHERE small "
            "UNION ALL SELECT lead_id, r, t FROM wk WHERE ok) AS u GROUP BY lead_id",
            False,
        )
    )
    # One row per lead already: joined to the totals as it is, not grouped again.
    ctes.append(("rpe", _sum_rounded("rp", terms), True))


# -- dialect expansion -----------------------------------------------------------------------


def _split_args(s: str) -> list[str]:
    out, depth, cur, quote = [], 0, [], False
    i = 0
    while i < len(s):
        ch = s[i]
        if quote:
            cur.append(ch)
            if ch == "'":
                if i + 1 < len(s) and s[i + 1] == "'":
                    cur.append("'")
                    i += 1
                else:
                    quote = False
        elif ch == "'":
            quote = True
            cur.append(ch)
        elif ch == "(":
            depth += 1
            cur.append(ch)
        elif ch == ")":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur).strip())
    return out


def _unlit(s: str) -> str:
    assert s.startswith("'") and s.endswith("'"), s
    return s[1:-1].replace("''", "'")


def spark_lit(s: str) -> str:
    """A Spark SQL string literal: there a backslash escapes (so `\\b` in a regex must be
    written `\\\\b`, or Spark reads a backspace) and a quote is `\\'`."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


_SPARK_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


def _spark_unlit(s: str) -> str:
    """Inverse of `spark_lit`, for the literals sqlglot writes for Spark."""
    assert s.startswith("'") and s.endswith("'"), s
    out, i, body = [], 0, s[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_SPARK_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if ch == "'" and body[i + 1 : i + 2] == "'":
            i += 1
        out.append(ch)
        i += 1
    return "".join(out)


def pg_regex(pattern: str) -> str:
    """A Python regex for PostgreSQL's ARE: `\\b` (word boundary) is spelled `\\y` there."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append("\\y" if nxt == "b" and not in_class else ch + nxt)
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _spark_json_path(key: str) -> str:
    """Spark's JSON paths: `$."key"` finds nothing there; `$['key']` works in both
    GET_JSON_OBJECT and VARIANT_GET, but has no escape for a quote or a bracket."""
    if "'" in key or "]" in key:
        raise ValueError(f"field {key!r}: Spark's JSON paths cannot name a key with ' or ]")
    return f"$['{key}']"


def _expand(name: str, args: list[str], dialect: str) -> str:
    quote, unquote = (spark_lit, _spark_unlit) if dialect == "spark" else (lit, _unlit)
    ws = quote(_WS)
    if name == "LG_ORD":
        return f'{args[0]} COLLATE "C"' if dialect == "postgres" else args[0]
    if name == "LG_BLANK":
        x = args[0]
        if dialect != "duckdb":
            return f"(LG_TRIM({x}) = '')"
        # Blank after strip(): empty, or whitespace only (checked only when the first
        # character could be whitespace).
        plain = ", ".join(str(c) for c in sorted({ord(c) for c in _WS}) if c > 32)
        first = f"UNICODE({x})"
        return (
            f"({x} = '' OR (NOT ({first} > 32 AND {first} NOT IN ({plain})) "
            f"AND REGEXP_FULL_MATCH({x}, {quote(_WS_CLASS + '+')})))"
        )
    if name == "LG_TRIM":
        if dialect == "postgres":
            return f"BTRIM({args[0]}, {ws})"
        if dialect == "spark":
            return f"TRIM(BOTH {ws} FROM {args[0]})"
        # TRIM(x, chars) is ~7x slower than RE2 here; the regex strips the same set, and
        # is skipped when the first and last characters are plainly not whitespace.
        x = args[0]
        rx = quote(f"^{_WS_CLASS}+|{_WS_CLASS}+$")
        plain = ", ".join(str(c) for c in sorted({ord(c) for c in _WS}) if c > 32)
        first, last = f"UNICODE({x})", f"UNICODE(RIGHT({x}, 1))"
        return (
            f"(CASE WHEN {first} > 32 AND {first} NOT IN ({plain}) AND {last} > 32 "
            f"AND {last} NOT IN ({plain}) THEN {x} ELSE REGEXP_REPLACE({x}, {rx}, '', 'g') END)"
        )
    if name == "LG_LIST_DECAY":
        xs, as_of, hl = args
        if hl.upper() == "NULL":
            return f"CAST(LEN({xs}) AS DOUBLE)"
        return (
            f"LIST_SUM(LIST_TRANSFORM({xs}, lambda x: POW(CAST(2 AS DOUBLE), -({as_of} - x) "
            f"/ {hl})))"
        )
    if name == "LG_NUM":
        x = args[0]
        if dialect == "postgres":
            m = f"({x} ~ {quote(_NUM_RX)} OR LOWER({x}) ~ {quote(_INF_RX)})"
            return f"(CASE WHEN {m} THEN CAST(REPLACE({x}, '_', '') AS DOUBLE PRECISION) END)"
        rx_fn = "REGEXP_MATCHES" if dialect == "duckdb" else "RLIKE"
        m = f"({rx_fn}({x}, {quote(_NUM_RX)}) OR {rx_fn}(LOWER({x}), {quote(_INF_RX)}))"
        return f"(CASE WHEN {m} THEN CAST(REPLACE({x}, '_', '') AS DOUBLE) END)"
    if name == "LG_RX":
        pat = unquote(args[1])
        if dialect == "postgres":
            return f"({args[0]} ~ {quote(pg_regex(pat))})"
        if dialect == "spark":
            return f"({args[0]} RLIKE {quote(pat)})"
        return f"REGEXP_MATCHES({args[0]}, {quote(pat)})"
    if name == "LG_AFTER_AT":
        rx = quote("@([^@]*)$")
        if dialect == "postgres":
            return f"SUBSTRING({args[0]} FROM {rx})"
        return f"REGEXP_EXTRACT({args[0]}, {rx}, 1)"
    if name == "LG_JKIND":
        t = f"JSON_TYPE({args[0]})"
        return (
            f"(CASE {t} WHEN 'VARCHAR' THEN 'string' WHEN 'NULL' THEN 'null' "
            "WHEN 'BOOLEAN' THEN 'boolean' WHEN 'ARRAY' THEN 'array' WHEN 'OBJECT' THEN 'object' "
            f"WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number' "
            "WHEN 'HUGEINT' THEN 'number' ELSE 'missing' END)"
        )
    if name == "LG_JTEXT":
        return f"({args[0]} ->> '$')"
    if name == "LG_LIST_HAS":
        return (
            f"(LEN(LIST_FILTER({args[0]}, lambda x: LOWER(REGEXP_REPLACE(x, "
            f"{quote(f'^{_WS_CLASS}+|{_WS_CLASS}+$')}, '', 'g')) = {args[1]})) > 0)"
        )
    doc, key = args[0], unquote(args[1])
    if name == "LG_KIND":
        if dialect == "postgres":
            return f"COALESCE(JSONB_TYPEOF(CAST({doc} AS JSONB) -> {quote(key)}), 'missing')"
        if dialect == "spark":
            v = f"TRY_VARIANT_GET(PARSE_JSON({doc}), {quote(_spark_json_path(key))})"
            sch = f"UPPER(SCHEMA_OF_VARIANT({v}))"
            return (
                f"(CASE WHEN {v} IS NULL THEN 'missing' WHEN {sch} = 'VOID' THEN 'null' "
                f"WHEN {sch} = 'STRING' THEN 'string' WHEN {sch} = 'BOOLEAN' THEN 'boolean' "
                f"WHEN {sch} LIKE 'ARRAY%' THEN 'array' WHEN {sch} LIKE 'OBJECT%' THEN 'object' "
                "ELSE 'number' END)"
            )
        t = f"JSON_TYPE({doc}, {quote(_json_path(key))})"
        return (
            f"(CASE {t} WHEN 'VARCHAR' THEN 'string' WHEN 'NULL' THEN 'null' "
            "WHEN 'BOOLEAN' THEN 'boolean' WHEN 'ARRAY' THEN 'array' WHEN 'OBJECT' THEN 'object' "
            f"WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number' "
            "WHEN 'HUGEINT' THEN 'number' ELSE 'missing' END)"
        )
    if name == "LG_TEXT":
        if dialect == "postgres":
            return f"(CAST({doc} AS JSONB) ->> {quote(key)})"
        if dialect == "spark":
            return f"GET_JSON_OBJECT({doc}, {quote(_spark_json_path(key))})"
        return f"JSON_EXTRACT_STRING({doc}, {quote(_json_path(key))})"
    if name == "LG_LIST":
        return f"JSON_EXTRACT_STRING({doc}, {quote(_json_path(key) + '[*]')})"
    if name == "LG_ARRAY_HAS":
        needle = args[2]
        if dialect == "postgres":
            return (
                f"EXISTS (SELECT 1 FROM JSONB_ARRAY_ELEMENTS_TEXT(CAST({doc} AS JSONB) -> "
                f"{quote(key)}) AS arr_e(x) WHERE LOWER(BTRIM(arr_e.x, {ws})) = {needle})"
            )
        if dialect == "spark":
            return (
                f"EXISTS(FROM_JSON(GET_JSON_OBJECT({doc}, {quote(_spark_json_path(key))}), "
                f"'array<string>'), x -> LOWER(TRIM(BOTH {ws} FROM x)) = {needle})"
            )
        return (
            f"(LEN(LIST_FILTER(JSON_EXTRACT_STRING({doc}, {quote(_json_path(key) + '[*]')}), "
            f"lambda x: LOWER(REGEXP_REPLACE(x, {quote(f'^{_WS_CLASS}+|{_WS_CLASS}+$')}, '', 'g')) "
            f"= {needle})) > 0)"
        )
    raise ValueError(f"unknown placeholder {name}")  # pragma: no cover


_PLACEHOLDER = re.compile(r"\b(LG_[A-Z_]+)\(")


def expand_placeholders(sql: str, dialect: str) -> str:
    """Replace LG_*(...) calls (innermost first) with the dialect's spelling."""
    while True:
        found = None
        for m in _PLACEHOLDER.finditer(sql):
            if _in_string(sql, m.start(), dialect):
                continue
            found = m
        if found is None:
            return sql
        start = found.end()
        depth, i, quote = 1, start, False
        while depth:
            ch = sql[i]
            if quote:
                if ch == "\\" and dialect == "spark":
                    i += 1  # Spark: the next character is escaped, a quote included
                elif ch == "'":
                    if sql[i + 1 : i + 2] == "'":
                        i += 1
                    else:
                        quote = False
            elif ch == "'":
                quote = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            i += 1
        args = _split_args(sql[start : i - 1])
        sql = sql[: found.start()] + _expand(found.group(1).upper(), args, dialect) + sql[i:]


_SPARK_ESCAPED = re.compile(r"\\.", re.S)


def _in_string(sql: str, pos: int, dialect: str) -> bool:
    head = sql[:pos]
    if dialect == "spark":
        # A backslash escapes one character there (only inside strings in this SQL).
        head = _SPARK_ESCAPED.sub("", head)
    return head.count("'") % 2 == 1


def compile_scoring(
    pb: Playbook,
    as_of: float,
    dialect: str = "duckdb",
    leads: str = "leads",
    events: str = "events",
    pretty: bool = False,
) -> str:
    """One SQL query that scores every lead of `leads` from `events` as of `as_of` (epoch s).

    `dialect` is duckdb, postgres or spark. The query reads only the columns listed in
    the module docstring and returns lead_id, fit, engagement, total, fit_grade,
    engagement_grade and grade.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}, got {dialect!r}")
    build = _build_duckdb if dialect == "duckdb" else _build
    generic = build(pb, leads, events, as_of)
    if dialect == "duckdb" and not pretty:
        # Written in DuckDB's dialect already: transpiling it to itself took ~0.17 s.
        out = generic
    else:
        out = sqlglot.transpile(generic, read="duckdb", write=dialect, pretty=pretty)[0]
    if dialect == "spark":
        out = out.replace(" AS MATERIALIZED (", " AS (")
    return expand_placeholders(out, dialect)
