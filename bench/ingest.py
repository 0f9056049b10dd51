"""Bulk ingest: events/s through `leadgate event ingest` (parse, score, lifecycle, commit).

    .venv/bin/python bench/ingest.py [--events 1000000] [--leads 100000] [--pg-url URL]
                                     [--batch 20000 100000] [--api-events 100000]
                                     [--window 1000000 ...]

Data: the seeded demo generator (leadgate.demo.generator), written once as JSONL under
bench/out/. Runs on SQLite and, when a PostgreSQL server is available (or --pg-url), on
PostgreSQL, once per transaction size given (`event ingest --batch-size`). Prints events/s
by the wall clock and by this process's CPU time (the figure to trust on a machine other
jobs share: it is what one core would do; on PostgreSQL it leaves out the server's CPU),
wall time, peak memory and the load average. Then `Engine.ingest` alone at 1,000-event
batches (what the HTTP API calls per request) on the first --api-events events.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import orjson

from _common import OUT, machine, peak_rss_mb, postgres_url, sqlite_url
from leadgate.engine.engine import Engine
from leadgate.ingest.files import ingest_events
from leadgate.ingest.validate import parse_event
from leadgate.store.database import open_database


def events_file(n_leads: int, n_events: int, seed: int = 7) -> Path:
    """The demo generator's events as JSONL (cached)."""
    from leadgate.demo.generator import iter_events

    OUT.mkdir(exist_ok=True)
    path = OUT / f"events-{n_leads}-{n_events}-{seed}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            for ev in iter_events(n_leads=n_leads, n_events=n_events, seed=seed):
                fh.write(orjson.dumps(ev) + b"\n")
        tmp.rename(path)
    return path


def run(url: str, path: Path, batch: int, window: int | None = None) -> tuple[float, float, int]:
    """Ingest the file into a fresh store at url; (seconds, CPU seconds, events accepted).
    `window`: events read ahead and regrouped by lead (None: `event ingest`'s default)."""
    db = open_database(url)
    engine = Engine(db)
    engine.ensure_playbook()
    t, c = time.perf_counter(), time.process_time()
    report = ingest_events(engine, path, batch_size=batch, window=window)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    db.dispose()
    return elapsed, cpu, report.accepted


def run_api_batches(url: str, path: Path, n: int) -> tuple[float, float, int]:
    """`Engine.ingest` on 1,000-event batches of the first n events (parsed beforehand)."""
    db = open_database(url)
    engine = Engine(db)
    engine.ensure_playbook()
    now = time.time()
    events = []
    with path.open("rb") as fh:
        for line, _ in zip(fh, range(n), strict=False):
            events.append(parse_event(orjson.loads(line), now))
    t, c = time.perf_counter(), time.process_time()
    for i in range(0, len(events), 1000):
        engine.ingest(events[i : i + 1000], now)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    db.dispose()
    return elapsed, cpu, len(events)


def line(name: str, secs: float, cpu: float, n: int) -> str:
    """One result line."""
    return (
        f"{name:34s}: {n / secs:>9,.0f} events/s wall, {n / cpu:>9,.0f} events/s per CPU-s "
        f"({secs:.1f} s, {cpu:.1f} s CPU, peak RSS {peak_rss_mb():.0f} MB, "
        f"load {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--batch", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--api-events", type=int, default=100_000)
    ap.add_argument(
        "--window",
        type=int,
        nargs="*",
        default=[],
        help="also run SQLite with these read-ahead windows (event ingest --window)",
    )
    ap.add_argument("--pg-url")
    ap.add_argument("--skip-pg", action="store_true")
    args = ap.parse_args()
    path = events_file(args.leads, args.events)
    print(f"bulk ingest | {machine()}")
    print(
        f"data: {args.events:,} events over {args.leads:,} leads "
        f"({path.stat().st_size / 1e6:.0f} MB JSONL), transactions of {args.batch} events"
    )
    for batch in args.batch:
        with sqlite_url() as url:
            print(line(f"SQLite, {batch:,}/txn", *run(url, path, batch)))
        for window in args.window:
            with sqlite_url() as url:
                label = f"SQLite, {batch:,}/txn, window {window:,}"
                print(line(label, *run(url, path, batch, window)))
    with sqlite_url() as url:
        print(line("SQLite, Engine.ingest 1,000/txn", *run_api_batches(url, path, args.api_events)))
    if args.skip_pg:
        return
    with postgres_url(args.pg_url) as pg:
        if pg is None:
            print("PostgreSQL : skipped (no server; pass --pg-url)")
            return
        for batch in args.batch:
            print(line(f"PostgreSQL, {batch:,}/txn", *run(pg, path, batch)))
            _reset(pg)


def _reset(url: str) -> None:
    """Empty the PostgreSQL database for the next run (the cluster is reused)."""
    db = open_database(url)
    with db.write() as conn:
        tables = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchall()
        ]
        conn.exec_driver_sql("DROP TABLE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    db.dispose()


if __name__ == "__main__":
    main()
