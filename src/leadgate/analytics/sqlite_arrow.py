"""An SQLite file read into Parquet through ADBC's SQLite driver: Arrow filled in C, no
Python object per value. Run in a child process only (`batch.export_sqlite_arrow`): the
driver carries its own copy of SQLite, and two copies in one process break each other's
POSIX locks on the file. This module imports only pyarrow and the driver, so a freshly
started child is ready in a fraction of what `batch` (DuckDB, SQLAlchemy) would cost.

    counts = sqlite_to_parquet("lg.db", [("events", "events.parquet", sql, schema)], 200_000)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# A first row whose values give ADBC each column's type: the driver infers types from the
# first batch of rows, so a column NULL all through it (most leads have no owner) would
# be taken for an integer and fail at its first text.
_TYPED = {pa.int64(): "0", pa.float64(): "0.5", pa.string(): "''"}


def _typed_sql(sql: str, schema: pa.Schema) -> str:
    first = ", ".join(f'{_TYPED[f.type]} AS "{f.name}"' for f in schema)
    # UNION ALL runs its arms in order, and SQLite keeps a FROM subquery's ORDER BY when
    # the outer query has none and is no join: the typed row first, then the export's
    # rows in its order (checked below, not assumed).
    return f"SELECT 0 AS lg_row, {first} UNION ALL SELECT * FROM (SELECT 1, q.* FROM ({sql}) AS q)"


def sqlite_to_parquet(
    uri: str, jobs: list[tuple[str, str, str, pa.Schema]], chunk: int
) -> dict[str, int]:
    """Run each job (name, Parquet path, query, schema) in one read transaction of the
    SQLite file at `uri`; the rows written per name."""
    import adbc_driver_sqlite
    import adbc_driver_sqlite.dbapi as adbc

    counts: dict[str, int] = {}
    con = adbc.connect(uri)  # not autocommit: the three reads share one transaction
    try:
        cur = con.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")  # as the pool's connections wait
        batch_rows = adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value
        for name, path, sql, schema in jobs:
            cur.adbc_statement.set_options(**{batch_rows: str(min(chunk, 65_536))})
            cur.execute(_typed_sql(sql, schema))
            counts[name] = 0
            with pq.ParquetWriter(path, schema) as writer:
                for table in _untyped(cur.fetch_record_batch(), schema, chunk):
                    writer.write_table(table)
                    counts[name] += table.num_rows
    finally:
        con.rollback()
        con.close()
    return counts


def _untyped(reader: Any, schema: pa.Schema, chunk: int) -> Iterator[pa.Table]:
    """The export's rows from `_typed_sql`'s batches, in tables of about `chunk` rows
    (the row groups `export_rows` writes): the typed row and the marker column dropped."""
    import pyarrow.compute as pc

    first = True
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in reader:
        marks = batch.column(0)
        if not len(marks):
            continue
        if first:
            if marks[0].as_py() != 0:
                raise RuntimeError("SQLite export: the typed first row is missing")
            batch, marks, first = batch.slice(1), marks.slice(1), False
        if len(marks) and pc.min(marks).as_py() != 1:
            raise RuntimeError("SQLite export: the typed row came back twice")
        pending.append(pa.RecordBatch.from_arrays(batch.columns[1:], names=schema.names))
        size += len(marks)
        if size >= chunk:
            yield pa.Table.from_batches(pending).cast(schema)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending).cast(schema)
