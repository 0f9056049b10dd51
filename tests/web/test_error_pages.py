"""Error pages and their log lines: an unexpected failure's path is logged escaped
(`leadgate.textout`); a store busy with another process's write is a 503 page saying so,
nothing saved, and the same form sent again works."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from conftest import FakeClock
from leadgate.api import create_app
from leadgate.engine.engine import Engine
from leadgate.store import trouble
from leadgate.store.database import Database
from leadgate.web.base import WebRoute

from .conftest import Team, field, seed, sign_in


def test_a_failing_page_logs_its_path_escaped(team: Team, caplog: pytest.LogCaptureFixture) -> None:
    def boom(x: str) -> None:
        raise RuntimeError("boom")

    app = create_app(engine=team.engine)
    app.router.add_api_route("/app/boom/{x}", boom, route_class_override=WebRoute)
    # First, before the app's own catch-all for unknown /app pages.
    app.router.routes.insert(0, app.router.routes.pop())
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        caplog.at_level(logging.ERROR, logger="leadgate.web"),
    ):
        sign_in(client, "olga")
        r = client.get("/app/boom/a%1b%5d52;c;eA==%07b")
    assert r.status_code == 500 and "Something went wrong" in r.text and "boom" not in r.text
    (line,) = [x.getMessage() for x in caplog.records if x.name == "leadgate.web"]
    assert line == "unhandled error on GET /app/boom/a\\x1b]52;c;eA==\\x07b"


def test_a_busy_store_is_a_503_page_and_the_form_sent_again_works(
    sqlite_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    # SQLite's write lock: one backend only (PostgreSQL writers wait on row locks).
    engine = Engine(Database(sqlite_url), clock=clock)
    engine.ensure_playbook()
    team = seed(engine)
    path = engine.db.path
    assert path is not None
    monkeypatch.setattr(trouble, "BUSY_TIMEOUT_S", 0.2)
    with TestClient(create_app(engine=team.engine), raise_server_exceptions=False) as client:
        sign_in(client, "anna")
        url = f"/app/leads/{team.mql_id}"
        csrf = field(client.get(url).text, "csrf")
        other = sqlite3.connect(path, isolation_level=None, timeout=0.2)
        other.execute("BEGIN IMMEDIATE")  # another process's write, held
        try:
            r = client.post(url + "/move", data={"csrf": csrf, "action": "accept"})
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert r.status_code == 503 and "The store is busy" in r.text, r.text
        assert r.headers["retry-after"] == "5" and "Traceback" not in r.text
        assert team.engine.show("mia@acme.example")["stage"] == "mql"
        r = client.post(url + "/move", data={"csrf": csrf, "action": "accept"})
        assert r.status_code == 200
        assert team.engine.show("mia@acme.example")["stage"] == "sal"
