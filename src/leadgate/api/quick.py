"""One-row lookups on the event loop, without a worker thread: the API key and a lead's
email by id, asked on nearly every request (and, on SQLite, whether another process
holds the write lock: `sqlite_writer_elsewhere`).

Why: such a lookup costs ~20 µs of database work, but through the engine's pool in a
worker thread it costs a thread hop, a pool checkout and a BEGIN/COMMIT (~0.2-0.4 ms
of CPU, and a wait for the GIL under load). Each call here reads the committed state of
the store at that moment (no cache), so a revoked key stops working at once, in every
process.

- SQLite: a connection of its own in autocommit mode, used only by the loop. In WAL
  mode readers never wait for the writer, so the loop is not blocked behind a write.
- PostgreSQL: an asyncio psycopg connection (autocommit): one round trip that the loop
  awaits instead of blocking on it.

Any failure (the database went away, a locked file, an in-memory store another
connection cannot see) raises `Unavailable`; the callers then take the ordinary
threaded path, so this module can make requests faster, never wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from leadgate.store.database import Database

log = logging.getLogger("leadgate.api")


class Unavailable(Exception):
    """The quick path cannot answer now: use the pool."""


class QuickReads:
    """Per-process (per event loop) connection for single-row lookups."""

    def __init__(self, db: Database):
        self.db = db
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._probe: sqlite3.Connection | None = None
        self._pg: Any = None
        self._pg_lock: asyncio.Lock | None = None
        self._disabled = not self._supported()
        # Lookups that had to take the threaded path after a failure (for tests and logs).
        self.failures = 0

    def _supported(self) -> bool:
        if not self.db.is_sqlite:
            return True
        name = self.db.engine.url.database or ""
        # A private in-memory database is invisible to a second connection.
        return bool(name) and name != ":memory:" and "mode=memory" not in name

    def _sqlite_conn(self) -> sqlite3.Connection:
        if self._sqlite is None:
            name = self.db.engine.url.database or ""
            # Read-only and quick to give up: a lookup must never stall the event loop.
            conn = sqlite3.connect(
                f"file:{name}?mode=ro", uri=True, timeout=0.25, check_same_thread=False
            )
            conn.isolation_level = None
            self._sqlite = conn
        return self._sqlite

    async def _pg_conn(self) -> Any:
        if self._pg is None or self._pg.closed:
            import psycopg

            url = self.db.engine.url.set(drivername="postgresql")
            self._pg = await psycopg.AsyncConnection.connect(
                url.render_as_string(hide_password=False), autocommit=True
            )
        return self._pg

    def _reset_for_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Tests drive one app from several loops; a connection belongs to one.
            self.close()
            self._loop = loop
            self._pg_lock = asyncio.Lock()

    async def one(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        """The first row of `sql` (`?` placeholders), None when there is none; raises
        `Unavailable` when the quick path cannot answer (use the threaded path)."""
        if self._disabled:
            raise Unavailable("not supported for this store")
        self._reset_for_loop()
        try:
            if self.db.is_sqlite:
                row = self._sqlite_conn().execute(sql, tuple(params)).fetchone()
                return tuple(row) if row is not None else None
            assert self._pg_lock is not None
            async with self._pg_lock:
                conn = await self._pg_conn()
                cur = await conn.execute(sql.replace("?", "%s"), tuple(params))
                pg_row = await cur.fetchone()
            return tuple(pg_row) if pg_row is not None else None
        except Exception as exc:  # never wrong, at worst slower: fall back to the pool
            log.warning("quick lookup failed (%s: %s); using the pool", type(exc).__name__, exc)
            self.failures += 1
            self.close()
            raise Unavailable(str(exc)) from exc

    async def aclose(self) -> None:
        """Close the connections, waiting for PostgreSQL's (at app shutdown)."""
        pg, self._pg = self._pg, None
        self.close()
        if pg is not None and not pg.closed:
            with contextlib.suppress(Exception):
                await pg.close()

    def sqlite_writer_elsewhere(self) -> bool:
        """Whether another connection (another process: the CLI, a worker) holds the
        SQLite write lock right now, or it cannot be told. Asked before a write runs on
        the event loop: a write that had to wait for, say, a rescore page would stop the
        whole server meanwhile, so such a write takes a thread instead. Costs a BEGIN
        IMMEDIATE + ROLLBACK that never waits (~10 µs). A writer starting between this
        probe and the write can still make that one write wait on the loop."""
        if self._disabled or not self.db.is_sqlite:
            return True
        try:
            if self._probe is None:
                name = self.db.engine.url.database or ""
                self._probe = sqlite3.connect(name, timeout=0, check_same_thread=False)
                self._probe.isolation_level = None
            self._probe.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            return True
        try:
            self._probe.execute("ROLLBACK")
        except sqlite3.Error:
            self._probe.close()
            self._probe = None
        return False

    def close(self) -> None:
        """Drop the connections (they are reopened on the next lookup)."""
        for conn in (self._sqlite, self._probe):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._sqlite = self._probe = None
        pg, self._pg = self._pg, None
        if pg is not None and not pg.closed:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None and loop is self._loop and not loop.is_closed():
                loop.create_task(pg.close())
