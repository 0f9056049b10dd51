"""The store cannot take a write for reasons no input caused (`leadgate.store.trouble`):

- busy: SQLite's write lock held by another process past the busy timeout (a long
  import, a rescore);
- full: the disk (simulated with SQLite's `max_page_count`, which fails a write with the
  same SQLITE_FULL a full disk does);
- damaged: a page of the file overwritten.

Each front end says so and that nothing of it was written, instead of a traceback (CLI)
or a 500 (HTTP); what was committed before stays; trying again afterwards works."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgate.api import create_app
from leadgate.cli.main import app as cli
from leadgate.engine.engine import Engine
from leadgate.keys import create_key
from leadgate.store import database, trouble
from leadgate.store.database import Database, sqlite_path

runner = CliRunner()


@pytest.fixture(autouse=True)
def _short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trouble, "BUSY_TIMEOUT_S", 0.2)


@contextmanager
def write_locked(url: str) -> Iterator[None]:
    """Another process's write transaction, held (a connection of its own)."""
    path = sqlite_path(url)
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def _events(url: str) -> int:
    path = sqlite_path(url)
    assert path is not None
    with sqlite3.connect(path) as con:
        return int(con.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def test_the_cli_says_the_store_is_busy_and_a_retry_works(sqlite_url: str) -> None:
    add = ["event", "add", "--email", "ann@acme.com", "--type", "webinar_attended"]
    assert runner.invoke(cli, ["init", "--db", sqlite_url]).exit_code == 0
    with write_locked(sqlite_url):
        r = runner.invoke(cli, [*add, "--db", sqlite_url])
        assert r.exit_code == 2, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: the store is busy"), r.stderr
        # Reads go on: SQLite's WAL lets readers past a writer.
        assert runner.invoke(cli, ["lead", "list", "--db", sqlite_url]).exit_code == 0
    assert _events(sqlite_url) == 0
    assert runner.invoke(cli, [*add, "--db", sqlite_url]).exit_code == 0
    assert _events(sqlite_url) == 1


def test_the_api_answers_503_with_retry_after_and_a_retry_works(sqlite_url: str) -> None:
    engine = Engine(Database(sqlite_url))
    engine.ensure_playbook()
    key = create_key(engine.db, "admin", "busy-test")[1]
    headers = {"Authorization": f"Bearer {key}"}
    body = {"events": [{"id": "e1", "email": "ann@acme.com", "type": "webinar_attended"}]}
    with TestClient(create_app(engine=engine), raise_server_exceptions=False) as client:
        with write_locked(sqlite_url):
            r = client.post("/api/v1/events", json=body, headers=headers)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.headers["retry-after"] == "5"
            problem = orjson.loads(r.content)
            assert problem["detail"].startswith("the store is busy")
            assert "Traceback" not in r.text
        assert _events(sqlite_url) == 0
        r = client.post("/api/v1/events", json=body, headers=headers)
        assert r.status_code in (200, 202), r.text
    assert _events(sqlite_url) == 1


@contextmanager
def disk_full(monkeypatch: pytest.MonkeyPatch, url: str, spare_pages: int) -> Iterator[None]:
    """Every new connection of ours may grow the file by `spare_pages` pages at most."""
    path = sqlite_path(url)
    assert path is not None
    with sqlite3.connect(path) as con:
        limit = int(con.execute("PRAGMA page_count").fetchone()[0]) + spare_pages
    real = database._sqlite_configure

    def limited(dbapi_conn: Any, read_only: bool) -> None:
        real(dbapi_conn, read_only)
        dbapi_conn.execute(f"PRAGMA max_page_count={limit}")

    with monkeypatch.context() as m:
        m.setattr(database, "_sqlite_configure", limited)
        yield


def _leads(url: str) -> int:
    path = sqlite_path(url)
    assert path is not None
    with sqlite3.connect(path) as con:
        return int(con.execute("SELECT COUNT(*) FROM leads").fetchone()[0])


def test_an_import_that_fills_the_disk_keeps_what_it_wrote_and_says_so(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 3000
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "email,company,job_title\n"
        + "".join(f"p{i}@c{i}.example,Company {i} {'x' * 60},VP Sales\n" for i in range(rows))
    )
    imp = ["lead", "import", str(csv), "--batch-size", "200", "--db", sqlite_url]
    assert runner.invoke(cli, ["init", "--db", sqlite_url]).exit_code == 0
    with disk_full(monkeypatch, sqlite_url, spare_pages=120):
        r = runner.invoke(cli, imp)
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "error: the store's disk is full: nothing of this was written" in r.stderr
    kept = _leads(sqlite_url)
    assert 0 < kept < rows  # the batches committed before the disk filled stay
    r = runner.invoke(cli, imp)  # space freed: the same import again completes it
    assert r.exit_code == 0, r.output
    assert _leads(sqlite_url) == rows


def test_the_api_answers_507_when_the_disk_is_full(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(Database(sqlite_url))
    engine.ensure_playbook()
    key = create_key(engine.db, "admin", "full-test")[1]
    headers = {"Authorization": f"Bearer {key}"}
    events = [
        {"id": f"e{i}", "email": f"p{i}@c{i}.example", "type": "webinar_attended"}
        for i in range(2000)
    ]
    with disk_full(monkeypatch, sqlite_url, spare_pages=20):
        app = create_app(engine=Engine(Database(sqlite_url)))
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.post("/api/v1/events", json={"events": events}, headers=headers)
    assert r.status_code == 507, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = orjson.loads(r.content)
    assert problem["type"].endswith("store-full") and problem["title"] == "Insufficient storage"
    assert _events(sqlite_url) == 0


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (sqlite3.OperationalError("database is locked"), "store-busy"),
        (sqlite3.OperationalError("database or disk is full"), "store-full"),
        (sqlite3.DatabaseError("database disk image is malformed"), "store-damaged"),
        (sqlite3.OperationalError("no such table: leads"), None),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), None),
        (ValueError("database is locked"), None),
    ],
)
def test_what_counts_as_busy_or_full(error: Exception, kind: str | None) -> None:
    found = trouble.trouble(error)
    assert (found.kind if found else None) == kind


