"""Which (event, rule) pairs score under a playbook, on the set-based backtest's columns:
DuckDB matches events to rules (type and `if`, the portable scorer's own query), and the
caps are applied here on the sorted rows, `max_per_days` by the same greedy walk as
`EngagementRules.apply`, stepped for every (lead, rule) at once (`_greedy`).

    pos, rule = _pairs(con, events, playbook, until)   # row positions and rule indexes
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leadgate.analytics.setevents import EventCols
from leadgate.analytics.sqlcompile import _scored
from leadgate.analytics.sqldialect import dbl, expand_placeholders
from leadgate.playbook.model import Playbook
from leadgate.scoring.engagement import ADJUSTMENT, DAY


def match_key(pb: Playbook, until: float) -> tuple[str, Any] | None:
    """What decides `_pairs` under `pb`: the matching query and each rule's caps (None:
    no rule can match). Two playbooks with equal keys score the same (event, rule) pairs.
    """
    rules = pb.engagement.rules
    if not rules:
        return None
    hl = pb.engagement.half_life_days * DAY if pb.engagement.half_life_days else None
    ctes: list[tuple[str, str, bool]] = []
    types = sorted({r.event for r in rules} | {ADJUSTMENT})
    _scored(pb, ctes, dbl(until), types, hl, "events")
    names = [n for n, _, _ in ctes]
    if "m" not in names:
        return None
    upto = ctes[: names.index("m") + 1]
    parts = [f"{n} AS {'MATERIALIZED ' if m else ''}({b})" for n, b, m in upto]
    sql = (
        "WITH "
        + ", ".join(parts)
        + " SELECT q.pos, m.r FROM m JOIN lg_evo AS q ON q.lead_id = m.lead_id AND q.id = m.eid"
    )
    caps = tuple(
        (
            r.max_per_lead,
            None if r.max_per_days is None else (r.max_per_days.count, r.max_per_days.days),
        )
        for r in rules
    )
    return sql, caps


def _pairs(con: Any, ev: EventCols, pb: Playbook, until: float) -> tuple[np.ndarray, np.ndarray]:
    """(row position, rule) of every scoring (event, rule) pair under `pb`, in row order
    per rule.

    DuckDB matches events to rules (type and `if`, the portable scorer's own `m`); the
    caps are applied here on the sorted rows: `max_per_lead` keeps a rule's first N, and
    `max_per_days` is the greedy walk of `EngagementRules.apply` (an event scores when
    the `count`-th latest scored time of its rule is at or before t - days), stepped for
    every (lead, rule) at once: one numpy step per position, over the groups that long.
    The portable query's recursive walk took ~3 CPU-s at 20k leads / 400k events."""
    none = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    key = match_key(pb, until)
    if key is None:
        return none
    got = ev.pairs.get(key)
    if got is None:
        got = ev.pairs[key] = _capped(con, ev, pb.engagement.rules, key[0])
    return got


def _capped(con: Any, ev: EventCols, rules: Any, sql: str) -> tuple[np.ndarray, np.ndarray]:
    """`_pairs` computed: the matching query run, the caps applied."""
    tab = con.sql(expand_placeholders(sql, "duckdb")).to_arrow_table()
    pos = tab.column(0).to_numpy().astype(np.int64, copy=False)
    r = tab.column(1).to_numpy().astype(np.int64, copy=False)
    order = np.argsort(r * (len(ev.lead) + 1) + pos, kind="stable")
    pos, r = pos[order], r[order]
    lead = ev.lead[pos]
    n = len(pos)
    new = np.ones(n, dtype=bool)
    if n:
        new[1:] = (r[1:] != r[:-1]) | (lead[1:] != lead[:-1])
    gstart = np.flatnonzero(new)
    gid = np.cumsum(new) - 1
    keep = np.zeros(n, dtype=bool)
    for i, rule in enumerate(rules):
        a, b = int(np.searchsorted(r, i, "left")), int(np.searchsorted(r, i, "right"))
        if a == b:
            continue
        g0 = gid[a:b] - gid[a]
        starts = gstart[gid[a] : gid[b - 1] + 1] - a
        if rule.max_per_days is not None:
            ok = _greedy(
                ev.t[pos[a:b]], starts, rule.max_per_days.count, rule.max_per_days.days * DAY
            )
        else:
            ok = np.ones(b - a, dtype=bool)
        if rule.max_per_lead is not None:
            # The first N scored of each (lead, rule).
            c = np.cumsum(ok)
            before = np.concatenate(([0], c))[starts][g0]
            ok &= (c - before) <= rule.max_per_lead
        keep[a:b] = ok
    return pos[keep], r[keep]


_FEW = 16


def _greedy_one(t: np.ndarray, ok: np.ndarray, a: int, b: int, w: list[float], days: float) -> None:
    """`_greedy` for one group's rows a..b, from the state `w`."""
    ts = t[a:b].tolist()
    hits = []
    for k, tk in enumerate(ts):
        if w[0] <= tk - days:
            w.pop(0)
            w.append(tk)
            hits.append(a + k)
    ok[hits] = True


def _greedy(
    t: np.ndarray, starts: np.ndarray, count: int, days: float, few: int = _FEW
) -> np.ndarray:
    """Which events of each group (rows starts[g].. in time order) a rolling window of
    `count` per `days` scores, greedily in order."""
    n = len(t)
    ends = np.append(starts[1:], n)
    sizes = ends - starts
    by_size = np.argsort(-sizes, kind="stable")
    st, sz = starts[by_size], sizes[by_size]
    # The last `count` scored times of each group, oldest first.
    w = np.full((len(st), count), -np.inf)
    ok = np.zeros(n, dtype=bool)
    for j in range(int(sz[0]) if len(sz) else 0):
        act = int(np.searchsorted(-sz, -j, "left"))  # groups longer than j come first
        if act <= few:
            # A handful of long histories (a bot's 30,000 clicks) left: one by one,
            # not a numpy step per event.
            for g in range(act):
                _greedy_one(t, ok, int(st[g]) + j, int(st[g] + sz[g]), w[g].tolist(), days)
            break
        idx = st[:act] + j
        tj = t[idx]
        hit = w[:act, 0] <= tj - days
        ok[idx[hit]] = True
        if count > 1:
            w[:act][hit, :-1] = w[:act][hit, 1:]
        w[:act][hit, -1] = tj[hit]
    return ok
