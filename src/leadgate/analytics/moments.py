"""Each event's engagement state, computed set-based in DuckDB, and the moments where a
lead's stage can move ("SQL scores, Python decides", docs/architecture.md).

`moments_sql(pb, until)` is one query over the views `events` and `moves` (people's
stage moves: lead_id, at). For every event of every lead (in (occurred_at, id) order, up
to `until`) it computes what `EngagementRules.apply` would leave in the lead's state:
per rule the count of scored events, the value at the rule's last scored event and that
event's time (`Tally`). From those it computes the engagement right after the event
(`E`, rounded exactly as `EngagementRules.total`) and right before it (`E_pre`, the
previous state decayed to this moment), and flags the rows the lifecycle may act on:

- `rec`: E is (within rounding) a new high for the lead. A lead that has always been a
  lead can become an MQL by rule only at such an event when the MQL rule can only get
  truer as engagement rises (`monotone`); otherwise every row is flagged;
- `dip`: E or E_pre is near or below the exit line: only there can an MQL fall out
  (by an event, or by decay in the interval before it: the engagement is one exponential
  plus constants between events, so its low point is at an end of the interval, give or
  take a cent of rounding per rule);
- `hand`: a hand-raiser event.

Each row carries t0 (the lead's first event) and per rule n0..nK (counts) and c0..cK
(sums of 2^((t - t0)/h) over its scored events so far).
Only flagged rows, the row before each flagged one (the state the lifecycle starts from),
the last row at or before each of people's moves and each lead's last row are returned.
The stage decisions themselves are made by `LeadProcessor` (`setbased.walk`).

Example:
    >>> from leadgate.playbook.loader import bundled_playbook
    >>> "LAST_VALUE" in moments_sql(bundled_playbook()[0], 1.8e9)
    True
"""

from __future__ import annotations

import math

from leadgate.analytics.sqlcompile import scored_ctes
from leadgate.analytics.sqldialect import dbl, expand_placeholders, lit
from leadgate.playbook.model import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    Playbook,
    ScoreCondition,
)
from leadgate.scoring.engagement import DAY

# A flag's rounding room: SQL sums each rule's decay in another order than the running
# product in Python, so a value may land a cent apart where Python's lands on a tie.
_NEAR = 0.02


def monotone(cond: Condition | None) -> bool:
    """True when the rule can only become truer as engagement (and total) rise, for fixed
    fields and fit: its score tests on engagement or total are all `gt`/`gte`."""
    if cond is None or isinstance(cond, FieldCondition):
        return True
    if isinstance(cond, ScoreCondition):
        if cond.score in ("engagement", "total"):
            return cond.op in ("gt", "gte") and isinstance(cond.value, int | float)
        return True
    if isinstance(cond, AllCondition):
        return all(monotone(c) for c in cond.all)
    if isinstance(cond, AnyCondition):
        return all(monotone(c) for c in cond.any)
    from leadgate.playbook.conditions import uses_scores

    # `not`: fine only when it reads no engagement.
    return not ({"engagement", "total"} & uses_scores(cond))


def _engagement_floor(cond: Condition | None) -> float:
    """The least engagement at which a monotone MQL rule may hold (fields and fit unknown);
    infinity when no engagement makes it hold."""
    if cond is None:
        return math.inf
    from leadgate.playbook.conditions import compile_tri

    tri = compile_tri(cond)
    if tri(None, None, -math.inf) is not False:
        return -math.inf
    if tri(None, None, math.inf) is False:
        return math.inf
    cuts = sorted({float(c.value) for c in _score_tests(cond)})
    return next((c for c in cuts if tri(None, None, c) is not False), -math.inf)


def _score_tests(cond: Condition) -> list[ScoreCondition]:
    if isinstance(cond, ScoreCondition):
        ok = cond.score in ("engagement", "total") and isinstance(cond.value, int | float)
        return [cond] if ok else []
    if isinstance(cond, AllCondition | AnyCondition):
        subs = cond.all if isinstance(cond, AllCondition) else cond.any
        return [x for c in subs for x in _score_tests(c)]
    return []


