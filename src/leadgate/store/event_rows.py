"""Event rows: appending a batch's events (an id stored before is acknowledged and
skipped) and reading a lead's events back.

Example:
    with db.write() as conn:
        skipped = Repository(db, conn).insert_events(
            [("e1", lead_id, "page_view", at, now, '{"url": "/pricing"}')]
        )
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from leadgate.scoring.engagement import Event
from leadgate.store.codec import loads
from leadgate.store.database import PENDING_KEY
from leadgate.store.statements import _SMALL_BATCH, Statements, _chunks, pieces

_EVENT_COLS = ("id", "lead_id", "type", "occurred_at", "received_at", "properties")
_EVENTS_IN = (
    "id text, lead_id int4, type text, occurred_at float8, received_at float8, properties text"
)

# SQLite: INSERT statements of 1, 2, 4 ... 256 rows (by row count).
_INSERT_MANY = {
    n: f"INSERT INTO events ({', '.join(_EVENT_COLS)}) VALUES "
    + ",".join(["(?,?,?,?,?,?)"] * n)
    + " ON CONFLICT (id) DO NOTHING"
    for n in (1 << k for k in range(9))
}


class ConcurrentEvents(RuntimeError):
    """Another writer stored some of a batch's event ids (sent for another lead) while
    the batch was being scored: nothing of it is committed; run it again."""

    def __init__(self, ids: set[str]):
        super().__init__(f"{len(ids)} event id(s) stored by another writer meanwhile")
        self.ids = ids


class EventRows(Statements):
    """The events table."""

    def existing_event_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of these event ids are stored already."""
        out: set[str] = set()
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            cur = self.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk)
            out.update(r[0] for r in cur.fetchall())
        return out

    def insert_events(self, rows: Sequence[tuple[str, int, str, float, float, str]]) -> set[str]:
        """Append events (id, lead_id, type, occurred_at, received_at, properties).

        Returns the ids actually inserted: an id stored before is acknowledged and skipped.
        """
        skipped = self.insert_new_events(rows)
        self.wait()
        return {r[0] for r in rows if r[0] not in skipped}

    def insert_new_events(
        self, rows: Sequence[tuple[str, int, str, float, float, str]]
    ) -> set[str]:
        """As `insert_events`, but returns the ids skipped as stored before (usually none,
        so the hot path builds no set of every id).

        On PostgreSQL a big batch is still being stored when this returns: the next
        statement through this repository (or the commit) waits for it, and raises
        `ConcurrentEvents` if another writer stored some of these ids meanwhile."""
        if not rows:
            return set()
        if self.db.is_sqlite:
            # BEGIN IMMEDIATE makes this transaction the only writer, so rows appended
            # now get rowids above the largest one before: an id found at or below it
            # was stored before. The usual batch has no duplicate, which the change
            # count tells without looking any id up (that lookup cost ~4% of ingest).
            top = self.execute("SELECT MAX(rowid) FROM events").fetchone()[0] or 0
            cur = self._cur()
            # Many rows a statement, in power-of-two pieces (each text one the statement
            # cache keeps), in order: the same rows and rowids as a statement a row, but
            # one step each, where Python's sqlite3 hands over the GIL (and resets and
            # rebinds) for every row of an executemany.
            added = 0
            for piece in pieces(rows, 256):
                cur.execute(_INSERT_MANY[len(piece)], [v for r in piece for v in r])
                added += cur.rowcount
            if added == len(rows):
                return set()
            out: set[str] = set()
            for chunk in _chunks([r[0] for r in rows]):
                marks = ",".join("?" * len(chunk))
                found = self.execute(
                    f"SELECT id FROM events WHERE rowid <= ? AND id IN ({marks})", [top, *chunk]
                )
                out.update(r[0] for r in found.fetchall())
            return out
        # PostgreSQL: concurrent writers are possible (a store without the revision
        # counter), so the unique index decides; COPY first, and only the skipped ids
        # come back.
        cols = ", ".join(_EVENT_COLS)
        if len(rows) < _SMALL_BATCH:
            marks = ",".join(["(?,?,?,?,?,?)"] * len(rows))
            cur = self.execute(
                f"INSERT INTO events ({cols}) VALUES {marks} "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                [v for r in rows for v in r],
            )
            got = {r[0] for r in cur.fetchall()}
            return set() if len(got) == len(rows) else {r[0] for r in rows if r[0] not in got}
        # Which ids are stored already. Exact, not a guess: every writer of an event
        # holds its lead's row lock (read FOR UPDATE, or inserted by it) from before
        # this check until it commits, so nobody stores these leads' events meanwhile.
        # Only the same id sent for another lead at the same moment can still slip in,
        # and the unique index catches that (see `_move_events`).
        cur = self.execute(
            "SELECT id FROM events WHERE id = ANY(?::text[])", [[r[0] for r in rows]]
        )
        stored = {r[0] for r in cur.fetchall()}
        new = [r for r in rows if r[0] not in stored] if stored else rows
        if new:
            # The rows go to a temporary table (no index, no WAL: quick), then one
            # INSERT … SELECT into events runs while the caller scores the batch: the
            # server's index work is most of the cost, and psycopg waits for that one
            # statement without the GIL. (A COPY straight into events would need the
            # GIL back for every socket buffer the server drains, and wait for it
            # behind the scoring.) Every later statement of this repository, and the
            # end of the transaction, wait for it first.
            self._copy_in("lg_events_in", _EVENTS_IN, _EVENT_COLS, new)
            self._pending = threading.Thread(target=self._move_events, name="leadgate-events")
            assert self.conn is not None, "a write needs the transaction's connection"
            self.conn.info[PENDING_KEY] = self.wait
            self._pending.start()
        return stored

    def _move_events(self) -> None:
        """PostgreSQL, in a thread: the rows of lg_events_in into events, plainly (no
        speculative insertion per row), inside a savepoint so that a unique violation
        undoes only this. Then ON CONFLICT lets the index say which ids another writer
        stored meanwhile: the caller scored them, so it must run again."""
        # Here, not at the top: a SQLite-only process never loads psycopg (~45 ms).
        import psycopg

        cols = ", ".join(_EVENT_COLS)
        try:
            cur = self._raw.cursor()  # type: ignore[union-attr]
            cur.execute("SAVEPOINT lg_events")
            try:
                cur.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM lg_events_in")
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT lg_events")
            else:
                cur.execute("RELEASE SAVEPOINT lg_events")
                return
            cur.execute(
                f"WITH ins AS (INSERT INTO events ({cols}) SELECT {cols} FROM lg_events_in "
                "ON CONFLICT (id) DO NOTHING RETURNING id) "
                "SELECT i.id FROM lg_events_in i WHERE NOT EXISTS "
                "(SELECT 1 FROM ins WHERE ins.id = i.id)"
            )
            taken = {r[0] for r in cur.fetchall()}
            if taken:
                raise ConcurrentEvents(taken)
        except BaseException as exc:  # raised in the caller's thread by `wait`
            self._pending_error = exc

    def events_of(self, lead_id: int) -> list[Event]:
        """Every stored event of a lead, in time order."""
        cur = self.execute(
            "SELECT id, type, occurred_at, properties FROM events WHERE lead_id = ? "
            "ORDER BY occurred_at, id",
            [lead_id],
        )
        return [Event(r[0], r[1], r[2], loads(r[3])) for r in cur.fetchall()]

    def recent_events(self, lead_id: int, limit: int = 20) -> list[tuple[Any, ...]]:
        """The latest events of a lead (id, type, occurred_at, properties), newest first."""
        cur = self.execute(
            "SELECT id, type, occurred_at, properties FROM events WHERE lead_id = ? "
            "ORDER BY occurred_at DESC, id DESC LIMIT ?",
            [lead_id, limit],
        )
        return [(r[0], r[1], r[2], loads(r[3])) for r in cur.fetchall()]

    def event_types(self) -> set[str]:
        """Every event type ever stored."""
        return {r[0] for r in self.execute("SELECT DISTINCT type FROM events").fetchall()}
