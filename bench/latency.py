"""Single-event latency (ingest + rescore + commit) and `lead show` latency.

    .venv/bin/python bench/latency.py [--events 1000000] [--leads 100000] [--samples 5000]
                                      [--pg | --pg-url URL]

Builds (once, cached under bench/out/) a SQLite store with the demo generator's events,
then measures on a copy: one event in, scored, stage updated and committed, p50/p99; and
`Engine.show` (what `lead show` and GET /leads/{id} run) p50/p99. Each also by the thread's
CPU time, which a busy machine's scheduling does not stretch (commit I/O waits excluded).

--pg measures the same on PostgreSQL: a private throwaway cluster (tests/pgcluster.py,
fsync off) or the server at --pg-url, loaded with the same events by `ingest_events` in
100,000-event transactions first (~20-30 s for 1M events). The thread's CPU time then
leaves out the server's.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import time
from pathlib import Path

from _common import machine, percentile, postgres_url
from ingest import OUT, events_file
from leadgate.engine.engine import Engine
from leadgate.ingest.files import ingest_events
from leadgate.ingest.validate import parse_event
from leadgate.store.database import open_database


def store(n_leads: int, n_events: int) -> Path:
    """A SQLite store holding the demo events (cached)."""
    path = OUT / f"store-{n_leads}-{n_events}.db"
    if not path.exists():
        tmp = OUT / "building.db"
        for p in OUT.glob("building.db*"):
            p.unlink()
        engine = Engine(open_database(f"sqlite:///{tmp}"))
        engine.ensure_playbook()
        ingest_events(engine, events_file(n_leads, n_events), batch_size=20_000)
        engine.db.dispose()
        tmp.rename(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--pg", action="store_true", help="on a throwaway PostgreSQL cluster")
    ap.add_argument("--pg-url", help="on this PostgreSQL database (implies --pg)")
    args = ap.parse_args()
    if args.pg or args.pg_url:
        with postgres_url(args.pg_url) as url:
            if url is None:
                raise SystemExit("no PostgreSQL server (install one, or pass --pg-url)")
            engine = Engine(open_database(url))
            engine.ensure_playbook()
            ingest_events(engine, events_file(args.leads, args.events), batch_size=100_000)
            # What autovacuum would have done a little after the bulk load: measure the
            # settled store, not the planner's guesses about fresh tables.
            with engine.db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE"
                )
            measure(engine, args, "PostgreSQL")
        return
    src = store(args.leads, args.events)
    work = OUT / "latency.db"
    shutil.copyfile(src, work)
    measure(Engine(open_database(f"sqlite:///{work}")), args, "SQLite")
    for p in OUT.glob("latency.db*"):
        p.unlink()


def measure(engine: Engine, args: argparse.Namespace, backend: str) -> None:
    """Time `args.samples` single-event ingests and as many `show`s; print p50/p99."""
    engine.processor()
    with engine.db.read() as conn:
        emails = [r[0] for r in conn.exec_driver_sql("SELECT email FROM leads").fetchall()]
    rnd = random.Random(1)
    types = ["page_view", "email_click", "webinar_attended", "whitepaper_download"]
    lat: list[float] = []
    lat_cpu: list[float] = []
    for i in range(args.samples):
        ev = parse_event(
            {
                "id": f"lat-{i}",
                "email": rnd.choice(emails),
                "type": rnd.choice(types),
                "properties": {"url": "/pricing"},
            },
            time.time(),
        )
        t, c = time.perf_counter(), time.thread_time()
        engine.ingest([ev])
        lat.append((time.perf_counter() - t) * 1000)
        lat_cpu.append((time.thread_time() - c) * 1000)
    show: list[float] = []
    show_cpu: list[float] = []
    for _ in range(args.samples):
        email = rnd.choice(emails)
        t, c = time.perf_counter(), time.thread_time()
        engine.show(email)
        show.append((time.perf_counter() - t) * 1000)
        show_cpu.append((time.thread_time() - c) * 1000)
    print(f"latency | {machine()}")
    print(
        f"store: {backend}, {args.events:,} events over {args.leads:,} leads; "
        f"{args.samples:,} samples each"
    )
    print(f"load average {os.getloadavg()[0]:.1f} (other jobs on the cores stretch the wall clock)")
    for name, wall, cpu in (
        ("one event in, scored, committed", lat, lat_cpu),
        ("lead show", show, show_cpu),
    ):
        print(
            f"{name:32s}: p50 {percentile(wall, 50):.2f} ms  p99 {percentile(wall, 99):.2f} ms"
            f"  (CPU: p50 {percentile(cpu, 50):.2f} ms  p99 {percentile(cpu, 99):.2f} ms)"
        )
    engine.db.dispose()


if __name__ == "__main__":
    main()
