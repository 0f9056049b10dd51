"""The single writer's cost: `Engine.ingest` CPU-µs an event against a warm SQLite store.

    .venv/bin/python bench/writer.py [--sizes 1000,8000] [--warm 30000] [--events 16000]
                                     [--repeat 3] [--profile] [--sample]
                                     [--sql] [--split]

Per batch size: a fresh SQLite store with the engine `leadgate serve` builds (sales,
predictive and webhook-outbox listeners, the server's GC policy), warmed with `--warm`
events of the demo file in 1,000-event batches, then `--events` more in batches of that
size, each parsed and validated beforehand as the API does. Prints the writer thread's
CPU-µs an event (thread time around `Engine.ingest` only) and the load average.
`--profile`: cProfile of the measured batches (top functions by own time);
`--sample`: a stack-sampling view (innermost leadgate frame, 1 ms; it samples between
the GIL's switches, so it over-counts time in SQLite, which releases the GIL);
`--sql`: SQLite statements executed per batch (each executemany row counts), by kind;
`--split`: the writer's CPU in each statement the repository runs (and in COMMIT).
Alternate the code under test with PYTHONPATH (main's src against a branch's).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

import orjson

from ingest import events_file
from leadgate.api.gc_policy import FreezeAfterWrites, tune_gc
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.predictive.hooks import install as install_predictive
from leadgate.sales import install as install_sales
from leadgate.store.database import Database
from leadgate.webhooks import OutboxWriter


class _TimedCursor:
    """A DB-API cursor that adds the thread CPU of each call to `spent` by statement."""

    def __init__(self, cur: Any, spent: collections.Counter[str]):
        self._cur, self._spent = cur, spent

    def _timed(self, name: str, sql: str, *a: Any) -> Any:
        c = time.thread_time()
        try:
            return getattr(self._cur, name)(sql, *a)
        finally:
            self._spent[" ".join(sql.split()[:4])[:60]] += time.thread_time() - c

    def execute(self, sql: str, *a: Any) -> Any:
        self._timed("execute", sql, *a)
        return self

    def executemany(self, sql: str, *a: Any) -> Any:
        self._timed("executemany", sql, *a)
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)

    def __iter__(self) -> Any:
        return iter(self._cur)


def split_statements(db: Database, spent: collections.Counter[str]) -> None:
    """Time every statement the repositories run, and each COMMIT."""
    from leadgate.store.statements import Statements

    real = getattr(Statements, "_untimed_cur", Statements._cur)
    Statements._untimed_cur = real  # type: ignore[attr-defined]  # once, whatever --repeat
    Statements._cur = lambda self: _TimedCursor(real(self), spent)  # type: ignore[method-assign]
    real_commit = db.engine.dialect.do_commit

    def do_commit(dbapi_conn: Any) -> None:
        c = time.thread_time()
        real_commit(dbapi_conn)
        spent["COMMIT"] += time.thread_time() - c

    db.engine.dialect.do_commit = do_commit  # type: ignore[method-assign]


class Sampler:
    """Every ~1 ms, the innermost leadgate (or sqlite3/orjson caller) frame of one thread."""

    def __init__(self, thread_id: int):
        self.tid = thread_id
        self.counts: collections.Counter[str] = collections.Counter()
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.001):
            f = sys._current_frames().get(self.tid)
            where = "?"
            while f is not None:
                code = f.f_code
                if "leadgate" in code.co_filename:
                    name = code.co_filename.split("leadgate/")[-1]
                    where = f"{name}:{code.co_name}:{f.f_lineno}"
                    break
                f = f.f_back
            self.counts[where] += 1


def serving_engine(url: str) -> Engine:
    """An engine over a new store at `url` with what `leadgate serve` puts on it: the
    predictive and sales hooks and a webhook outbox (whose wake-up does nothing here)."""
    db = Database(url)
    db.migrate()
    engine = Engine(db)
    engine.ensure_playbook()
    install_predictive(engine)
    install_sales(engine)
    engine.listeners.append(OutboxWriter(lambda: None))
    return engine


def run(size: int, lines: list[bytes], warm: int, n: int, args: Any) -> tuple[float, int]:
    """(writer CPU seconds, events) for `n` events in batches of `size` after `warm`."""
    with tempfile.TemporaryDirectory() as d:
        engine = serving_engine(f"sqlite:///{d}/bench.db")
        db = engine.db
        policy = FreezeAfterWrites()
        now = time.time()

        def batches(start: int, stop: int, step: int) -> list[list[Any]]:
            evs = [parse_event(orjson.loads(x), now) for x in lines[start:stop]]
            return [evs[i : i + step] for i in range(0, len(evs), step)]

        for b in batches(0, warm, 1000):
            engine.ingest(b, now)
            policy.after_write()
        measured = batches(warm, warm + n, size)
        counts: collections.Counter[str] = collections.Counter()
        if args.sql:
            from sqlalchemy import event

            def trace(sql: str) -> None:
                counts[" ".join(sql.split()[:4])[:60]] += 1

            db.engine.dispose()
            event.listen(
                db.engine, "connect", lambda raw, _: raw.set_trace_callback(trace), insert=True
            )
        spent: collections.Counter[str] = collections.Counter()
        if args.split:
            split_statements(db, spent)
        prof = cProfile.Profile() if args.profile else None
        sampler = Sampler(threading.get_ident()) if args.sample else None
        if sampler:
            sampler.t.start()
        cpu = 0.0
        for b in measured:
            c = time.thread_time()
            if prof:
                prof.enable()
            engine.ingest(b, now)
            if prof:
                prof.disable()
            cpu += time.thread_time() - c
            policy.after_write()
        if sampler:
            sampler.stop.set()
            sampler.t.join()
            total = sum(sampler.counts.values())
            print(f"  samples: {total}")
            for where, k in sampler.counts.most_common(args.top):
                print(f"  {100 * k / total:5.1f}%  {where}")
        if prof:
            pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)
        if counts:
            nb = len(measured)
            print(f"  SQLite statements a batch of {size:,} (BEGIN/COMMIT included):")
            for sql, k in counts.most_common():
                print(f"  {k / nb:9,.1f}  {sql}")
        if spent:
            n_ev = sum(len(b) for b in measured)
            print(f"  writer CPU-µs an event by statement, batches of {size:,}:")
            for sql, k in spent.most_common():
                print(f"  {k / n_ev * 1e6:7.2f}  {sql}")
            print(f"  {sum(spent.values()) / n_ev * 1e6:7.2f}  all of these")
        db.dispose()
        return cpu, sum(len(b) for b in measured)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000,8000")
    ap.add_argument("--warm", type=int, default=30_000)
    ap.add_argument("--events", type=int, default=16_000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--sample", action="store_true")
    ap.add_argument("--sql", action="store_true")
    ap.add_argument("--split", action="store_true")
    ap.add_argument("--sort", default="tottime", help="cProfile order (tottime, cumulative)")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=1, help="fresh stores per size (median)")
    args = ap.parse_args()
    with events_file(100_000, 1_000_000).open("rb") as fh:
        total = args.warm + args.events
        lines = [line.strip() for line, _ in zip(fh, range(total), strict=False)]
    tune_gc()
    for size in (int(x) for x in args.sizes.split(",")):
        load0 = os.getloadavg()[0]
        per: list[float] = []
        for _ in range(args.repeat):
            cpu, n = run(size, lines, args.warm, args.events, args)
            gc.collect()
            per.append(cpu / n * 1e6)
        shown = ", ".join(f"{x:.1f}" for x in per)
        print(
            f"Engine.ingest {size:>6,}/batch: {statistics.median(per):6.1f} CPU-µs an event "
            f"(median of {shown}; {n:,} events after {args.warm:,}); "
            f"load {load0:.2f} -> {os.getloadavg()[0]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
