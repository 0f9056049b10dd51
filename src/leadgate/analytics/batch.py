"""Batch rescoring in DuckDB: the compiled playbook over a Parquet export of the store.

DuckDB's SQLite and PostgreSQL scanners are extensions downloaded at run time, so offline
they fail; instead the store's rows are written to Parquet with pyarrow (in chunks, so
memory stays flat) and DuckDB reads those files. User-given Parquet or CSV files with
the same columns work too:

- leads: id, email, attributes (JSON text) [, created_at, stage, owner, fit, engagement, score]
- events: id, lead_id, type, occurred_at (epoch seconds), properties (JSON text)
- transitions: lead_id, from_stage, to_stage, at, actor (the export keeps people's
  absorbed moves, rows from_stage == to_stage, for the backtest; the `transitions` view
  of `connect`, which reports read, leaves them out)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from leadgate.analytics.sqlcompile import compile_scoring
from leadgate.ingest.validate import MAX_READABLE_TIME
from leadgate.playbook.model import Playbook
from leadgate.store.database import Database

LEAD_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("email", pa.string()),
        ("attributes", pa.string()),
        ("created_at", pa.float64()),
        ("stage", pa.string()),
        ("owner", pa.string()),
        ("fit", pa.float64()),
        ("engagement", pa.float64()),
        ("score", pa.float64()),
    ]
)
EVENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("lead_id", pa.int64()),
        ("type", pa.string()),
        ("occurred_at", pa.float64()),
        ("properties", pa.string()),
    ]
)
TRANSITION_SCHEMA = pa.schema(
    [
        ("lead_id", pa.int64()),
        ("from_stage", pa.string()),
        ("to_stage", pa.string()),
        ("at", pa.float64()),
        ("actor", pa.string()),
    ]
)


# The stage history as it stands (`store.schema.EFFECTIVE_TRANSITIONS`) with people's absorbed moves
# (from == to, `leads.derivation.is_absorbed`): they are facts a backtest replays (under
# a playbook where the lead is not yet in that stage they are real moves), and the
# `transitions` view of `connect` leaves them out again for the reports.
TRANSITION_FACTS = (
    "(SELECT * FROM transitions WHERE voids IS NULL AND id NOT IN "
    "(SELECT voids FROM transitions WHERE voids IS NOT NULL)) AS transitions"
)


# A damaged time (1e17, NaN) stored before the input bounds existed would make every
# DuckDB report fail on TO_TIMESTAMP: a lead's is exported as NULL (the lead still
# counts), a damaged event or transition is left out (migration 0008 repairs them).
_SANE = f"BETWEEN 0 AND {MAX_READABLE_TIME:.0f}"


def _time(col: str) -> str:
    return f"CASE WHEN {col} {_SANE} THEN {col} END AS {col}"


_QUERIES = {
    "leads": (
        f"SELECT id, email, attributes, {_time('created_at')}, stage, owner, fit, engagement, "
        "score FROM leads",
        LEAD_SCHEMA,
    ),
    "events": (
        f"SELECT id, lead_id, type, occurred_at, properties FROM events WHERE occurred_at {_SANE}",
        EVENT_SCHEMA,
    ),
    # In id order: two of people's moves at one instant carry nothing else that orders
    # them, and the backtest replays them by (time, row in this file).
    "transitions": (
        f"SELECT lead_id, from_stage, to_stage, at, actor FROM {TRANSITION_FACTS} "
        f"WHERE at {_SANE} ORDER BY id",
        TRANSITION_SCHEMA,
    ),
}


@dataclass(frozen=True)
class Export:
    """Where a store export lives: one Parquet file per table."""

    leads: Path
    events: Path
    transitions: Path


def export_store(
    db: Database,
    out_dir: Path,
    chunk: int = 200_000,
    progress: Callable[[str, int], None] | None = None,
    tables: tuple[str, ...] = ("leads", "events", "transitions"),
) -> Export:
    """Write the store's leads, events and transitions to Parquet files in `out_dir`.

    Tables left out of `tables` are written empty (reports need no events). An SQLite
    file is read straight into Arrow (`export_sqlite_arrow`), PostgreSQL through rows.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.parquet" for name in _QUERIES}
    for name, (_, schema) in _QUERIES.items():
        if name not in tables:
            pq.write_table(schema.empty_table(), paths[name])
    wanted = {name: paths[name] for name in _QUERIES if name in tables}
    start = None
    if db.is_sqlite and db.path is not None and db.path.exists():
        start = _child_start(db, tuple(wanted))
    if start is not None:
        export_sqlite_arrow(db, wanted, chunk, progress, start=start)
    else:
        export_rows(db, wanted, chunk, progress)
    return Export(paths["leads"], paths["events"], paths["transitions"])