@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [("53100", "store-full"), ("55P03", "store-busy"), ("40P01", "store-busy"), ("23505", None)],
)
def test_postgres_errors_by_their_sqlstate_wrapped_as_sqlalchemy_does(
    sqlstate: str, kind: str | None
) -> None:
    class DriverError(Exception):
        pass

    class Wrapped(Exception):
        pass

    orig = DriverError("x")
    orig.sqlstate = sqlstate  # type: ignore[attr-defined]
    wrapped = Wrapped("x")
    wrapped.orig = orig  # type: ignore[attr-defined]
    found = trouble.trouble(wrapped)
    assert (found.kind if found else None) == kind


def test_a_damaged_store_is_one_line_naming_the_fix(sqlite_url: str) -> None:
    assert runner.invoke(cli, ["init", "--db", sqlite_url]).exit_code == 0
    add = ["lead", "add", "--email", "ann@acme.com", "--db", sqlite_url]
    assert runner.invoke(cli, add).exit_code == 0
    path = sqlite_path(sqlite_url)
    assert path is not None
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = int(con.execute("PRAGMA page_size").fetchone()[0])
        root = int(
            con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'leads'").fetchone()[0]
        )
    with path.open("r+b") as fh:  # the leads table's first page, overwritten
        fh.seek((root - 1) * page)
        fh.write(b"\xff" * 64)
    for args in (["lead", "show", "ann@acme.com"], ["lead", "list"], add[:4]):
        r = runner.invoke(cli, [*args, "--db", sqlite_url])
        assert r.exit_code == 2, (args, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: the store is damaged ("), lines
        assert "restore it from a backup" in lines[0]
