"""Storage floors: what the store alone costs, with no validation, scoring or lifecycle.

    .venv/bin/python bench/floors.py [--pg] [--pg-url URL]

Each loop does only the reads and writes the real path must do, on leadgate's own schema
(migrated by Alembic, same PRAGMAs and indexes), so no design that keeps this schema and
scores in Python can beat it:

1. bulk ingest: the 1M demo events as plain rows into `events` (100k rows per
   transaction), against the variant the issue's 580k rows/s figure describes (no unique
   event id, no properties);
2. full rescore: read every lead's stored state, write back engagement, score and state,
   one transaction (what any rescore after a playbook change writes at the least);
3. the HTTP batch path: 1,000-event transactions on a store of 150k events over 20k leads,
   each inserting its events, reading the leads they name and writing them back.
   With --pg (or --pg-url) also on PostgreSQL, with arrays (`unnest`), the fastest of the
   row-at-a-time alternatives in PERFORMANCE-NOTES.

Prints rows/s, leads/s or events/s, with the machine, the data size and the load average.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from _common import load_average, machine, postgres_url, processes_cpu
from ingest import OUT, events_file
from latency import store
from leadgate.engine.engine import Engine
from leadgate.ingest.files import ingest_events
from leadgate.store.database import open_database

PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "cache_size=-65536",
    "wal_autocheckpoint=10000",
)


def connect(path: Path) -> sqlite3.Connection:
    """A connection set up as leadgate's own (database.py)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for p in PRAGMAS:
        conn.execute(f"PRAGMA {p}")
    return conn


def load_lines(path: Path, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
    """Decoded JSON lines start..stop of a file."""
    with path.open("rb") as fh:
        lines = fh.read().splitlines()[start:stop]
    return [orjson.loads(line) for line in lines]


def ingest_floor(work: Path) -> None:
    """Plain event rows into the migrated schema, 100k per transaction."""
    events = load_lines(events_file(100_000, 1_000_000))
    emails: dict[str, int] = {}
    rows = []
    for i, e in enumerate(events):
        lid = emails.setdefault(e["email"], len(emails) + 1)
        props = orjson.dumps(e.get("properties") or {}).decode()
        rows.append((e["id"], lid, e["type"], float(i), 0.0, props))
    variants = {
        "events table as is (unique id, properties)": (
            "INSERT INTO events (id, lead_id, type, occurred_at, received_at, properties) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING"
        ),
        "no unique id, no properties": (
            "INSERT INTO events (id, lead_id, type, occurred_at, received_at, properties) "
            "VALUES (?,?,?,?,?,'{}')"
        ),
    }
    for label, sql in variants.items():
        db = work / "ingest.db"
        for p in work.glob("ingest.db*"):
            p.unlink()
        open_database(f"sqlite:///{db}").dispose()
        conn = connect(db)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO leads (id, email, attributes, created_at, updated_at, stage, stage_at, "
            "fit, engagement, score, fit_grade, engagement_grade, grade, scored_at, "
            "score_state, exit_armed) VALUES (?,?,'{}',0,0,'lead',0,0,0,0,'D','4','D4',0,'{}',0)",
            [(v, k) for k, v in emails.items()],
        )
        conn.execute("COMMIT")
        if "no unique" in label:
            # The primary key's index cannot be dropped: rebuild the table without it.
            conn.executescript(
                "BEGIN; CREATE TABLE ev2 (id VARCHAR(200) NOT NULL, lead_id INTEGER NOT NULL "
                "REFERENCES leads (id), type VARCHAR(100) NOT NULL, occurred_at FLOAT NOT NULL, "
                "received_at FLOAT NOT NULL, properties TEXT NOT NULL); DROP TABLE events; "
                "ALTER TABLE ev2 RENAME TO events; CREATE INDEX ix_events_lead_time ON events "
                "(lead_id, occurred_at); COMMIT;"
            )
            data: list[tuple[Any, ...]] = [r[:5] for r in rows]
        else:
            data = rows
        t = time.perf_counter()
        for i in range(0, len(data), 100_000):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, data[i : i + 100_000])
            conn.execute("COMMIT")
        secs = time.perf_counter() - t
        conn.close()
        print(f"  {label:50s}: {len(data) / secs:>9,.0f} rows/s ({secs:.2f} s)")