# Rows past which a process with other threads (the server) starts a fresh interpreter
# for the ADBC read: its ~0.5 CPU-s of imports is repaid by the ~4 CPU-µs a row the Arrow
# read saves (docs/benchmarks-analytics.md, stop 17). Below it, Python rows.
SPAWN_ROWS = 300_000


def _child_start(db: Database, tables: tuple[str, ...]) -> str | None:
    """How to start the ADBC child: forked when this process runs no other thread (the
    CLI: fork copies only the calling thread, so a lock another thread held would stay
    held in the child); a fresh interpreter for a big export in a server; else None."""
    import os
    import threading

    if hasattr(os, "fork") and threading.active_count() == 1:
        return "fork"
    with db.read() as conn:
        rows = sum(
            # COUNT(*), not MAX(rowid): ids may be sparse; a count walks the smallest
            # index, a few ms per million rows against seconds of export.
            int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar() or 0)
            for t in tables
        )
    return "spawn" if rows >= SPAWN_ROWS else None


def export_rows(
    db: Database,
    paths: Mapping[str, Path],
    chunk: int = 200_000,
    progress: Callable[[str, int], None] | None = None,
) -> None:
    """`export_store` through the driver's rows (PostgreSQL; SQLite without ADBC)."""
    with db.read() as conn:
        for name, path in paths.items():
            sql, schema = _QUERIES[name]
            result = conn.exec_driver_sql(sql)
            with pq.ParquetWriter(path, schema) as writer:
                while True:
                    rows = result.fetchmany(chunk)
                    if not rows:
                        break
                    cols = list(zip(*rows, strict=True))
                    arrays = [
                        pa.array(list(col), type=f.type)
                        for col, f in zip(cols, schema, strict=True)
                    ]
                    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                    if progress:
                        progress(name, len(rows))


def export_sqlite_arrow(
    db: Database,
    paths: Mapping[str, Path],
    chunk: int = 200_000,
    progress: Callable[[str, int], None] | None = None,
    start: str = "fork",
) -> None:
    """`export_store` from an SQLite file read by ADBC's SQLite driver: the rows go from
    SQLite into Arrow in C, with no Python object per value (at 2M events ~1.0 CPU-s
    against ~2.4 through Python rows, docs/benchmarks-analytics.md, stop 17). Same
    queries, one read transaction, the same Parquet files as `export_rows`.

    In a child process: the driver carries its own copy of SQLite, and two copies in one
    process break each other's POSIX locks on the file (closing one's descriptor drops
    the other's locks; sqlite.org/howtocorrupt.html, 2.2.1). In this process the next
    write through Python's `sqlite3` failed with "disk I/O error". A child's locks are
    its own, as any other reader's."""
    import multiprocessing as mp
    import os

    from leadgate.store.database import _sqlite_readonly_uri

    assert db.path is not None
    uri = _sqlite_readonly_uri(db.path) if db.read_only else str(db.path)
    # `start` (`_child_start`): forked, the child has pyarrow loaded already (a fresh
    # interpreter costs ~0.5 CPU-s of imports) and touches none of the parent's
    # connections; "spawn" where other threads run.
    ctx = mp.get_context(start if hasattr(os, "fork") else "spawn")
    from leadgate.analytics.sqlite_arrow import sqlite_to_parquet

    jobs = [(name, str(path), *_QUERIES[name]) for name, path in paths.items()]
    with ctx.Pool(1) as pool:
        counts = pool.apply(sqlite_to_parquet, (uri, jobs, chunk))
    if progress:
        for name, n in counts.items():
            progress(name, n)