def moments_sql(pb: Playbook, until: float) -> str:
    """The query described in the module docstring (DuckDB)."""
    eng = pb.engagement
    rules = eng.rules
    nr = len(rules)
    hl = eng.half_life_days * DAY if eng.half_life_days else None
    ctes, recursive = scored_ctes(pb, "events", until)
    parts = [f"{n} AS {'MATERIALIZED ' if m else ''}({b})" for n, b, m in ctes]
    two = "CAST(2 AS DOUBLE)"
    parts.append(
        "a AS (SELECT lead_id, id AS eid, type AS etype, CAST(occurred_at AS DOUBLE) AS t "
        f"FROM events WHERE CAST(occurred_at AS DOUBLE) <= {dbl(until)})"
    )
    # Each lead's decay is measured from its first event: a scored point's weight is
    # 2^((t - t0)/h), and a rule's value at a later moment is its points times the sum of
    # the weights so far, times 2^-(moment - t0)/h (one running sum per rule).
    parts.append("l0 AS (SELECT lead_id, MIN(t) AS t0 FROM a GROUP BY lead_id)")
    weight = "CAST(1 AS DOUBLE)" if hl is None else f"POW({two}, (sc.t - l0.t0) / {dbl(hl)})"
    piv = "".join(
        f", SUM(CASE WHEN r = {i} THEN {weight} END) AS w{i}, "
        f"COUNT(*) FILTER (WHERE r = {i}) AS k{i}"
        for i in range(nr)
    )
    parts.append(
        f"dp AS (SELECT sc.lead_id, sc.eid{piv} FROM sc JOIN l0 ON l0.lead_id = sc.lead_id "
        "GROUP BY sc.lead_id, sc.eid)"
    )
    pts = " + ".join(f"{dbl(r.points)} * COALESCE(dp.w{i}, 0)" for i, r in enumerate(rules))
    cols = "".join(
        f", COALESCE(dp.w{i}, 0) AS w{i}, COALESCE(dp.k{i}, 0) AS k{i}" for i in range(nr)
    )
    parts.append(
        f"j AS (SELECT a.lead_id, a.eid, a.etype, a.t, l0.t0, ({pts or '0'}) AS pw{cols} FROM a "
        "JOIN l0 ON l0.lead_id = a.lead_id "
        "LEFT JOIN dp ON dp.lead_id = a.lead_id AND dp.eid = a.eid)"
    )
    w = "PARTITION BY lead_id ORDER BY t, eid"
    cum = f"({w} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    sums = "".join(
        f", SUM(w{i}) OVER {cum} AS c{i}, SUM(k{i}) OVER {cum} AS n{i}" for i in range(nr)
    )
    parts.append(
        f"s AS (SELECT lead_id, eid, etype, t, t0, ROW_NUMBER() OVER ({w}) AS seq, "
        f"LEAD(t) OVER ({w}) AS nt, SUM(pw) OVER {cum} AS cp, pw{sums} FROM j)"
    )
    k = "CAST(1 AS DOUBLE)" if hl is None else f"POW({two}, -(t - t0) / {dbl(hl)})"
    # The unrounded engagement after and before the event: within half a cent a rule
    # (and half for the sum) of what `EngagementRules.total` says; the flags allow that.
    parts.append(f"e AS (SELECT *, cp * {k} AS e, (cp - pw) * {k} AS e_pre FROM s)")
    slack = 0.005 * (nr + 1) + _NEAR
    st = pb.stages
    eng_min = _engagement_floor(st.mql.when)
    if st.mql.when is None or eng_min == math.inf:
        rec = "FALSE"
    elif monotone(st.mql.when):
        rec = (
            f"(e > COALESCE(MAX(e) OVER ({w} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), "
            f"CAST('-inf' AS DOUBLE)) - {dbl(2 * slack)}"
            + ("" if eng_min == -math.inf else f" AND e >= {dbl(eng_min - slack)}")
            + ")"
        )
    else:
        rec = "TRUE"
    line = st.recycle.mql_exit_engagement
    hands = sorted(st.mql.hand_raisers)
    hand = f"etype IN ({', '.join(lit(h) for h in hands)})" if hands else "FALSE"
    parts.append(f"f0 AS (SELECT *, {rec} AS rec, {hand} AS hand FROM e)")
    if line is None:
        dip = "FALSE"
    else:
        # Only once the lead may have become an MQL: from its first row where the rule
        # may hold or a hand is raised, from the start if people moved it.
        room = dbl(line + slack)
        poss = (
            "COALESCE(MIN(CASE WHEN rec OR hand THEN seq END) OVER (PARTITION BY lead_id), "
            "9223372036854775807)"
        )
        dip = (
            f"((e < {room} OR (seq > 1 AND e_pre < {room})) AND (seq >= {poss} "
            "OR lead_id IN (SELECT lead_id FROM moves)))"
        )
    parts.append(f"f AS (SELECT *, {dip} AS dip FROM f0)")
    parts.append(
        "g AS MATERIALIZED (SELECT *, LEAD(cand) OVER (PARTITION BY lead_id ORDER BY seq) "
        "AS nxc FROM "
        "(SELECT *, (seq = 1 OR rec OR dip OR hand OR NOT isfinite(e)) AS cand FROM f) AS c)"
    )
    parts.append(
        "mk AS (SELECT DISTINCT g.lead_id, g.seq FROM g JOIN moves mv ON mv.lead_id = g.lead_id "
        "AND g.t <= mv.at AND (g.nt IS NULL OR g.nt > mv.at))"
    )
    # Each rule's count and running weight sum; Python turns them into a `Tally` for the
    # few rows it loads (value = points · c · 2^-(t - t0)/h), cheaper than here.
    lists = ", g.t0" + "".join(f", g.n{i} AS n{i}" for i in range(nr))
    lists += "".join(f", g.c{i} AS c{i}" for i in range(nr))
    final = (
        f"SELECT g.lead_id, g.seq, g.eid, g.etype, g.t, g.rec, g.dip, g.hand{lists} FROM g "
        "LEFT JOIN mk ON mk.lead_id = g.lead_id AND mk.seq = g.seq "
        "WHERE g.cand OR g.nt IS NULL OR mk.seq IS NOT NULL OR g.nxc "
        "ORDER BY g.lead_id, g.seq"
    )
    sql = f"WITH {'RECURSIVE ' if recursive else ''}" + ", ".join(parts) + " " + final
    return expand_placeholders(sql, "duckdb")
