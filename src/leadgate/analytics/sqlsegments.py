"""Segments as SQL over the store's `leads` table (alias `l`), on SQLite and PostgreSQL.

The set-based twin of `leadgate.playbook.segments`: the same condition selects the same
leads whether a lead is tested in Python or a million are filtered in the store (a
property test holds the two together, tests/analytics/test_segment_sql.py). Field tests
are `leadgate.analytics.sqlconditions`' (the scoring compiler's), so the rules of
`leadgate.playbook.conditions` hold here too; SQLite reads them through the `lg_*`
functions `leadgate.store.sqlfunctions` registers on every connection.

    sql = segment_where(cond, "sqlite")     # a boolean expression over leads AS l
    repo.execute(f"SELECT id FROM leads l WHERE {sql}")

The text is ready for the driver: on PostgreSQL a `%` is written `%%` (psycopg's
parameters), and it holds no `?`/`%s` outside its string literals, so it may be pasted into a
statement whose parameters are bound as usual (`with_params`).
"""

from __future__ import annotations

import re

import sqlglot

from leadgate.analytics.sqlconditions import Value, field_sql, json_value, lead_field
from leadgate.analytics.sqldialect import _in_string, dbl, expand_placeholders
from leadgate.playbook.model import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    NotCondition,
    ScoreCondition,
)

STORE_DIALECTS = ("sqlite", "postgres")
_ATTRS = "l.attributes"


def _column(col: str) -> Value:
    """A text column of the lead row as a field: a string, or null when NULL."""
    return Value(f"(CASE WHEN {col} IS NULL THEN 'null' ELSE 'string' END)", col)


_STATE = {
    "stage": _column("l.stage"),
    "grade": _column("l.grade"),
    "fit_grade": _column("l.fit_grade"),
    "engagement_grade": _column("l.engagement_grade"),
    "owner": _column("l.owner"),
}


def _field(name: str) -> Value:
    state = _STATE.get(name)
    if state is not None:
        return state
    return lead_field(name, lambda k: json_value(_ATTRS, k))


def predicted_sql() -> str:
    """The `predicted` attribute when it is a JSON number, else NULL (placeholders)."""
    v = json_value(_ATTRS, "predicted")
    return f"(CASE WHEN {v.kind} = 'number' THEN CAST({v.text} AS DOUBLE) END)"


def predicted_expr(dialect: str) -> str:
    """`predicted_sql` written for the store's engine (sqlite or postgres)."""
    return _finish(predicted_sql(), dialect)


_SCORES = {"fit": "l.fit", "engagement": "l.engagement", "total": "l.score"}


def _score(cond: ScoreCondition) -> str:
    x = _SCORES.get(cond.score) or predicted_sql()
    if cond.op == "between":
        lo, hi = dbl(cond.value[0]), dbl(cond.value[1])
        return f"COALESCE(({x} >= {lo} AND {x} <= {hi}), FALSE)"
    sym = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[cond.op]
    return f"COALESCE(({x} {sym} {dbl(cond.value)}), FALSE)"


def _generic(cond: Condition) -> str:
    if isinstance(cond, FieldCondition):
        return field_sql(cond, _field)
    if isinstance(cond, ScoreCondition):
        return _score(cond)
    if isinstance(cond, AllCondition):
        return "(" + " AND ".join(_generic(c) for c in cond.all) + ")"
    if isinstance(cond, AnyCondition):
        return "(" + " OR ".join(_generic(c) for c in cond.any) + ")"
    if isinstance(cond, NotCondition):
        return f"(NOT {_generic(cond.not_)})"
    raise TypeError(f"not a condition: {cond!r}")  # pragma: no cover


_LOWER = re.compile(r"\bLOWER\(")


def segment_where(cond: Condition, dialect: str) -> str:
    """The segment as a never-NULL boolean SQL expression over `leads AS l`."""
    if dialect not in STORE_DIALECTS:
        raise ValueError(f"dialect must be one of {', '.join(STORE_DIALECTS)}, got {dialect!r}")
    return _finish(_generic(cond), dialect)


def _finish(generic: str, dialect: str) -> str:
    out = sqlglot.transpile(generic, read="duckdb", write=dialect)[0]
    if dialect == "sqlite":
        # SQLite's LOWER folds ASCII only; the conditions fold case as str.casefold does.
        out = "".join(_relower(out))
    out = expand_placeholders(out, dialect)
    if dialect == "postgres":
        out = out.replace("%", "%%")
    return out


def _relower(sql: str) -> list[str]:
    parts, last = [], 0
    for m in _LOWER.finditer(sql):
        if _in_string(sql, m.start(), "sqlite"):
            continue
        parts += [sql[last : m.start()], "lg_lower("]
        last = m.end()
    parts.append(sql[last:])
    return parts
