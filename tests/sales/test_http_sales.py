"""The sales endpoints, mounted the way the API app mounts them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from leadgate.engine.engine import Engine
from leadgate.sales import Sales, http
from tests.sales.conftest import HOT


@pytest.fixture
def client(engine: Engine, sales: Sales) -> Iterator[TestClient]:
    from leadgate.api.problems import install as problems

    app = FastAPI()
    problems(app)
    app.include_router(http.router, prefix="/api/v1")
    http.set_engine_provider(lambda: engine)
    with TestClient(app) as c:
        yield c
    http.set_engine_provider(None)


def test_reps_over_http(client: TestClient) -> None:
    r = client.get("/api/v1/reps")
    assert r.status_code == 200 and [x["name"] for x in r.json()][:2] == ["anna", "bo"]
    r = client.post("/api/v1/reps", json={"name": "gia", "role": "bdr", "timezone": "Asia/Tokyo"})
    assert r.status_code == 201 and r.json()["timezone"] == "Asia/Tokyo"
    r = client.post("/api/v1/reps", json={"name": "gia", "role": "bdr"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert "exists already" in r.json()["detail"]
    r = client.post("/api/v1/reps", json={"name": "hal", "role": "bdr", "hours": "late"})
    assert r.status_code == 422 and r.json()["detail"].startswith("hours:")
    r = client.post("/api/v1/reps/gia/away", json={"until": "2099-02-01"})
    assert r.status_code == 200 and r.json()["away"] is True
    assert client.post("/api/v1/reps/nobody/away", json={}).status_code == 404


def test_qualification_opportunity_queue(
    client: TestClient, engine: Engine, raise_hand: Any
) -> None:
    lead = raise_hand("ann@acme.com", HOT)
    lid = lead["id"]
    r = client.put(
        f"/api/v1/leads/{lid}/qualification", json={"answers": {"budgett": {"status": "met"}}}
    )
    assert r.status_code == 422 and "did you mean 'budget'" in r.json()["detail"]
    r = client.put(
        f"/api/v1/leads/{lid}/qualification", json={"answers": {"budget": {"status": "maybe"}}}
    )
    assert r.status_code == 422
    answers = {k: {"status": "met"} for k in ("budget", "authority", "need", "timeline")}
    answers["budget"]["note"] = "50k approved"
    r = client.put(f"/api/v1/leads/{lid}/qualification", json={"answers": answers})
    assert r.status_code == 200 and r.json()["passed"] is True
    r = client.get(f"/api/v1/leads/{lid}/qualification")
    assert r.json()["criteria"][0]["note"] == "50k approved" and len(r.json()["history"]) == 4
    assert client.get("/api/v1/leads/999999/qualification").status_code == 404

    r = client.get("/api/v1/queue", params={"rep": "anna"})
    assert r.status_code == 200 and r.json()[0]["email"] == "ann@acme.com"

    body = {"amount": 5000, "currency": "EUR", "expected_close": "2026-09-30"}
    r = client.post(f"/api/v1/leads/{lid}/opportunity", json=body)
    assert r.status_code == 409 and "sql" not in r.json().get("allowed", ["sql"])
    engine.set_stage("ann@acme.com", "sal", None, "user:anna")
    engine.set_stage("ann@acme.com", "sql", None, "user:anna")
    r = client.post(f"/api/v1/leads/{lid}/opportunity", json=body)
    assert r.status_code == 200 and r.json()["stage"] == "sqo"
    assert r.json()["opportunity"]["amount"] == 5000

    r = client.post(f"/api/v1/leads/{lid}/assign", json={"rep": "finn", "reason": "holiday cover"})
    assert r.status_code == 200 and r.json()["owner"] == "finn"


def test_nurture_over_http(client: TestClient, engine: Engine, sales: Sales) -> None:
    from leadgate.ingest.validate import parse_event

    engine.upsert_leads([("nh@acme.com", HOT, None)])
    engine.ingest([parse_event({"email": "nh@acme.com", "type": "demo_request"}, engine.clock())])
    lid = engine.show("nh@acme.com")["id"]
    r = client.get(f"/api/v1/leads/{lid}/nurture")
    assert r.status_code == 200
    assert r.json() == {"id": lid, "email": "nh@acme.com", "stage": "mql", "nurture": None}
    assert client.get("/api/v1/leads/999999/nurture").status_code == 404
    from leadgate.sales import install

    track = {"name": "t", "steps": [{"wait_days": 2}]}
    install(engine, sections={"nurture": {"tracks": [track]}})
    engine.set_stage("nh@acme.com", "nurture", "not now", "user:anna")
    n = client.get(f"/api/v1/leads/{lid}/nurture").json()["nurture"]
    assert n["track"] == "t" and n["status"] == "active" and n["reason"] == "not now"
    assert [t["kind"] for t in n["timeline"]] == ["enrolled"]