def rescore_floor(
    work: Path, leads: int = 100_000, events: int = 1_000_000
) -> tuple[int, float, float]:
    """Every lead read and written back in one transaction, no scoring. Returns the first
    variant's (leads, wall seconds, CPU seconds): the floor bench/rescore.py compares with."""
    db = work / "rescore.db"
    shutil.copyfile(store(leads, events), db)
    first: tuple[int, float, float] | None = None
    for label, cols in {
        "engagement, score, score_state": ("engagement", "score", "score_state"),
        "engagement, score (state kept)": ("engagement", "score"),
    }.items():
        conn = connect(db)
        t, cpu = time.perf_counter(), time.process_time()
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute("SELECT id, score_state, engagement, fit FROM leads").fetchall()
        out = []
        for lid, state, eng, fit in rows:
            s = orjson.loads(state)
            vals = (eng + 1.0, fit + eng + 1.0, orjson.dumps(s).decode())[: len(cols)]
            out.append((*vals, lid))
        sets = ", ".join(f"{c} = ?" for c in cols)
        conn.executemany(f"UPDATE leads SET {sets} WHERE id = ?", out)
        conn.execute("COMMIT")
        secs, cpu = time.perf_counter() - t, time.process_time() - cpu
        conn.close()
        first = first or (len(rows), secs, cpu)
        print(
            f"  writes {label:43s}: {len(rows) / secs:>9,.0f} leads/s, "
            f"{len(rows) / cpu:,.0f} per CPU-s ({len(rows):,} leads)"
        )
    assert first is not None
    return first


def floor_batch(
    conn: sqlite3.Connection, ids: dict[str, int], b: list[dict[str, Any]], now: float
) -> None:
    """One transaction of the HTTP batch floor: the batch's events of known leads
    inserted, those leads read and written back (engagement, score, state, timers)."""
    conn.execute("BEGIN IMMEDIATE")
    rows = [
        (
            e["id"],
            ids[e["email"]],
            e["type"],
            now,
            now,
            orjson.dumps(e.get("properties") or {}).decode(),
        )
        for e in b
        if e["email"] in ids
    ]
    conn.executemany(
        "INSERT INTO events (id, lead_id, type, occurred_at, received_at, properties) "
        "VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
        rows,
    )
    wanted = sorted({r[1] for r in rows})
    marks = ",".join("?" * len(wanted))
    got = conn.execute(
        f"SELECT id, score_state, engagement, fit FROM leads WHERE id IN ({marks})", wanted
    ).fetchall()
    upd = [
        (eng + 1, fit + eng + 1, orjson.dumps(orjson.loads(s)).decode(), now, now + 1e6, lid)
        for lid, s, eng, fit in got
    ]
    conn.executemany(
        "UPDATE leads SET engagement=?, score=?, score_state=?, updated_at=?, next_due_at=? "
        "WHERE id=?",
        upd,
    )
    conn.execute("COMMIT")


def api_store(url: str) -> None:
    """150k demo events over 20k leads, loaded by the engine."""
    src = events_file(20_000, 200_000)
    head = OUT / "events-20000-150000-head.jsonl"
    if not head.exists():
        with src.open("rb") as fh:
            head.write_bytes(b"".join(fh.readlines()[:150_000]))
    db = open_database(url)
    engine = Engine(db)
    engine.ensure_playbook()
    ingest_events(engine, head, batch_size=100_000)
    db.dispose()


def batch_floor_sqlite(
    work: Path, batches: list[list[dict[str, Any]]], cpu: list[float] | None = None
) -> float:
    """1,000-event transactions on SQLite: insert, read the leads named, write them back.
    Returns events/s by the wall clock; the loop's CPU seconds are appended to `cpu`."""
    db = work / "api.db"
    api_store(f"sqlite:///{db}")
    conn = connect(db)
    ids = dict(conn.execute("SELECT email, id FROM leads").fetchall())
    now = time.time()
    t, c = time.perf_counter(), time.process_time()
    for b in batches:
        floor_batch(conn, ids, b, now)
    secs = time.perf_counter() - t
    if cpu is not None:
        cpu.append(time.process_time() - c)
    conn.close()
    return sum(len(b) for b in batches) / secs


