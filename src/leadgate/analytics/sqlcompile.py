"""Compile a playbook's scoring (fit, capped and decayed engagement, grades) to one SQL query.

The query is written once in DuckDB's dialect, with a few placeholder functions for the
things engines spell differently (JSON access, trimming, regular expressions, safe number
parsing), transpiled by SQLGlot to the target dialect (postgres, spark; DuckDB's is used as
written), and the placeholders are then expanded with that dialect's spelling.
Split by concept: `sqlconditions` writes playbook conditions as SQL, `sqldialect` spells
the placeholders per engine, `sqlparts` holds what both queries share (rounding,
adjustments, grades), `sqlduckdb` builds the faster DuckDB query, and this module the
portable one and `compile_scoring`.

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

Numbers, the text of values (`contains`, `matches`) and regexes follow the one rule of
`leadgate.playbook.conditions` in every engine: numbers from ASCII digits only (the same
`NUMBER_RX`), a whole number's text from a BIGINT cast (never the JSON text, which
engines spell differently), and `matches` patterns written out per engine by
`leadgate.playbook.regex.to_dialect`. Known difference (documented in docs/analytics.md):
text comparisons use SQL `lower()` where Python uses `str.casefold()` (they differ
outside ASCII, e.g. "ß"). Spark needs 4.1+ (recursive CTE)
when a rule has `max_per_days`, and 4.0+ (VARIANT) for JSON value types.
"""

from __future__ import annotations

import sqlglot

from leadgate.analytics.sqlconditions import (
    Columns,
    condition_sql,
    lead_field,
)
from leadgate.analytics.sqldialect import (
    DIALECTS,
    dbl,
    expand_placeholders,
    lit,
)
from leadgate.analytics.sqlduckdb import build_duckdb
from leadgate.analytics.sqlparts import (
    _SENTINEL,
    _adjustments,
    _case_r,
    _grades,
    round2,
    round2_staged,
)
from leadgate.playbook.model import (
    Playbook,
)
from leadgate.scoring.engagement import ADJUSTMENT, DAY

__all__ = [
    "DIALECTS",
    "compile_scoring",
    "dbl",
    "expand_placeholders",
    "lit",
    "round2",
    "round2_staged",
]


def scored_ctes(
    pb: Playbook, events: str, as_of: float
) -> tuple[list[tuple[str, str, bool]], bool]:
    """The CTEs up to `sc(lead_id, r, eid, t)`: every (event, rule) that scores, caps and
    rolling windows applied (and `ev`, the events read, with `adj` material), and whether
    they are recursive. The set-based backtest builds each event's state from them."""
    eng = pb.engagement
    rules = eng.rules
    hl = eng.half_life_days * DAY if eng.half_life_days else None
    as_of_sql = dbl(as_of)
    types = sorted({r.event for r in rules} | {ADJUSTMENT})
    ctes: list[tuple[str, str, bool]] = []
    scored, rolling = _scored(pb, ctes, as_of_sql, types, hl, events)
    if scored:
        ctes.append(("sc", " UNION ALL ".join(scored), False))
    else:
        ctes.append(("sc", "SELECT lead_id, 0 AS r, eid, t FROM ev WHERE FALSE", False))
    return ctes, rolling


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
    scored, rolling_any = _scored(pb, ctes, as_of_sql, types, hl, events)
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
    return _grades(pb, ctes, recursive=rolling_any)


def _scored(
    pb: Playbook,
    ctes: list[tuple[str, str, bool]],
    as_of_sql: str,
    types: list[str],
    hl: float | None,
    events: str = "events",
) -> tuple[list[str], bool]:
    """Append the CTEs that pick the scoring (event, rule) pairs; the SELECTs of
    `(lead_id, r, eid, t)` to union, and whether a rolling window needs recursion."""
    rules = pb.engagement.rules
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
        scored.append(f"SELECT lead_id, r, eid, t FROM m WHERE r IN ({', '.join(map(str, plain))})")
    if capped:
        caps = {i: str(rules[i].max_per_lead) for i in capped}
        ctes.append(
            (
                "mc",
                "SELECT lead_id, r, eid, t, ROW_NUMBER() OVER (PARTITION BY lead_id, r "
                f"{order}) AS rn FROM m WHERE r IN ({', '.join(map(str, capped))})",
                False,
            )
        )
        scored.append(f"SELECT lead_id, r, eid, t FROM mc WHERE rn <= {_case_r(caps)}")
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
                    "SELECT lead_id, r, eid, t, ROW_NUMBER() OVER (PARTITION BY lead_id, r "
                    f"{order}) AS k FROM rw",
                    False,
                )
            )
            scored.append(
                f"SELECT lead_id, r, eid, t FROM rn WHERE k <= {_case_r(lead_caps, '-1')}"
            )
            scored.append(
                "SELECT lead_id, r, eid, t FROM rw "
                f"WHERE r NOT IN ({', '.join(map(str, lead_caps))})"
            )
        else:
            scored.append("SELECT lead_id, r, eid, t FROM rw")

    return scored, bool(rolling)


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
    build = build_duckdb if dialect == "duckdb" else _build
    generic = build(pb, leads, events, as_of)
    if dialect == "duckdb" and not pretty:
        # Written in DuckDB's dialect already: transpiling it to itself took ~0.17 s.
        out = generic
    else:
        out = sqlglot.transpile(generic, read="duckdb", write=dialect, pretty=pretty)[0]
    if dialect == "spark":
        out = out.replace(" AS MATERIALIZED (", " AS (")
    return expand_placeholders(out, dialect)
