"""SQLite's write lock held by another process past the busy timeout (a long import, a
rescore): each front end says the store is busy and nothing was written, instead of a
traceback (CLI) or a 500 (HTTP). Trying again after the lock is released works."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgate.api import create_app
from leadgate.cli.main import app as cli
from leadgate.engine.engine import Engine
from leadgate.keys import create_key
from leadgate.store import database
from leadgate.store.database import Database, sqlite_path

runner = CliRunner()


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.2)


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