def postgres_cpu() -> float:
    """CPU seconds used so far by every `postgres` process on the machine."""
    return processes_cpu(lambda comm, _: comm == "postgres")


def batch_floor_pg(url: str, batches: list[list[dict[str, Any]]]) -> tuple[float, float]:
    """The same loop on PostgreSQL, every statement on arrays: (events/s, CPU-µs per event
    of client and server together)."""
    import psycopg

    api_store(url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        ids = dict(conn.execute("SELECT email, id FROM leads").fetchall())
        conn.commit()
        now = time.time()
        t, cpu = time.perf_counter(), time.process_time() + postgres_cpu()
        for b in batches:
            rows = [e for e in b if e["email"] in ids]
            conn.execute(
                "INSERT INTO events (id, lead_id, type, occurred_at, received_at, properties) "
                "SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::float8[], "
                "%s::float8[], %s::text[]) ON CONFLICT (id) DO NOTHING",
                [
                    [e["id"] for e in rows],
                    [ids[e["email"]] for e in rows],
                    [e["type"] for e in rows],
                    [now] * len(rows),
                    [now] * len(rows),
                    [orjson.dumps(e.get("properties") or {}).decode() for e in rows],
                ],
            )
            wanted = sorted({ids[e["email"]] for e in rows})
            got = conn.execute(
                "SELECT id, score_state, engagement, fit FROM leads WHERE id = ANY(%s)", [wanted]
            ).fetchall()
            conn.execute(
                "UPDATE leads l SET engagement = u.e, score = u.s, score_state = u.st, "
                "updated_at = u.at, next_due_at = u.due FROM unnest(%s::int[], %s::float8[], "
                "%s::float8[], %s::text[], %s::float8[], %s::float8[]) AS u(id, e, s, st, at, due) "
                "WHERE l.id = u.id",
                [
                    [g[0] for g in got],
                    [g[2] + 1 for g in got],
                    [g[3] + g[2] + 1 for g in got],
                    [orjson.dumps(orjson.loads(g[1])).decode() for g in got],
                    [now] * len(got),
                    [now + 1e6] * len(got),
                ],
            )
            conn.commit()
        secs = time.perf_counter() - t
        cpu = time.process_time() + postgres_cpu() - cpu
    n = sum(len(b) for b in batches)
    return n / secs, cpu / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pg", action="store_true", help="also on a throwaway PostgreSQL cluster")
    ap.add_argument("--pg-url", help="also on this PostgreSQL database")
    args = ap.parse_args()
    print(f"storage floors | {machine()}")
    with tempfile.TemporaryDirectory(dir=OUT) as d:
        work = Path(d)
        print("bulk ingest, SQLite: 1,000,000 demo event rows, 100,000 per transaction")
        ingest_floor(work)
        print("full rescore, SQLite: every lead of the 1M-event / 100k-lead store, one transaction")
        rescore_floor(work)
        tail = load_lines(events_file(20_000, 200_000), 150_000, 200_000)
        batches = [tail[i : i + 1000] for i in range(0, len(tail), 1000)]
        print("HTTP batch path: 50 x 1,000-event transactions after 150k events over 20k leads")
        rate = batch_floor_sqlite(work, batches)
        print(f"  {'SQLite':50s}: {rate:>9,.0f} events/s ({1e6 / rate:.1f} µs per event)")
        if args.pg or args.pg_url:
            with postgres_url(args.pg_url) as url:
                if url is None:
                    print("  PostgreSQL: no server (install one, or pass --pg-url)")
                else:
                    pg_rate, us = batch_floor_pg(url, batches)
                    print(
                        f"  {'PostgreSQL (client and server on this machine)':50s}: "
                        f"{pg_rate:>9,.0f} events/s, {us:.1f} CPU-µs per event (client + server)"
                    )
    print(load_average())


if __name__ == "__main__":
    main()
