"""A newcomer's first hour (issue 19), over HTTP: status codes and bodies."""

from __future__ import annotations

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
