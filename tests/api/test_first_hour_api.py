"""A newcomer's first hour (issue 19), over HTTP: status codes and bodies."""

from __future__ import annotations

import logging
import re

import pytest

from .conftest import Api


def _add(api: Api, email: str) -> int:
    r = api.post("/api/v1/leads", json={"email": email})
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def test_stage_names_ignore_case_over_http(api: Api) -> None:
    lead_id = _add(api, "ann@acme.com")
    r = api.post(f"/api/v1/leads/{lead_id}/stage", json={"to": "MQL"})
    assert r.status_code == 200, r.text
    assert r.json()["transition"]["to"] == "mql"
    r = api.get("/api/v1/leads", params={"stage": "Mql"})
    assert r.status_code == 200, r.text
    assert [x["email"] for x in r.json()["items"]] == ["ann@acme.com"]
    r = api.post(f"/api/v1/leads/{lead_id}/stage", json={"to": "won"})
    assert r.status_code == 422


def test_one_access_line_per_request_without_key_or_query(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="leadgate.access"):
        api.get("/api/v1/leads", params={"owner": "secret-owner@acme.com"})
        api.get("/api/v1/leads/999999")
        api.client.get("/api/v1/leads")
    lines = [r.getMessage() for r in caplog.records if r.name == "leadgate.access"]
    assert len(lines) == 3
    assert re.fullmatch(r"GET /api/v1/leads 200 \d+\.\d ms", lines[0])
    assert re.fullmatch(r"GET /api/v1/leads/999999 404 \d+\.\d ms", lines[1])
    assert re.fullmatch(r"GET /api/v1/leads 401 \d+\.\d ms", lines[2])
    text = caplog.text
    assert "secret-owner" not in text
    assert all(k not in text for k in api.keys.values())


def test_the_access_line_escapes_what_the_path_carries(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # The server percent-decodes the path: a CR LF would forge a log line of its own, an
    # ESC act on the terminal of whoever reads the log.
    with caplog.at_level(logging.INFO, logger="leadgate.access"):
        api.get("/api/v1/leads/%0d%0aINFO%20leadgate.access:%20POST%20/x%20200%201.0%20ms")
        api.get("/api/v1/%1b%5b2J%1b%5d52;c;eA==%07")
    lines = [r.getMessage() for r in caplog.records if r.name == "leadgate.access"]
    assert len(lines) == 2
    assert all("\n" not in x and "\r" not in x and "\x1b" not in x for x in lines)
    assert lines[0].startswith("GET /api/v1/leads/\\x0d\\x0aINFO leadgate.access: POST /x")
    assert lines[1].startswith("GET /api/v1/\\x1b[2J\\x1b]52;c;eA==\\x07 404 ")


def test_an_unhandled_error_logs_the_path_escaped(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(x: str) -> None:
        raise RuntimeError("boom")

    api.app.add_api_route("/api/v1/boom/{x}", boom)
    with caplog.at_level(logging.ERROR, logger="leadgate.api"):
        r = api.get("/api/v1/boom/a%0d%0aINFO%20forged%1b%5b2J")
    assert r.status_code == 500 and "boom" not in r.text
    (line,) = [r.getMessage() for r in caplog.records if r.name == "leadgate.api"]
    # (Starlette's URL drops the CR LF itself, as urllib.parse does; the ESC it keeps.)
    assert line == "unhandled error on GET /api/v1/boom/aINFO forged\\x1b[2J"


def test_health_and_readiness_at_the_root_and_under_api_v1(api: Api) -> None:
    for path in ("/healthz", "/api/v1/healthz"):
        r = api.client.get(path)
        assert (r.status_code, r.json()) == (200, {"status": "ok"}), path
    for path in ("/readyz", "/api/v1/readyz"):
        r = api.client.get(path)
        assert (r.status_code, r.json()) == (200, {"status": "ready"}), path


def test_put_identical_playbook_keeps_the_version(api: Api) -> None:
    text = api.get("/api/v1/playbook").json()["yaml"]
    r = api.put("/api/v1/playbook", content=text, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unchanged"] is True and body["version"] == body["same_as"] == 1
    assert body["rescored"] == 0
    assert api.get("/api/v1/playbook").json()["version"] == 1


def test_get_leads_by_email_and_unknown_parameters_400(api: Api) -> None:
    _add(api, "ann@acme.com")
    _add(api, "bob@acme.com")
    r = api.get("/api/v1/leads", params={"email": "Ann@ACME.com"})
    assert r.status_code == 200
    assert [x["email"] for x in r.json()["items"]] == ["ann@acme.com"]
    assert r.json()["next_cursor"] is None
    r = api.get("/api/v1/leads", params={"email": "nobody@acme.com"})
    assert r.status_code == 200 and r.json()["items"] == []
    r = api.get("/api/v1/leads", params={"email": "not-an-email"})
    assert r.status_code == 422 and r.json()["detail"].startswith("email")
    r = api.get("/api/v1/leads", params={"mail": "ann@acme.com"})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith("unknown query parameter 'mail' (known: cursor, email")