def _reader(path: Path | str) -> str:
    p = str(path).replace("'", "''")
    if str(path).lower().endswith((".csv", ".csv.gz")):
        return f"read_csv('{p}', header = true, all_varchar = false)"
    return f"read_parquet('{p}')"


def connect(
    leads: Path | str,
    events: Path | str,
    transitions: Path | str | None = None,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with views `leads`, `events` (and `transitions`) over files."""
    con = duckdb.connect()
    # Months are UTC months everywhere (reports, advice, backtests): the session zone
    # would otherwise be the machine's, for any query that formats a TIMESTAMPTZ.
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(f"CREATE VIEW leads AS SELECT * FROM {_reader(leads)}")
    con.execute(f"CREATE VIEW events AS SELECT * FROM {_reader(events)}")
    if transitions is not None:
        # `at` is a keyword in DuckDB: the view calls it ts. Absorbed moves (from ==
        # to) are facts, not moves: no report counts them (an `mql -> mql` would be a
        # second MQL case in the SLA report).
        con.execute(
            'CREATE VIEW transitions AS SELECT lead_id, from_stage, to_stage, "at" AS ts, '
            f"actor FROM {_reader(transitions)} WHERE from_stage IS DISTINCT FROM to_stage"
        )
    return con


def run_arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The rows of one query run once, as an Arrow table (`run_arrow(con, "SELECT 1")`).

    `con.sql(sql)` binds a query twice (once to describe the relation, once to run
    it): for the compiled scorer that is 0.06-0.09 s of single-threaded planning on
    every rescore, more than the copy of the rows DuckDB warns about on the DB-API
    path costs (~15 ms for 1M scored leads; docs/benchmarks-analytics.md, 2026-12-07).
    """
    with warnings.catch_warnings():
        # "Arrow output on a DB-API result makes an extra copy": the copy is the cheaper half.
        warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning)
        return con.execute(sql).to_arrow_table()


def rescore(con: duckdb.DuckDBPyConnection, pb: Playbook, as_of: float) -> pa.Table:
    """Every lead's fit, engagement, total and grades as of `as_of` (an Arrow table)."""
    return run_arrow(con, compile_scoring(pb, as_of, "duckdb"))


def rescore_summary(table: pa.Table) -> dict[str, Any]:
    """Counts per grade and score means: what a person checks after a rescore."""
    con = duckdb.connect()
    con.register("s", table)
    grades = dict(
        con.execute("SELECT grade, COUNT(*) FROM s GROUP BY grade ORDER BY grade").fetchall()
    )
    mean = con.execute("SELECT COUNT(*), AVG(fit), AVG(engagement), AVG(total) FROM s").fetchone()
    con.close()
    assert mean is not None
    return {
        "leads": mean[0],
        "mean_fit": round(mean[1] or 0.0, 2),
        "mean_engagement": round(mean[2] or 0.0, 2),
        "mean_total": round(mean[3] or 0.0, 2),
        "grades": grades,
    }


def store_connection(
    db: Database, work_dir: Path, with_events: bool = False
) -> duckdb.DuckDBPyConnection:
    """DuckDB views over a fresh export of the store (events only when asked for)."""
    tables = ("leads", "events", "transitions") if with_events else ("leads", "transitions")
    exp = export_store(db, work_dir, tables=tables)
    return connect(exp.leads, exp.events, exp.transitions)
