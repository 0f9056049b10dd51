"""Bulk ingest: events/s through `leadgate event ingest` (parse, score, lifecycle, commit).

    .venv/bin/python bench/ingest.py [--events 1000000] [--leads 100000] [--pg-url URL]

Data: the seeded demo generator (leadgate.demo.generator), written once as JSONL under
bench/out/. Runs on SQLite and, when a PostgreSQL server is available (or --pg-url), on
PostgreSQL. Prints events/s, wall time and peak memory.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson

from _common import machine, peak_rss_mb, postgres_url, sqlite_url
from leadgate.engine.engine import Engine
from leadgate.ingest.files import ingest_events
from leadgate.store.database import open_database

OUT = Path(__file__).resolve().parent / "out"


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


def run(url: str, path: Path, batch: int) -> tuple[float, int]:
    """Ingest the file into a fresh store at url; (seconds, events accepted)."""
    db = open_database(url)
    engine = Engine(db)
    engine.ensure_playbook()
    t = time.perf_counter()
    report = ingest_events(engine, path, batch_size=batch)
    elapsed = time.perf_counter() - t
    db.dispose()
    return elapsed, report.accepted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--pg-url")
    ap.add_argument("--skip-pg", action="store_true")
    args = ap.parse_args()
    path = events_file(args.leads, args.events)
    print(f"bulk ingest | {machine()}")
    print(
        f"data: {args.events:,} events over {args.leads:,} leads ({path.stat().st_size / 1e6:.0f} MB JSONL), "
        f"batches of {args.batch:,}"
    )
    with sqlite_url() as url:
        secs, n = run(url, path, args.batch)
    print(
        f"SQLite     : {n / secs:>9,.0f} events/s  ({secs:.1f} s, peak RSS {peak_rss_mb():.0f} MB)"
    )
    if args.skip_pg:
        return
    with postgres_url(args.pg_url) as pg:
        if pg is None:
            print("PostgreSQL : skipped (no server; pass --pg-url)")
            return
        secs, n = run(pg, path, args.batch)
        print(
            f"PostgreSQL : {n / secs:>9,.0f} events/s  ({secs:.1f} s, peak RSS {peak_rss_mb():.0f} MB)"
        )


if __name__ == "__main__":
    main()
