"""The web app's log lines carry the client's path escaped (`leadgate.textout`)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.web.base import WebRoute

from .conftest import Team, sign_in


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
