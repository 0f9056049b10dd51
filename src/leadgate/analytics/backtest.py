"""Backtest: replay history under two playbooks and compare MQLs, conversions and timing.

Each lead's history is replayed through the same `LeadProcessor` the real-time engine
uses (so the MQL moments obey exactly the same lifecycle: the MQL rule checked at every
event, hand-raisers, decay exits, cooldowns). People's stage moves (accept, qualify, win,
recycle …) are re-applied at their historical times when the simulated lead can make them
(a lead that never became an MQL under the new rules could not have been accepted).
Outcomes (reached SQL, became a customer) are the historical facts of each lead.

Leads that provably never enter MQL are not replayed: no people's move to MQL, no
hand-raiser event, and an MQL rule that is false whatever the engagement (given the
lead's fit and fields, and a bound of the engagement its events can give). Replays run
in worker processes over lead-id ranges, reading the Parquet export, so memory stays
bounded.

Assumption (documented): a lead's attributes are its current ones for the whole history
(the store keeps no attribute history).
"""

from __future__ import annotations

import functools
import math
import multiprocessing as mp
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# Split by concept (history, pruning, comparison); every name stays importable from here,
# and the run looks them up here (tests replace `can_move` and `_compare` here).
from leadgate.analytics.backtest_compare import (
    _OUTCOMES,
    BacktestResult,
    _compare,
    _median_days,
    _outcomes,
    _rate,
    month_of,
)
from leadgate.analytics.backtest_history import RangeHistory, read_moves, read_range
from leadgate.analytics.backtest_prune import (
    bound_rules_out,
    can_move,
    engagement_bound,
    lead_may_hold,
    rule_may_hold,
)
from leadgate.leads import LeadProcessor, LeadState
from leadgate.leads.processor import AUTOMATIC_STAGES
from leadgate.lifecycle.stages import IllegalTransition, Transition
from leadgate.playbook.loader import load_playbook
from leadgate.scoring.engagement import Event

_EVENTS_PER_RANGE = 600_000

__all__ = [
    "_OUTCOMES",
    "BacktestResult",
    "LeadRun",
    "RangeHistory",
    "_compare",
    "_median_days",
    "_outcomes",
    "_rate",
    "bound_rules_out",
    "can_move",
    "engagement_bound",
    "lead_may_hold",
    "month_of",
    "range_count",
    "read_moves",
    "read_range",
    "replay_lead",
    "rule_may_hold",
    "run_backtest",
    "run_ids",
]


# -- replay --------------------------------------------------------------------------------


@dataclass(slots=True)
class LeadRun:
    """One lead's MQL entries (times) under one playbook."""

    mql_at: list[float] = field(default_factory=list)


def replay_lead(
    proc: LeadProcessor,
    lead: LeadState,
    events: list[Event],
    moves: list[tuple[float, str, str, str | None]],
    until: float,
) -> list[Transition]:
    """Replay one lead: events in order, people's moves at their times; the transitions,
    up to where no rule can move the lead any more (after people's last move, in a stage
    only people leave)."""
    out: list[Transition] = []
    i = 0
    for at, to, actor, reason in moves:
        batch = []
        while i < len(events) and events[i].at <= at:
            batch.append(events[i])
            i += 1
        if batch:
            out += proc.apply_events(lead, batch, batch[-1].at, rescore=False)
        try:
            out += proc.advance(lead, at, rescore=False)
            out.append(proc.set_stage(lead, to, actor, reason, at, rescore=False))
        except IllegalTransition:
            continue
    if lead.stage not in AUTOMATIC_STAGES:
        # After the last of people's moves, only the rules could move the lead again,
        # and from here none can: its later events change no MQL moment (~8% of the
        # events a backtest replays).
        return out
    rest = [e for e in events[i:] if e.at <= until]
    if rest:
        out += proc.apply_events(lead, rest, rest[-1].at, rescore=False)
    out += proc.advance(lead, until, rescore=False)
    return out


@functools.lru_cache(maxsize=8)
def _processor(text: str, name: str) -> LeadProcessor:
    # Parsed once per worker process, not once per lead range.
    return LeadProcessor(load_playbook(text, name))


def _run_range(args: tuple[Any, ...]) -> dict[int, tuple[list[float], list[float], int]]:
    """Worker: replay leads with lo <= id < hi under both playbooks."""
    paths, old_text, new_text, lo, hi, until = args
    return _replay_range(read_range(paths, lo, hi, until), old_text, new_text, until)


def run_ids(
    paths: tuple[str, ...], old_text: str, new_text: str, ids: list[int], until: float
) -> dict[int, tuple[list[float], list[float], int]]:
    """The exact replay of the leads `ids` (in one process): the set-based backtest's
    oracle and its fallback."""
    return _replay_range(read_range(paths, 0, 0, until, ids), old_text, new_text, until)


