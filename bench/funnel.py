"""Funnel analytics over synthesized leads and transitions (DuckDB over Parquet).

.venv/bin/python bench/funnel.py [--leads 1000000] [--events 20000000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import load_average, machine
from leadgate.analytics import advice, reports
from leadgate.analytics.batch import connect
from rescore_sql import T_END, synthesize


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=20_000_000)
    a = ap.parse_args()
    d = synthesize(a.leads, a.events)
    print(f"machine: {machine()}")
    con = connect(d / "leads.parquet", d / "events.parquet", d / "transitions.parquet")
    n = con.execute("SELECT COUNT(*) FROM transitions").fetchone()[0]  # type: ignore[index]
    print(f"data: {a.leads:,} leads, {n:,} transitions")
    for name, fn in [
        ("funnel", lambda: reports.funnel(con)),
        ("velocity", lambda: reports.velocity(con)),
        ("cohorts", lambda: reports.cohorts(con)),
        ("sources", lambda: reports.sources(con, "source")),
        ("deciles", lambda: reports.deciles(con)),
        ("sla", lambda: reports.sla(con, 1.0, T_END)),
        ("advice", lambda: advice.tradeoff(con)),
    ]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        c, t = ru.ru_utime + ru.ru_stime, time.perf_counter()
        rep = fn()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        print(
            f"report {name}: {time.perf_counter() - t:.2f} s wall, "
            f"{ru.ru_utime + ru.ru_stime - c:.2f} s CPU ({len(rep.rows)} rows)"
        )
    print(load_average())


if __name__ == "__main__":
    main()
