"""When the store cannot take a write for reasons no input caused: busy or full.

Both leave the transaction that met them unwritten (SQLite and PostgreSQL roll it back)
and everything committed before as it was; each front end says so in its own way, from
`trouble(exc)`: the CLI one line (exit 2), the API a problem+json, the web app an error
page. Anything else the store raises stays an unexpected error (logged, a 500).

- **Busy**: SQLite has one writer at a time. A write waits `BUSY_TIMEOUT_S` for another
  process's write transaction (an import, a rescore, the server's writer), then gives up
  with SQLITE_BUSY. Trying again later is the fix: 503 with Retry-After.
- **Full**: the disk (SQLITE_FULL, PostgreSQL's disk_full 53100). Freeing space is the
  fix: 507 Insufficient Storage.
- **Damaged**: an SQLite file whose pages are corrupt (SQLITE_CORRUPT, SQLITE_NOTADB: a
  disk fault, a copy taken mid-write without its -wal). Nothing here can repair it: the
  operator restores a backup (or salvages with sqlite3's `.recover`). A 500 that says so.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

# How long an SQLite writer waits for another process's write transaction before giving
# up with SQLITE_BUSY (the connection timeout and PRAGMA busy_timeout of every connection).
BUSY_TIMEOUT_S = 30.0

_SQLITE_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_PG_BUSY = ("55P03", "40P01")  # lock_not_available (a lock_timeout), deadlock_detected
_PG_FULL = ("53100",)  # disk_full


class Trouble(NamedTuple):
    """What to tell a person, and the HTTP status and problem type that say it."""

    status: int
    kind: str
    message: str
    retry_after: str | None = None


def trouble(exc: BaseException) -> Trouble | None:
    """`exc` (the driver's, or SQLAlchemy's wrapping it) as busy or full; None otherwise."""
    orig = getattr(exc, "orig", exc)
    if _is(orig, _SQLITE_BUSY, _PG_BUSY, "is locked"):
        return Trouble(
            503,
            "store-busy",
            f"the store is busy: another process has held its write lock for over "
            f"{BUSY_TIMEOUT_S:g} s (an import, a rescore or the server's writer); nothing "
            "of this was written, try again",
            "5",
        )
    if _is(orig, (sqlite3.SQLITE_FULL,), _PG_FULL, "disk is full"):
        return Trouble(
            507,
            "store-full",
            "the store's disk is full: nothing of this was written (what was written "
            "before is kept); free some space and try again",
        )
    if _is(orig, (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB), (), "malformed"):
        # Here, not at the top: the store module imports this one.
        from leadgate.store.database import first_line

        return Trouble(
            500,
            "store-damaged",
            f"the store is damaged ({first_line(orig)}): restore it from a backup "
            "(sqlite3's `.recover` may save what is left); nothing of this was written",
        )
    return None


def _is(orig: object, sqlite_codes: tuple[int, ...], sqlstates: tuple[str, ...], text: str) -> bool:
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)  # extended codes: the low byte is the kind
        if isinstance(code, int):
            return code & 0xFF in sqlite_codes
        return text in str(orig)
    return getattr(orig, "sqlstate", None) in sqlstates
