"""Full rescore after a playbook change: leads/s (wall clock and per CPU-second), against
the storage floor of bench/floors.py (every lead read and written back, no scoring)
measured in the same run on the same store.

.venv/bin/python bench/rescore.py [--events 1000000] [--leads 100000]
    [--method set|per-lead|both] [--runs 1] [--pg]

Each run starts from a fresh copy of the store. `--method both` alternates the set-based
path (engine/rescore_set.py, the default) and the per-lead path, so both see the same load;
the set path checks 1,000 leads against the per-lead path, as it does by default.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import machine, peak_rss_mb
from floors import rescore_floor
from ingest import OUT
from latency import store
from leadgate.engine.engine import Engine
from leadgate.playbook.loader import bundled_playbook
from leadgate.store.database import open_database


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--method", choices=("set", "per-lead", "both"), default="both")
    ap.add_argument("--runs", type=int, default=1, help="runs of each change and path")
    ap.add_argument("--pg", action="store_true", help="also on a throwaway PostgreSQL cluster")
    args = ap.parse_args()
    src = store(args.leads, args.events)
    _, text = bundled_playbook()
    changes = {
        "points only (state carried over)": text.replace(
            "{event: webinar_attended, points: 20}", "{event: webinar_attended, points: 25}"
        ),
        "half-life changed (every event replayed)": text.replace(
            "half_life_days: 30", "half_life_days: 21"
        ),
    }
    methods = ("set", "per-lead") if args.method == "both" else (args.method,)
    print(f"full rescore | {machine()}")
    print(f"store: SQLite, {args.events:,} events over {args.leads:,} leads")
    with tempfile.TemporaryDirectory(dir=OUT) as d:
        n, secs, cpu = rescore_floor(Path(d), args.leads, args.events)
    floor = n / cpu
    print(f"floor (read every lead, write back engagement, score, state): {floor:,.0f} per CPU-s")
    work = OUT / "rescore.db"
    for what, changed in changes.items():
        for _ in range(args.runs):
            for method in methods:
                for p in OUT.glob("rescore.db*"):
                    p.unlink()
                shutil.copyfile(src, work)
                engine = Engine(open_database(f"sqlite:///{work}"))
                engine.rescore_method = method
                t, c = time.perf_counter(), time.process_time()
                _, _, n = engine.activate_playbook(changed, "bench.yaml", "bench")
                secs, cpu = time.perf_counter() - t, time.process_time() - c
                print(
                    f"{what:42s} {method:8s}: {n:,} leads in {secs:.2f} s = "
                    f"{n / secs:,.0f} leads/s wall, {n / cpu:,.0f} per CPU-s "
                    f"({cpu:.2f} CPU-s) = {n / cpu / floor:.0%} of the floor; "
                    f"peak RSS {peak_rss_mb():.0f} MB, load {os.getloadavg()[0]:.1f}"
                )
                engine.db.dispose()
    for p in OUT.glob("rescore.db*"):
        p.unlink()
    if args.pg:
        pg(args, changes, methods)


def pg(args: argparse.Namespace, changes: dict[str, str], methods: tuple[str, ...]) -> None:
    """The same changes on a throwaway PostgreSQL cluster: one store, so each activation
    starts from the one before (a change, then back, then the change again, ...)."""
    from _common import postgres_url
    from floors import postgres_cpu
    from ingest import events_file
    from leadgate.ingest.files import ingest_events

    _, base = bundled_playbook()
    with postgres_url(None) as url:
        if url is None:
            print("PostgreSQL: no server")
            return
        engine = Engine(open_database(url))
        engine.ensure_playbook()
        ingest_events(engine, events_file(args.leads, args.events), batch_size=100_000)
        print(f"PostgreSQL (client + server CPU), {args.events:,} events over {args.leads:,} leads")
        for what, changed in changes.items():
            for _ in range(args.runs):
                for method in methods:
                    engine.rescore_method = method
                    for text in (changed, base):
                        t, c = time.perf_counter(), time.process_time() + postgres_cpu()
                        _, _, n = engine.activate_playbook(text, "bench.yaml", "bench")
                        secs = time.perf_counter() - t
                        cpu = time.process_time() + postgres_cpu() - c
                        print(
                            f"{what:42s} {method:8s}: {n:,} leads in {secs:.2f} s, "
                            f"{n / cpu:,.0f} per CPU-s ({cpu:.2f} CPU-s), "
                            f"load {os.getloadavg()[0]:.1f}"
                        )
        engine.db.dispose()


if __name__ == "__main__":
    main()
