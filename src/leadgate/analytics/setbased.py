"""The set-based backtest: scores on columns, stage decisions in the one Python lifecycle.

`run_setbased(paths, old_text, new_text, ...)` gives the same `BacktestResult` as
`backtest.run_backtest` (the exact replay, kept as the oracle and as `--exact`):

1. `setevents` reads the history once (DuckDB), `setpairs` matches events to rules, and
   `setmoments` computes, on columns, every event's engagement state and the flags of the
   rows where a stage can move (`moments.moments_sql` says what they are);
2. the exact replay's own pruning (`backtest.can_move`, on count columns) drops the
   leads no playbook can make an MQL; `setwalk.walk` feeds `LeadProcessor` only the
   other leads' candidate rows, each carrying its computed state (`SnapshotRules.apply`
   loads it instead of scoring the event): every stage decision is the processor's
   own. A lead with manual adjustments (or a sum too large for a double) is replayed
   exactly;
3. `verify` replays a random sample of leads through the exact path and counts the leads
   whose MQL moments differ. The CLI and HTTP fail on a non-zero count.

Example:
    >>> from leadgate.analytics.moments import monotone
    >>> monotone(None)
    True
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import math
import multiprocessing
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from leadgate.analytics import backtest as bt
from leadgate.analytics.setevents import EventCols
from leadgate.analytics.setmoments import moments
from leadgate.analytics.setpairs import match_key
from leadgate.analytics.setwalk import (
    FitCache,
    Move,
    NeedsExact,
    SnapshotRules,
    snapshot_processor,
    walk,
)
from leadgate.analytics.sqldialect import dbl
from leadgate.leads import LeadState
from leadgate.scoring.engagement import ADJUSTMENT

__all__ = ["NeedsExact", "SnapshotRules", "run_setbased", "verify_sample", "walk"]

Runs = dict[int, tuple[list[float], list[float], int]]

# What forked walkers read: set by `run_setbased` just before it forks, cleared after.
_WALK: dict[str, Any] = {}
_FORK_MIN = 2000  # fewer leads walk faster than a pool starts
# Events a lead-id range holds at most (about): the set-based path's memory follows it,
# ~1.8 GB at 2M events (100k leads; docs/benchmarks-analytics.md), where the exact
# replay's target is 4 GB at any size. Fewer would cost each range DuckDB's fixed costs
# (~0.3 CPU-s) for nothing at the sizes one range holds.
CHUNK_EVENTS = 2_000_000


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic collector off for the whole backtest, left as found (a server's policy
    may have it off). What the backtest makes is freed by reference counting (a whole
    run at 20k leads / 400k events left 8 small objects in cycles), but its allocations
    set off full collections, each walking every object of the columns and lead states:
    at 20k / 400k two in the pruning (0.16 CPU-s), two in the walks (0.22-0.26 of
    1.0-1.3 CPU-s) and one in the verification (0.14-0.19); paused only in the walks,
    the ones due landed in the verification instead (+0.9 CPU-s at 100k / 2M). Once
    the backtest returns, its columns are freed and the next collection is small."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _walk_leads(ids: list[int]) -> tuple[Runs, set[int]]:
    """Walk these leads under both playbooks (`_WALK`): their MQL moments, and the leads
    the exact replay has to take."""
    w = _WALK
    procs, keep, states, rows_by = w["procs"], w["keep"], w["states"], w["rows_by"]
    moves, leads, firsts, until = w["moves"], w["leads"], w["firsts"], w["until"]
    results: Runs = {}
    exact: set[int] = set()
    for lid in ids:
        created = leads[lid][2]
        mv = moves.get(lid, [])
        to_mql = any(to == "mql" for _, to, _, _ in mv)
        runs: list[list[float]] = []
        try:
            for k, proc in enumerate(procs):
                if lid not in keep[k] or (not to_mql and lid not in rows_by[k].live):
                    # No row where the rule may hold (the first such row is a new high,
                    # so `live` has every lead with one), no hand raised: the lifecycle's
                    # two automatic ways into MQL never open, and no person moved it to
                    # MQL. People's other moves make no MQL (`backtest.can_move`), so
                    # walking it would find none; a fifth of the walks at 20k / 400k.
                    runs.append([])
                    continue
                lead = states[k][lid]
                rows = rows_by[k].lead(lid)
                reason_moves: list[Move] = [
                    (t, to, a, bt._reason(proc, lead, to)) for t, to, a, _ in mv
                ]
                runs.append(walk(proc, lead, rows, reason_moves, until))
        except NeedsExact:
            exact.add(lid)
            continue
        if runs[0] or runs[1]:
            first = firsts.get(lid)
            results[lid] = (runs[0], runs[1], int(created if first is None else first))
    return results, exact


def run_setbased(
    paths: tuple[Path, Path, Path],
    old_text: str,
    new_text: str,
    start: float | None = None,
    end: float | None = None,
    verify: int = 1000,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    phases: dict[str, float] | None = None,
    workers: int | None = None,
    chunk_events: int | None = None,
) -> bt.BacktestResult:
    """The backtest of `backtest.run_backtest`, set-based (module docstring); `verify`
    leads are replayed exactly too and `meta` says how many disagree. `phases`, when
    given, receives the CPU seconds of each step (bench/backtest.py prints them).
    `workers` processes walk the leads (default 1, see below). A history of more than
    `chunk_events` events (default CHUNK_EVENTS) is taken in lead-id ranges of about
    that many events each, one after the other, so memory follows the range, not the
    history: every step but the final comparison is per lead."""
    with _collector_paused():
        return _run_setbased(
            paths,
            old_text,
            new_text,
            start,
            end,
            verify,
            seed,
            progress,
            phases,
            workers,
            chunk_events,
        )


def _run_setbased(
    paths: tuple[Path, Path, Path],
    old_text: str,
    new_text: str,
    start: float | None,
    end: float | None,
    verify: int,
    seed: int | None,
    progress: Callable[[int, int], None] | None,
    phases: dict[str, float] | None,
    workers: int | None,
    chunk_events: int | None,
) -> bt.BacktestResult:
    import duckdb

    clock = _Phases(phases)

    procs = [snapshot_processor(old_text, "old playbook"), snapshot_processor(new_text, "new")]
    until = float(end) if end is not None else math.inf
    sql_until = until if until != math.inf else 1e300
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    n_leads = con.execute(f"SELECT COUNT(*) FROM read_parquet('{paths[0]}')").fetchone()[0]  # type: ignore[index]
    all_moves: dict[int, list[Move]] = bt.read_moves(con, paths[2], sql_until)
    results: Runs = {}
    exact: set[int] = set()
    # The leads with people's moves in id order: each range takes its slice (bisect)
    # instead of a pass over every lead's moves.
    moved = sorted(all_moves)
    with tempfile.TemporaryDirectory(prefix="lg-ranges-", dir=Path(paths[1]).parent) as tmp:
        ranges = lead_ranges(con, paths[1], sql_until, chunk_events or CHUNK_EVENTS, Path(tmp))
        for n, (source, lo, hi) in enumerate(ranges):
            con.execute(f"CREATE OR REPLACE VIEW events AS SELECT * FROM {source}")
            a = 0 if lo is None else bisect.bisect_left(moved, lo)
            b = len(moved) if hi is None else bisect.bisect_left(moved, hi)
            moves = all_moves if len(ranges) == 1 else {lid: all_moves[lid] for lid in moved[a:b]}
            got, failed = _run_range(con, paths, procs, moves, sql_until, until, clock, workers)
            results.update(got)
            exact |= failed
            if progress:
                progress(n + 1, len(ranges) + 1)
    if exact:
        results.update(exact_runs(paths, old_text, new_text, exact, until))
    clock("fallback")
    checked, differ = verify_sample(paths, old_text, new_text, results, verify, until, seed)
    clock("verify")
    if progress:
        progress(len(ranges) + 1, len(ranges) + 1)
    outcomes = bt._outcomes(con, paths)
    res = bt._compare(results, outcomes, {}, con, paths, start, end, int(n_leads or 0))
    res.meta.update(
        {
            "method": "set-based",
            "replayed_exactly": len(exact),
            "verified_leads": checked,
            "disagreements": differ,
        }
    )
    con.close()
    return res


def _run_range(
    con: Any,
    paths: tuple[Path, Path, Path],
    procs: list[Any],
    moves: dict[int, list[Move]],
    sql_until: float,
    until: float,
    clock: _Phases,
    workers: int | None,
) -> tuple[Runs, set[int]]:
    """Steps 1 and 2 (module docstring) over the events of the view `events` and the
    people's `moves` of the same leads: their MQL moments under both playbooks, and the
    leads the exact replay has to take."""
    ev = EventCols.read(con, sql_until, {lid: [m[0] for m in mv] for lid, mv in moves.items()})
    clock("read")
    counts = ev.type_counts()
    adj_code = ev.types.index(ADJUSTMENT) if ADJUSTMENT in ev.types else -1
    adjusted = set(counts.leads[counts.of(adj_code) > 0].tolist()) if adj_code >= 0 else set()
    # The exact replay's own pruning (`backtest.can_move`): a lead no playbook can make an
    # MQL is not walked at all. Most are ruled out here on their event counts alone.
    maybe = [counts.maybe(proc, moves) - adjusted for proc in procs]
    leads = _lead_rows(con, paths[0], maybe[0] | maybe[1])
    keep: list[set[int]] = []
    # The lead a playbook is asked about is the one it walks: its fields and fit are
    # computed once, and once for both playbooks when their fit sections are the same.
    states: list[dict[int, LeadState]] = [{}, {}]
    asked: dict[int, LeadState] = {}
    same_fit = procs[0].playbook.fit == procs[1].playbook.fit
    where = counts.index()
    no_events = bt.engagement_bound  # a lead with moves only: the bound of no events
    fits = FitCache()
    for k, (proc, ids) in enumerate(zip(procs, maybe, strict=True)):
        hand, bound = counts.hand_and_bound(proc)
        hand_l, bound_l = hand.tolist(), bound.tolist()
        empty_bound = no_events(proc.playbook, {})
        ok = set()
        for lid in sorted(ids):
            info = leads.get(lid)
            if info is None:
                continue
            mv = moves.get(lid, [])
            lead = LeadState(info[0], dict(info[1]), info[2], id=lid)
            other = asked.get(lid) if k == 1 and same_fit else None
            if k == 0:
                asked[lid] = lead
            elif other is not None:
                lead.fields_cache = other.fields_cache
                lead.fit_lines_cache = other.fit_lines_cache
            # `backtest.can_move`, on the counts' columns.
            i = where.get(lid)
            if any(to == "mql" for _, to, _, _ in mv) or (i is not None and hand_l[i]):
                movable = True
            elif proc.playbook.stages.mql.when is None:
                movable = False
            else:
                b = empty_bound if i is None else bound_l[i]
                # `rule_may_hold` in its two steps, the shared fit filled in between:
                # most leads here (people's moves, few events) fail the bound alone.
                if bt.bound_rules_out(proc, b):
                    movable = False
                else:
                    if lead.fit_lines_cache is None:
                        fits.fill(proc, lead)
                    movable = bt.lead_may_hold(proc, lead, b)
            if movable:
                ok.add(lid)
                states[k][lid] = lead
        keep.append(ok)
    clock("prune")
    # Two playbooks that match, cap and decay alike (a points or threshold what-if) have
    # the same weights, counts and running sums: computed once, over the leads either
    # keeps (a walk still goes by its own playbook's `keep`).
    pbs = [p.playbook for p in procs]
    alike = match_key(pbs[0], sql_until) == match_key(pbs[1], sql_until) and (
        pbs[0].engagement.half_life_days == pbs[1].engagement.half_life_days
    )
    rows_for = [keep[0] | keep[1]] * 2 if alike else keep
    rows_by = [
        moments(con, ev, pb, sql_until, ids, clock) for pb, ids in zip(pbs, rows_for, strict=True)
    ]
    ev.base = None  # the weights matrix is no longer needed
    walked = sorted(keep[0] | keep[1])
    _WALK.update(
        procs=procs, keep=keep, states=states, rows_by=rows_by, moves=moves, leads=leads,
        firsts=counts.first_times(walked), until=until,
    )  # fmt: skip
    try:
        # One by default: on this 2-core machine, shared, forked walkers cost more CPU
        # (12.9 against 9.8 CPU-s at 100k leads / 2M events) and gained no wall time.
        n_proc = workers if workers is not None else 1
        if n_proc > 1 and len(walked) >= _FORK_MIN and hasattr(os, "fork"):
            # The walks are independent: forked workers read the columns the parent
            # computed (copy-on-write) and send back only MQL moments.
            # Frozen: the children's collector would otherwise visit (and so copy) every
            # page of the parent's objects.
            gc.freeze()
            pool = multiprocessing.get_context("fork").Pool(n_proc)
            gc.unfreeze()
            try:
                parts = pool.map(_walk_leads, [walked[i::n_proc] for i in range(n_proc)])
                pool.close()
            except BaseException:
                pool.terminate()
                raise
            finally:
                pool.join()
        else:
            parts = [_walk_leads(walked)]
    finally:
        _WALK.clear()
    results: Runs = {}
    exact: set[int] = set(adjusted)
    for got, failed in parts:
        results.update(got)
        exact |= failed
    clock("walk")
    return results, exact


def lead_ranges(
    con: Any, events: Path, until: float, chunk: int, tmp: Path
) -> list[tuple[str, int | None, int | None]]:
    """The history in lead-id ranges of about `chunk` events (up to `until`) each:
    (what DuckDB reads the range's events from, first lead id, lead id after the last), the
    first range open below and the last open above, so people's moves of leads with no
    events fall in one too. One range is the exported file itself. More are filters on
    it when its row groups are in lead order (a range reads its own), else written under
    `tmp` in one pass (the store's export is in arrival order: a filter per range would
    read the whole file again for each)."""
    total = con.execute(f"SELECT COUNT(*) FROM read_parquet('{events}')").fetchone()[0]
    whole: list[tuple[str, int | None, int | None]] = [(f"read_parquet('{events}')", None, None)]
    if total <= chunk:
        return whole
    per_lead = con.execute(
        f"SELECT lead_id, COUNT(*) AS n FROM read_parquet('{events}') "
        f"WHERE CAST(occurred_at AS DOUBLE) <= {dbl(until)} GROUP BY lead_id ORDER BY lead_id"
    ).fetchnumpy()
    ids, running = per_lead["lead_id"], np.cumsum(per_lead["n"])
    if not len(ids) or running[-1] <= chunk:
        return whole
    # A range ends at the lead whose events pass each multiple of `chunk`: a lead is never
    # split, and one lead with more events than `chunk` is a range of its own.
    at = np.searchsorted(running, np.arange(chunk, running[-1], chunk), side="left") + 1
    cuts = [int(x) for x in np.unique(ids[at[at < len(ids)]])]
    if not cuts:
        return whole
    bounds: list[int | None] = [None, *cuts, None]
    if _in_lead_order(con, events):
        # Each range's filter skips the other ranges' row groups (their lead_id bounds).
        def where(lo: int | None, hi: int | None) -> str:
            parts = ([f"lead_id >= {lo}"] if lo is not None else []) + (
                [f"lead_id < {hi}"] if hi is not None else []
            )
            return " AND ".join(parts)

        return [
            (
                f"(SELECT * FROM read_parquet('{events}') WHERE {where(lo, hi)})",
                lo,
                hi,
            )
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
    case = " ".join(f"WHEN lead_id < {c} THEN {i}" for i, c in enumerate(cuts))
    con.execute(
        f"COPY (SELECT *, CASE {case} ELSE {len(cuts)} END AS lg_range "
        f"FROM read_parquet('{events}')) TO '{tmp}' (FORMAT PARQUET, PARTITION_BY (lg_range))"
    )
    return [
        (
            # Without the hive column: the view has the export's columns only.
            f"read_parquet('{tmp}/lg_range={i}/*.parquet', hive_partitioning = false)",
            bounds[i],
            bounds[i + 1],
        )
        for i in range(len(cuts) + 1)
    ]


def _in_lead_order(con: Any, events: Path) -> bool:
    """Whether the file's row groups follow each other in lead-id order (each one's
    lowest lead id at or above the one before's highest), as `parquet_metadata` says."""
    rows = con.execute(
        "SELECT stats_min, stats_max FROM parquet_metadata(?) "
        "WHERE path_in_schema = 'lead_id' ORDER BY row_group_id",
        [str(events)],
    ).fetchall()
    last = None
    for lo, hi in rows:
        if lo is None or hi is None:
            return False
        if last is not None and int(lo) < last:
            return False
        last = int(hi)
    return bool(rows)


class _Phases:
    """CPU seconds since the last call, added up under a name (nothing when not asked)."""

    def __init__(self, out: dict[str, float] | None) -> None:
        self.out = out
        self.t = self.cpu() if out is not None else 0.0

    @staticmethod
    def cpu() -> float:
        import resource  # POSIX; only a benchmark asks for the figures

        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + kids.ru_utime + kids.ru_stime

    def __call__(self, name: str) -> None:
        if self.out is None:
            return
        now = self.cpu()
        self.out[name] = self.out.get(name, 0.0) + now - self.t
        self.t = now


def _lead_rows(
    con: Any, path: Path, ids: set[int]
) -> dict[int, tuple[str, Mapping[str, Any], float]]:
    if not ids:
        return {}
    rows = con.execute(
        f"SELECT id, email, attributes, created_at FROM read_parquet('{path}') "
        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [sorted(ids)],
    ).fetchall()
    return {
        lid: (email, orjson.loads(attrs) if attrs else {}, created)
        for lid, email, attrs, created in rows
    }


def exact_runs(
    paths: tuple[Path, Path, Path], old_text: str, new_text: str, ids: set[int], until: float
) -> Runs:
    """The exact replay (`backtest`) of these leads only."""
    if not ids:
        return {}
    str_paths = tuple(str(p) for p in paths)
    return bt.run_ids(str_paths, old_text, new_text, sorted(ids), until)


def verify_sample(
    paths: tuple[Path, Path, Path],
    old_text: str,
    new_text: str,
    results: Runs,
    n: int,
    until: float,
    seed: int | None = None,
) -> tuple[int, int]:
    """(leads checked, leads whose MQL moments differ from the exact replay's)."""
    if n <= 0:
        return 0, 0
    import duckdb

    con = duckdb.connect()
    ids = [r[0] for r in con.execute(f"SELECT id FROM read_parquet('{paths[0]}')").fetchall()]
    con.close()
    rng = random.Random(seed)
    sample = set(ids) if len(ids) <= n else set(rng.sample(ids, n))
    oracle = exact_runs(paths, old_text, new_text, sample, until)
    differ = 0
    for lid in sample:
        a, b = results.get(lid), oracle.get(lid)
        if (a and (a[0], a[1])) != (b and (b[0], b[1])):
            differ += 1
    return len(sample), differ
