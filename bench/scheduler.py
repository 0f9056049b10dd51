"""A scheduler tick with 1M leads in the store and 100 SLA jobs due (and 100 nurture steps).

    .venv/bin/python bench/scheduler.py [--leads 1000000] [--due 100] [--ticks 7]
        [--nurture 20000] [--nurture-due 100] [--pg [URL]]

The store is built directly (executemany on SQLite, COPY on PostgreSQL), not through
the engine: 1M leads of which 20,000 are open MQLs owned by 10 BDRs, each with an
SLA job, and 20,000 are in nurture, each enrolled in a track (wait a day, then send an
e-mail). Each tick is `Sales.tick()`: the engine's timers (decay exits, cooldowns),
the due SLA jobs (escalate: reassign to the next rep, new SLA clock, `lead.sla_breached`
notice), then the due nurture steps (the wait ends, the e-mail is rendered and written to
the mail outbox). The first `--ticks` ticks have `--due` SLA jobs due; the next
`--ticks` have as many SLA jobs plus `--nurture-due` nurture steps. No SMTP server is
configured, so the outbox is not sent (sending is network time, not tick time).
Target: under 50 ms.
"""

from __future__ import annotations

import argparse
import io
import os
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


TRACK = {
    "name": "bench",
    "steps": [
        {"wait_days": 1},
        {
            "send": {
                "channel": "smtp",
                "subject": "Hi {{ first_name | default('there') }}",
                "body": "News for {{ company | default('your team') }} ({{ country }}).",
            }
        },
    ],
}


def lead_rows(n: int, n_mql: int, n_nurture: int) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for i in range(n):
        mql = i < n_mql
        nurture = n_mql <= i < n_mql + n_nurture
        rows.append(
            (
                f"lead{i}@company{i % 50_000}.com",
                '{"country": "DE"}',
                T0 - 86400,
                T0,
                "mql" if mql else "nurture" if nurture else "lead",
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


def build(
    url: str, n: int, n_mql: int, due: int, ticks: int, n_nurture: int, nurture_due: int
) -> None:
    db = Database(url)
    db.migrate()
    Engine(db, clock=lambda: T0).ensure_playbook()
    rows = lead_rows(n, n_mql, n_nurture)
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
        # Jobs: 2 x `ticks` batches of `due` falling due 10 s apart, the rest far in the future.
        jobs = []
        for i in range(n_mql):
            batch = i // due
            due_at = T0 + 10 * batch + 1 if batch < 2 * ticks else T0 + 10 * 86400 + i
            jobs.append(("sla_accept", i + 1, REPS[i % len(REPS)], due_at, T0 - 3600))
        repo.executemany(
            "INSERT INTO sales_jobs (kind, lead_id, rep, due_at, created_at) VALUES (?,?,?,?,?)",
            jobs,
        )
        # Enrolments: waiting out a day; `ticks` batches of `nurture_due` end their wait in
        # the second half of the ticks, the rest later.
        enrolments = []
        for j in range(n_nurture):
            batch = ticks + j // nurture_due if nurture_due else 10**6
            due_at = T0 + 10 * batch + 1 if batch < 2 * ticks else T0 + 10 * 86400 + j
            enrolments.append(
                (n_mql + j + 1, "bench", 1, "not now", due_at - 86400, due_at - 86400, due_at, T0)
            )
        repo.executemany(
            "INSERT INTO sales_nurture_enrolments (lead_id, track, playbook_version, reason, "
            "entered_at, status, step, seq, step_since, next_due_at, created_at, updated_at) "
            "VALUES (?,?,?,?,?,'active',0,0,?,?,?,?)",
            [(*e, T0) for e in enrolments],
        )
    if not db.is_sqlite:
        with db.engine.connect() as c:
            c.exec_driver_sql("COMMIT")
            c.connection.driver_connection.autocommit = True  # type: ignore[union-attr]
            c.exec_driver_sql("VACUUM ANALYZE")
    print(f"   built {n:,} leads, {n_mql:,} MQLs with SLA jobs in {time.perf_counter() - t:.1f} s")
    db.dispose()
    _ = io


def measure(url: str, due: int, ticks: int, nurture_due: int) -> tuple[list[float], list[float]]:
    os.environ.pop("LEADGATE_SMTP_HOST", None)
    eng = Engine(Database(url), clock=lambda: T0)
    sales = install(eng, sections={"nurture": {"tracks": [TRACK]}})
    sales.tick(now=T0 - 100)  # warm: compiles the playbook, nothing due yet
    sla_only, with_nurture = [], []
    for k in range(2 * ticks):
        now = T0 + 10 * k + 2
        t = time.perf_counter()
        out = sales.tick(now=now)
        (sla_only if k < ticks else with_nurture).append((time.perf_counter() - t) * 1000)
        assert out["sla_breached"] == due, out
        assert out["messages_queued"] == (nurture_due if k >= ticks else 0), out
    eng.db.dispose()
    return sla_only, with_nurture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--mqls", type=int, default=20_000)
    ap.add_argument("--due", type=int, default=100)
    ap.add_argument("--ticks", type=int, default=7)
    ap.add_argument("--nurture", type=int, default=20_000)
    ap.add_argument("--nurture-due", type=int, default=100)
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
            build(url, args.leads, args.mqls, args.due, args.ticks, args.nurture, args.nurture_due)
            sla_only, with_nurture = measure(url, args.due, args.ticks, args.nurture_due)
            for label, times in (
                (f"{args.due} SLA jobs due", sla_only),
                (f"{args.due} SLA jobs + {args.nurture_due} nurture steps due", with_nurture),
            ):
                print(
                    f"   {name:<10} tick with {label}: median {statistics.median(times):.1f} ms, "
                    f"min {min(times):.1f} ms, max {max(times):.1f} ms  (target < 50 ms)"
                )


if __name__ == "__main__":
    main()
