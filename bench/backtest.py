"""Backtest: both playbooks replayed over synthesized history; total time and peak memory.

.venv/bin/python bench/backtest.py [--leads 1000000] [--events 20000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import load_average, machine
from leadgate.analytics.backtest import run_backtest
from leadgate.playbook.loader import bundled_playbook
from rescore_sql import T_END, synthesize


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    d = synthesize(a.leads, a.events)
    print(f"machine: {machine()}")
    print(f"data: {a.leads:,} leads, {a.events:,} events")
    _, old = bundled_playbook()
    new = old.replace(
        "{score: engagement, op: gte, value: 30}", "{score: engagement, op: gte, value: 45}"
    ).replace("{event: webinar_attended, points: 20}", "{event: webinar_attended, points: 10}")
    paths = (d / "leads.parquet", d / "events.parquet", d / "transitions.parquet")
    print(load_average())
    t = time.perf_counter()
    res = run_backtest(paths, old, new, T_END - 365 * 86400, T_END, workers=a.workers)
    took = time.perf_counter() - t
    self_ru = resource.getrusage(resource.RUSAGE_SELF)
    kids_ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    me, kids = self_ru.ru_maxrss / 1024, kids_ru.ru_maxrss / 1024
    cpu = self_ru.ru_utime + self_ru.ru_stime + kids_ru.ru_utime + kids_ru.ru_stime
    print(
        f"backtest: {took:.1f} s wall, {cpu:.1f} s CPU (all processes); peak RSS main {me:.0f} MB, largest worker {kids:.0f} MB; "
        f"MQLs {res.totals['mqls_old']:,} -> {res.totals['mqls_new']:,}, "
        f"{len(res.changed):,} leads changed; " + load_average()
    )


if __name__ == "__main__":
    main()
