"""A scheduler tick with 1M leads in the store and 100 SLA jobs due.

    .venv/bin/python bench/scheduler.py [--leads 1000000] [--due 100] [--ticks 7] [--pg [URL]]

The store is built directly (executemany on SQLite, COPY on PostgreSQL), not through
the engine: 1M leads of which 20,000 are open MQLs owned by 10 BDRs, each with an
SLA job; `--ticks` batches of `--due` jobs fall due one after the other. Each tick
is `Sales.tick()`: the engine's timers (decay exits, cooldowns) plus firing the due
SLA jobs (escalate: reassign to the next rep, new SLA clock, `lead.sla_breached`
notice). Target: under 50 ms.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, postgres_url, sqlite_url
from leadgate.engine.engine import Engine
from leadgate.sales import install
from leadgate.store.database import Database
from leadgate.store.repository import Repository

T0 = 1_780_000_000.0
REPS = [f"bdr{i:02d}" for i in range(10)]
COLS = (
    "email, attributes, created_at, updated_at, stage, stage_at, owner, fit, engagement, "
    "score, fit_grade, engagement_grade, grade, scored_at, playbook_version, score_state, "
    "exit_armed, next_due_at"
)


def lead_rows(n: int, n_mql: int) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for i in range(n):
        mql = i < n_mql
        rows.append(
            (
                f"lead{i}@company{i % 50_000}.com",
                '{"country": "DE"}',
                T0 - 86400,
                T0,
                "mql" if mql else "lead",
                T0 - 3600,
                REPS[i % len(REPS)] if mql else None,
                40.0,
                35.0 if mql else 5.0,
                75.0 if mql else 45.0,
                "B",
                "2" if mql else "4",
                "B2" if mql else "B4",
                T0,
                1,
                "{}",
                False,
                None,
            )
        )
    return rows


def build(url: str, n: int, n_mql: int, due: int, ticks: int) -> None:
    db = Database(url)
    db.migrate()
    Engine(db, clock=lambda: T0).ensure_playbook()
    rows = lead_rows(n, n_mql)
    t = time.perf_counter()
    with db.write() as conn:
        repo = Repository(db, conn)
        now = T0
        for name in REPS:
            repo.execute(
                "INSERT INTO sales_reps (name, role, weight, active, created_at, hours, days) "
                "VALUES (?, 'bdr', 1, ?, ?, '00:00-24:00', 'mon-sun')",
                [name, True, now],
            )
        if db.is_sqlite:
            repo.executemany(f"INSERT INTO leads ({COLS}) VALUES ({','.join('?' * 18)})", rows)
        else:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(f"COPY leads ({COLS}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        # Jobs: `ticks` batches of `due` falling due 10 s apart, the rest far in the future.
        jobs = []
        for i in range(n_mql):
            batch = i // due
            due_at = T0 + 10 * batch + 1 if batch < ticks else T0 + 10 * 86400 + i
            jobs.append(("sla_accept", i + 1, REPS[i % len(REPS)], due_at, T0 - 3600))
        repo.executemany(
            "INSERT INTO sales_jobs (kind, lead_id, rep, due_at, created_at) VALUES (?,?,?,?,?)",
            jobs,
        )
    if not db.is_sqlite:
        with db.engine.connect() as c:
            c.exec_driver_sql("COMMIT")
            c.connection.driver_connection.autocommit = True  # type: ignore[union-attr]
            c.exec_driver_sql("VACUUM ANALYZE")
    print(f"   built {n:,} leads, {n_mql:,} MQLs with SLA jobs in {time.perf_counter() - t:.1f} s")
    db.dispose()
    _ = io


def measure(url: str, due: int, ticks: int) -> list[float]:
    eng = Engine(Database(url), clock=lambda: T0)
    sales = install(eng)
    sales.tick(now=T0 - 100)  # warm: compiles the playbook, nothing due yet
    times = []
    for k in range(ticks):
        now = T0 + 10 * k + 2
        t = time.perf_counter()
        out = sales.tick(now=now)
        times.append((time.perf_counter() - t) * 1000)
        assert out["sla_breached"] == due, out
    eng.db.dispose()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--mqls", type=int, default=20_000)
    ap.add_argument("--due", type=int, default=100)
    ap.add_argument("--ticks", type=int, default=7)
    ap.add_argument("--pg", nargs="?", const="", default=None, help="Also PostgreSQL.")
    args = ap.parse_args()
    print(f"== scheduler tick — {args.leads:,} leads, {args.due} SLA jobs due per tick")
    print(f"   {machine()}")
    backends = [("sqlite", None)] + ([("postgresql", args.pg)] if args.pg is not None else [])
    for name, given in backends:
        ctx = sqlite_url() if name == "sqlite" else postgres_url(given or None)
        with ctx as url:
            if url is None:
                print(f"   {name}: not available")
                continue
            build(url, args.leads, args.mqls, args.due, args.ticks)
            times = measure(url, args.due, args.ticks)
            print(
                f"   {name:<10} tick with {args.due} due: median {statistics.median(times):.1f} ms, "
                f"min {min(times):.1f} ms, max {max(times):.1f} ms  (target < 50 ms)"
            )


if __name__ == "__main__":
    main()
