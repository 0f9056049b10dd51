"""Full rescore after a playbook change: leads/s (wall clock and per CPU-second).

.venv/bin/python bench/rescore.py [--events 1000000] [--leads 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

from _common import machine, peak_rss_mb
from ingest import OUT
from latency import store
from leadgate.engine.engine import Engine
from leadgate.playbook.loader import bundled_playbook
from leadgate.store.database import open_database


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--leads", type=int, default=100_000)
    args = ap.parse_args()
    work = OUT / "rescore.db"
    shutil.copyfile(store(args.leads, args.events), work)
    engine = Engine(open_database(f"sqlite:///{work}"))
    _, text = bundled_playbook()
    changes = {
        "points only (state carried over)": text.replace(
            "{event: webinar_attended, points: 20}", "{event: webinar_attended, points: 25}"
        ),
        "half-life changed (every event replayed)": text.replace(
            "half_life_days: 30", "half_life_days: 21"
        ),
    }
    print(f"full rescore | {machine()}")
    print(f"store: SQLite, {args.events:,} events over {args.leads:,} leads")
    for what, changed in changes.items():
        t, c = time.perf_counter(), time.process_time()
        _, _, n = engine.activate_playbook(changed, "bench.yaml", "bench")
        secs, cpu = time.perf_counter() - t, time.process_time() - c
        print(
            f"{what:42s}: {n:,} leads in {secs:.1f} s = {n / secs:,.0f} leads/s wall, "
            f"{n / cpu:,.0f} leads/s per CPU-s, peak RSS {peak_rss_mb():.0f} MB, "
            f"load {os.getloadavg()[0]:.1f}"
        )
    engine.db.dispose()
    for p in OUT.glob("rescore.db*"):
        p.unlink()


if __name__ == "__main__":
    main()
