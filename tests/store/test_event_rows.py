"""`EventRows.insert_new_events` stores the rows a statement a row would, in order.

On SQLite it inserts many rows a statement (in power-of-two pieces); these tests hold
the events table (rowids included) and the ids it reports as stored before equal to
those of one `INSERT … ON CONFLICT DO NOTHING` a row, for batch sizes across the
pieces' boundaries, ids stored before, and an id twice in one batch.
"""

from __future__ import annotations

import random
import sqlite3

from leadgate.leads.record import LeadState
from leadgate.store.database import Database, sqlite_path
from leadgate.store.repository import Repository

NOW = 1_780_000_000.0
ROWS = "SELECT rowid, id, lead_id, type, occurred_at, received_at, properties FROM events"


def _batches(lead_ids: list[int]) -> list[list[tuple[str, int, str, float, float, str]]]:
    rnd = random.Random(7)
    made: list[str] = []
    out = []
    for size in (1, 3, 2, 300, 257, 1000, 511, 5):
        batch = []
        for _ in range(size):
            if made and rnd.random() < 0.05:
                eid = rnd.choice(made)  # stored before (or earlier in this batch)
            else:
                eid = f"ev-{len(made)}-é'\"{rnd.random()}"
                made.append(eid)
            props = f'{{"url":"/p/{rnd.randrange(100)}"}}'
            batch.append(
                (eid, rnd.choice(lead_ids), "page_view", NOW - rnd.random() * 1e6, NOW, props)
            )
        out.append(batch)
    return out


def test_insert_new_events_stores_what_a_statement_a_row_stores(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.write() as conn:
        repo = Repository(db, conn)
        leads = [LeadState(f"p{i}@acme.com", {}, NOW) for i in range(40)]
        repo.insert_leads(leads, NOW)
    ids = [lead.id for lead in leads if lead.id is not None]
    path = sqlite_path(sqlite_url)
    assert path is not None
    ref = sqlite3.connect(":memory:")
    ref.execute(
        "CREATE TABLE events (id TEXT PRIMARY KEY, lead_id INT, type TEXT, occurred_at FLOAT, "
        "received_at FLOAT, properties TEXT)"
    )
    for batch in _batches(ids):
        # Skipped as stored before: the ids stored by an earlier batch (a second copy
        # within the batch is skipped too, but it is new, so not reported).
        before = {r[0] for r in batch if _has(ref, r[0])}
        ref.executemany("INSERT INTO events VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING", batch)
        with db.write() as conn:
            skipped = Repository(db, conn).insert_new_events(batch)
        assert skipped == before
        got = sqlite3.connect(path).execute(ROWS + " ORDER BY rowid").fetchall()
        assert got == ref.execute(ROWS + " ORDER BY rowid").fetchall()
    db.dispose()


def _has(ref: sqlite3.Connection, eid: str) -> bool:
    return ref.execute("SELECT 1 FROM events WHERE id = ?", [eid]).fetchone() is not None
