"""The backtest's export of an SQLite store through ADBC (Arrow in C) writes the same
Parquet files as the export through Python rows: types, NULLs, JSON text, times, order.

The store is filled behind leadgate's back with what a long-lived store may hold:
unicode everywhere, no owner on the first few thousand leads (the ADBC driver infers a
column's type from its first rows), huge ids and scores, empty and odd properties,
damaged times, voided and absorbed moves, moves at one instant and times that fall as
ids rise.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from leadgate.analytics import batch
from leadgate.analytics.batch import _QUERIES, export_rows, export_sqlite_arrow, export_store
from leadgate.store.database import Database

T0 = 1_780_000_000.0
N = 3000  # more than a batch of the driver's type inference


def _store(url: str) -> Database:
    db = Database(url)
    raw = db.engine.raw_connection()  # with the SQL functions the store's triggers call
    con = raw.driver_connection
    assert isinstance(con, sqlite3.Connection)
    leads = []
    for i in range(1, N + 1):
        lid = i if i < N else 2**62  # a huge id
        owner = None if i < 2500 or i % 3 else f"rép {i} ✓"
        created = {5: 1e17, 6: -1.0, 7: 1_780_000_000}.get(i, T0 + i * 0.001)
        attrs = {1: "{}", 2: '{"": ""}', 3: '{"n": 1e308, "t": "日本語 \\u0000 😀"}'}.get(
            i, json.dumps({"company_size": i, "title": 'Zoë\'s "VP"'}, ensure_ascii=False)
        )
        fit = {8: 1e308, 9: -0.0, 10: 12}.get(i, i / 7)
        leads.append(
            (lid, f"p{i}@acme.io" if i != 11 else "ünï@例え.jp", attrs, created, created,
             "mql" if i % 5 == 0 else "lead", created, owner, fit, 3.25, fit,
             "A", "1", "A1", created, "{}", 0)
        )  # fmt: skip
    con.executemany(
        "INSERT INTO leads (id, email, attributes, created_at, updated_at, stage, stage_at, "
        "owner, fit, engagement, score, fit_grade, engagement_grade, grade, scored_at, "
        "score_state, exit_armed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        leads,
    )
    events = []
    for i in range(1, 4 * N):
        lid = 1 + i % 50
        props = ["{}", "", '{"url": "/pricing?q=ü&x=\\"y\\""}', '{"a": [1, {"b": null}]}'][i % 4]
        at = {7: 1e17, 8: float("inf"), 9: -5.0, 10: 253402300799.0}.get(i, T0 + i // 3)
        events.append((f"ev-{i}-ß", lid, "page_view" if i % 2 else "e-mail ✉", at, at, props))
    con.executemany(
        "INSERT INTO events (id, lead_id, type, occurred_at, received_at, properties) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        events,
    )
    moves = []
    for i in range(1, 400):
        # Times fall as ids rise; every third pair shares an instant.
        at = T0 + 10_000 - (i // 3 if i % 3 else i)
        to = ["mql", "sal", "disqualified", "mql"][i % 4]
        moves.append((1 + i % 40, "lead" if to != "mql" or i % 8 else "mql", to, at,
                      "rule:mql" if i % 7 == 0 else f"rep ✓ {i}", None))  # fmt: skip
    moves.append((1, "lead", "mql", 1e17, "rep", None))  # damaged: left out
    con.executemany(
        "INSERT INTO transitions (lead_id, from_stage, to_stage, at, actor, voids) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        moves,
    )
    # A correction voiding the fifth move.
    con.execute(
        "INSERT INTO transitions (lead_id, from_stage, to_stage, at, actor, voids) "
        "VALUES (6, 'x', 'x', ?, 'rep', 5)",
        (T0,),
    )
    con.commit()
    raw.close()
    return db


def test_arrow_export_equals_the_rows_export(sqlite_url: str, tmp_path: Path) -> None:
    db = _store(sqlite_url)
    names = tuple(_QUERIES)
    rows = {n: tmp_path / f"rows-{n}.parquet" for n in names}
    arrow = {n: tmp_path / f"arrow-{n}.parquet" for n in names}
    export_rows(db, rows)
    seen: dict[str, int] = {}
    export_sqlite_arrow(
        db, arrow, chunk=1000, progress=lambda n, k: seen.update({n: seen.get(n, 0) + k})
    )
    for n in names:
        a, b = pq.read_table(rows[n]), pq.read_table(arrow[n])
        assert b.schema == a.schema == _QUERIES[n][1]
        assert b.num_rows == a.num_rows > 0 and seen[n] == a.num_rows
        if n == "events":  # no order asked of the events: the reader sorts them
            a, b = a.sort_by("id"), b.sort_by("id")
        assert b.to_pylist() == a.to_pylist(), n
    leads = pq.read_table(arrow["leads"]).to_pylist()
    assert sum(r["owner"] is not None for r in leads) > 0
    assert {r["id"] for r in leads} >= {2**62}
    ts = pq.read_table(arrow["transitions"]).to_pylist()
    assert len(ts) == 398  # the damaged move, the voided one and its correction out


def test_the_transitions_are_written_in_id_order(sqlite_url: str, tmp_path: Path) -> None:
    db = _store(sqlite_url)
    exp = export_store(db, tmp_path)
    got = pq.read_table(exp.transitions).column("actor").to_pylist()
    con = sqlite3.connect(db.path)  # type: ignore[arg-type]
    want = [
        a
        for (a,) in con.execute(
            "SELECT actor FROM transitions WHERE voids IS NULL AND id != 5 "
            "AND at < 1e16 ORDER BY id"
        )
    ]
    con.close()
    assert got == want


def test_an_sqlite_store_is_exported_through_arrow(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _store(sqlite_url)

    def no_rows(*a: object, **k: object) -> None:
        raise AssertionError("the SQLite export went through Python rows")

    monkeypatch.setattr(batch, "export_rows", no_rows)
    # As in the CLI, a process of one thread: a pytest-xdist worker runs execnet's own
    # I/O thread, and other threads send a small export through rows (test below).
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    exp = export_store(db, tmp_path, tables=("leads", "transitions"))
    assert pq.read_table(exp.leads).num_rows == N
    assert pq.read_table(exp.events).num_rows == 0  # left out: written empty


def test_a_process_with_threads_never_forks(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server runs exports in worker threads: a fork copies only the calling thread,
    # so a lock another thread held (the allocator's, logging's, a library's) would stay
    # held in the child. There a small export goes through rows, a big one through a
    # fresh interpreter, whose files equal the rows export's.
    import threading

    db = _store(sqlite_url)
    starts: list[str] = []
    real = batch.export_sqlite_arrow

    def spy(*a: object, start: str = "fork", **k: object) -> None:
        starts.append(start)
        real(*a, start=start, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "export_sqlite_arrow", spy)
    with monkeypatch.context() as m:  # as in the CLI, whatever else this test run left
        m.setattr(threading, "active_count", lambda: 1)
        export_store(db, tmp_path / "cli")
    assert starts == ["fork"]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        export_store(db, tmp_path / "small")
        assert starts == ["fork"]  # under SPAWN_ROWS: through rows
        monkeypatch.setattr(batch, "SPAWN_ROWS", 1)
        exp = export_store(db, tmp_path / "big")
        assert starts == ["fork", "spawn"]
    finally:
        stop.set()
        other.join()
    for name in _QUERIES:
        a = pq.read_table(tmp_path / "small" / f"{name}.parquet")
        b = pq.read_table(tmp_path / "big" / f"{name}.parquet")
        if name == "events":
            a, b = a.sort_by("id"), b.sort_by("id")
        assert b.to_pylist() == a.to_pylist(), name
    assert pq.read_table(exp.leads).num_rows == N
