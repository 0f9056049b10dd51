"""The set-based backtest: scores on columns, stage decisions in the one Python lifecycle.

`run_setbased(paths, old_text, new_text, ...)` gives the same `BacktestResult` as
`backtest.run_backtest` (the exact replay, kept as the oracle and as `--exact`):

1. `setmoments` reads the history once (DuckDB), matches events to rules and computes,
   on columns, every event's engagement state and the flags of the rows where a stage
   can move (`moments.moments_sql` says what they are);
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

import contextlib
import gc
import math
import multiprocessing
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from leadgate.analytics import backtest as bt
from leadgate.analytics.setmoments import EventCols, match_key, moments
from leadgate.analytics.setwalk import (
    FitCache,
    Move,
    NeedsExact,
    SnapshotRules,
    snapshot_processor,
    walk,
)
from leadgate.leads import LeadState
from leadgate.scoring.engagement import ADJUSTMENT

__all__ = ["NeedsExact", "SnapshotRules", "run_setbased", "verify_sample", "walk"]

Runs = dict[int, tuple[list[float], list[float], int]]

# What forked walkers read: set by `run_setbased` just before it forks, cleared after.
_WALK: dict[str, Any] = {}
_FORK_MIN = 2000  # fewer leads walk faster than a pool starts


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
) -> bt.BacktestResult:
    """The backtest of `backtest.run_backtest`, set-based (module docstring); `verify`
    leads are replayed exactly too and `meta` says how many disagree. `phases`, when
    given, receives the CPU seconds of each step (bench/backtest.py prints them).
    `workers` processes walk the leads (default 1, see below)."""
    with _collector_paused():
        return _run_setbased(
            paths, old_text, new_text, start, end, verify, seed, progress, phases, workers
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
) -> bt.BacktestResult:
    import duckdb

    clock = _Phases(phases)

    procs = [snapshot_processor(old_text, "old playbook"), snapshot_processor(new_text, "new")]
    until = float(end) if end is not None else math.inf
    sql_until = until if until != math.inf else 1e300
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{paths[1]}')")
    n_leads = con.execute(f"SELECT COUNT(*) FROM read_parquet('{paths[0]}')").fetchone()[0]  # type: ignore[index]
    moves: dict[int, list[Move]] = bt.read_moves(con, paths[2], sql_until)
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
    if progress:
        progress(1, 3)
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
    if progress:
        progress(2, 3)
    if exact:
        results.update(exact_runs(paths, old_text, new_text, exact, until))
    clock("fallback")
    checked, differ = verify_sample(paths, old_text, new_text, results, verify, until, seed)
    clock("verify")
    if progress:
        progress(3, 3)
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
