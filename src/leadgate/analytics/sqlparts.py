"""The pieces both scoring queries share: cents rounded as Python rounds them, manual
adjustments, grades and the final WITH assembly (see `leadgate.analytics.sqlcompile`).

Example:
    >>> import duckdb
    >>> sql = f"SELECT {round2('CAST(2.675 AS DOUBLE)')}"
    >>> duckdb.connect().execute(sql).fetchone()[0] == round(2.675, 2) == 2.67
    True
"""

from __future__ import annotations

from collections.abc import Callable

from leadgate.analytics.sqlconditions import (
    Value,
    _number,
    json_value,
)
from leadgate.analytics.sqldialect import (
    dbl,
    lit,
)
from leadgate.playbook.model import (
    Playbook,
)
from leadgate.scoring.engagement import ADJUSTMENT

_SENTINEL = "CAST(-1e300 AS DOUBLE)"


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


def _case_r(values: dict[int, str], default: str = "NULL") -> str:
    if not values:
        return default
    whens = " ".join(f"WHEN {k} THEN {v}" for k, v in values.items())
    return f"(CASE r {whens} ELSE {default} END)"


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
            "SELECT lead_id, t, eid, "
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
            f"SELECT lead_id, LG_FOLD_SUM(pts * {adj_decay}, t, eid) AS x FROM adj "
            "WHERE NOT is_fit GROUP BY lead_id, label",
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