def _replay_range(
    h: RangeHistory, old_text: str, new_text: str, until: float
) -> dict[int, tuple[list[float], list[float], int]]:
    old = _processor(old_text, "old")
    new = _processor(new_text, "new")
    props_types = old.rules.property_types | new.rules.property_types
    types, ats, starts, moves = h.types, h.ats, h.spans, h.moves
    out: dict[int, tuple[list[float], list[float], int]] = {}
    for lid, email, attrs_text, created in h.leads:
        a, b = starts.get(lid, (0, 0))
        mv = moves.get(lid, [])
        if a == b and not mv:
            continue
        evtypes = Counter(types[a:b])
        to_mql = any(to == "mql" for _, to, _, _ in mv)
        attrs = orjson.loads(attrs_text) if attrs_text else {}
        # Events are built only for a lead some playbook has to replay.
        evs: list[Event] | None = None
        runs: list[list[float]] = []
        for proc in (old, new):
            lead = LeadState(email, dict(attrs), created, id=lid)
            if not can_move(proc, lead, evtypes, bool(mv), to_mql):
                runs.append([])
                continue
            if evs is None:
                evs = h.events(a, b, props_types)
            reason_moves: list[tuple[float, str, str, str | None]] = [
                (t, to, actor, _reason(proc, lead, to)) for t, to, actor, _ in mv
            ]
            ts = replay_lead(proc, lead, evs, reason_moves, until)
            runs.append([t.at for t in ts if t.to_stage == "mql"])
        first = ats[a] if b > a else created
        if runs[0] or runs[1]:
            out[lid] = (runs[0], runs[1], int(first))
    return out


def _reason(proc: LeadProcessor, lead: LeadState, to: str) -> str:
    listed = proc.playbook.stages.reasons.get(to)
    return listed[0] if listed else "replayed"


# -- the run -------------------------------------------------------------------------------


def _ranges(lo: int, hi: int, parts: int) -> Iterator[tuple[int, int]]:
    step = max(1, math.ceil((hi - lo + 1) / parts))
    a = lo
    while a <= hi:
        yield a, min(a + step, hi + 1)
        a += step


def range_count(n_events: int, workers: int) -> int:
    """How many lead ranges a replay of `n_events` events splits into."""
    # Each range rescans the Parquet row groups it overlaps, so small ranges waste reads
    # (64 ranges on 2M events took a fifth longer than 8); large ones cost memory
    # (~1 KB an event in a worker). At least four a worker, for an even finish.
    return max(4 * workers, math.ceil(n_events / _EVENTS_PER_RANGE))


def run_backtest(
    paths: tuple[Path, Path, Path],
    old_text: str,
    new_text: str,
    start: float | None = None,
    end: float | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunks: int | None = None,
) -> BacktestResult:
    """Replay the exported history under `old_text` and `new_text` (playbook YAML).

    `paths` are the leads, events and transitions Parquet files (`batch.export_store`).
    MQLs are counted in the months of [start, end); history up to `end` is replayed.
    `progress(done, total)` is called as lead ranges finish. Ctrl-C stops the workers.
    `chunks` lead ranges are replayed (by default about 600,000 events each, and at least
    four per worker).
    """
    import duckdb

    load_playbook(old_text, "old playbook")
    load_playbook(new_text, "new playbook")
    con = duckdb.connect()
    lo, hi, n_leads = con.execute(
        f"SELECT MIN(id), MAX(id), COUNT(*) FROM read_parquet('{paths[0]}')"
    ).fetchone()  # type: ignore[misc]
    until = float(end) if end is not None else math.inf
    results: dict[int, tuple[list[float], list[float], int]] = {}
    if n_leads:
        workers = workers or os.cpu_count() or 1
        if chunks is None:
            count = f"SELECT COUNT(*) FROM read_parquet('{paths[1]}')"
            chunks = range_count(con.execute(count).fetchone()[0], workers)  # type: ignore[index]
        tasks = [
            (tuple(str(p) for p in paths), old_text, new_text, a, b, until)
            for a, b in _ranges(int(lo), int(hi), chunks)
        ]
        workers = min(workers, len(tasks))
        if workers <= 1:
            for i, t in enumerate(tasks):
                results.update(_run_range(t))
                if progress:
                    progress(i + 1, len(tasks))
        else:
            ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
            pool = ctx.Pool(workers)
            try:
                for i, part in enumerate(pool.imap_unordered(_run_range, tasks)):
                    results.update(part)
                    if progress:
                        progress(i + 1, len(tasks))
                pool.close()
            except BaseException:
                pool.terminate()
                raise
            finally:
                pool.join()
    outcomes = _outcomes(con, paths)
    emails: dict[int, str] = {}
    return _compare(results, outcomes, emails, con, paths, start, end, int(n_leads or 0))
