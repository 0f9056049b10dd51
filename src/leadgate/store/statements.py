"""The statements under every repository: one connection (inside a transaction the
caller owns), `?` placeholders on both backends, and PostgreSQL's COPY into temporary
tables, which the lead and event writers share.

The hot paths (batch ingest) use the driver's `executemany` through SQLAlchemy's
connection, one statement per batch rather than per row: on SQLite that is the
difference between ~80k and 110k+ events/s (see PERFORMANCE-NOTES).

Example (any repository):
    with db.read() as conn:
        Statements(db, conn).execute("SELECT COUNT(*) FROM leads").fetchone()
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from leadgate.store.database import PENDING_KEY, Database

if TYPE_CHECKING:
    from sqlalchemy import Connection

_CHUNK = 900
# Below this many rows PostgreSQL gets plain statements: the temp-table path costs three
# extra statements (create, empty, COPY), which is most of a single-event request.
_SMALL_BATCH = 64


def _column_types(ddl: str) -> dict[str, str]:
    """Column name -> type of a temp table's DDL (binary COPY sends each value in its
    type's own wire format, so it must know them)."""
    return {name: kind for name, kind in (part.split(" ") for part in ddl.split(", "))}


def _chunks(items: Sequence[Any], n: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def bucket(n: int, most: int = _CHUNK) -> int:
    """The length an IN list of `n` values is padded to: the next power of two (at most
    `most`). SQLite's statement cache (per connection, keyed by the SQL text) then keeps
    one statement per bucket, where every new length was prepared afresh: for a batch's
    list of ~170 new addresses that cost as much as scoring ~20 events."""
    return n if n <= 1 else min(1 << (n - 1).bit_length(), max(most, n))


def in_list(values: Sequence[Any], most: int = _CHUNK) -> tuple[str, list[Any]]:
    """`?` marks for an IN list of `values` (not empty) and its parameters, padded to
    `bucket(len(values))` by repeating the last value: the same rows match (a value
    twice in an IN list matches nothing more), and the SQL text is one of a few.

    Example: in_list(["a", "b", "c"]) == ("?,?,?,?", ["a", "b", "c", "c"])
    """
    out = list(values)
    out += [out[-1]] * (bucket(len(out), most) - len(out))
    return ",".join("?" * len(out)), out


def pieces(items: Sequence[Any], most: int) -> Iterator[Sequence[Any]]:
    """`items` in order, in pieces whose lengths are powers of two (at most `most`, a
    power of two): 170 items go as 128, 32, 8 and 2, so a multi-row statement's text is
    one of a few the statement cache keeps instead of one per batch size."""
    i, n = 0, len(items)
    while i < n:
        size = min(most, 1 << ((n - i).bit_length() - 1))
        yield items[i : i + size]
        i += size


class Statements:
    """Statements over one connection (inside a transaction the caller owns)."""

    def __init__(self, db: Database, conn: Connection | None, raw: Any = None):
        """Over a SQLAlchemy connection, or (conn None) over the driver's own connection
        `raw` (`Database.read_raw`: reads only)."""
        self.db = db
        self.conn = conn
        self._raw = raw if conn is None else conn.connection.driver_connection
        # The events COPY running in the background (PostgreSQL), and what it raised.
        self._pending: threading.Thread | None = None
        self._pending_error: BaseException | None = None

    def _cur(self) -> Any:
        if self._pending is not None:
            self.wait()
        return self._raw.cursor()  # type: ignore[union-attr]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one raw statement (`?` placeholders) and return the cursor."""
        cur = self._cur()
        cur.execute(self.db.param(sql), tuple(params))
        return cur

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one raw statement for many rows."""
        if rows:
            cur = self._cur()
            cur.executemany(self.db.param(sql), rows)
            cur.close()

    def _copy_in(
        self,
        table: str,
        ddl: str,
        cols: Sequence[str],
        rows: Iterable[Sequence[Any]],
        cur: Any = None,
    ) -> None:
        """PostgreSQL: `rows` into an (emptied) temporary table of this session."""
        cur = cur or self._cur()
        # IF NOT EXISTS each time: a rolled-back transaction takes the table with it.
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({ddl}) ON COMMIT DELETE ROWS")
        cur.execute(f"DELETE FROM {table}")
        self._copy_rows(cur, table, cols, _column_types(ddl), rows)

    @staticmethod
    def _copy_rows(
        cur: Any,
        table: str,
        cols: Sequence[str],
        types: dict[str, str],
        rows: Iterable[Sequence[Any]],
    ) -> None:
        """PostgreSQL: COPY `rows` into `table` in the binary format: the server parses
        no float or integer text, and psycopg packs each value in C."""
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([types[c] for c in cols])
            for row in rows:
                copy.write_row(row)

    def wait(self) -> None:
        """Let the events COPY running in the background finish; raise what it met."""
        worker = self._pending
        if worker is None:
            return
        self._pending = None
        if self.conn is not None:
            self.conn.info.pop(PENDING_KEY, None)
        worker.join()
        error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error
