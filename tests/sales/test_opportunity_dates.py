"""Opportunity close dates over HTTP (issue 19): no past date unless backfill; PATCH."""

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


def test_past_close_refused_backfill_allowed_and_patch(
    client: TestClient, engine: Engine, sales: Sales, raise_hand: Any
) -> None:
    # The engine fixture's clock: 2026-05-28.
    lid = raise_hand("ann@acme.com", HOT)["id"]
    engine.set_stage("ann@acme.com", "sal", None, "user:anna")
    sales.qualify(
        "ann@acme.com", dict.fromkeys(("budget", "authority", "need", "timeline"), "met"), {}, "u"
    )
    engine.set_stage("ann@acme.com", "sql", None, "user:anna")
    body: dict[str, Any] = {"amount": 5000, "currency": "EUR", "expected_close": "2026-05-27"}
    for amount in (1.7e308, 1e15 + 1):
        r = client.post(
            f"/api/v1/leads/{lid}/opportunity", json={**body, "amount": amount, "backfill": True}
        )
        assert r.status_code == 422 and r.json()["detail"].startswith("amount: "), r.text
    r = client.post(f"/api/v1/leads/{lid}/opportunity", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith(
        "close_date: 2026-05-27 is in the past (today is 2026-05-28)"
    )
    r = client.post(f"/api/v1/leads/{lid}/opportunity", json={**body, "backfill": True})
    assert r.status_code == 200 and r.json()["opportunity"]["expected_close"] == "2026-05-27"

    r = client.patch(f"/api/v1/leads/{lid}/opportunity", json={"expected_close": "2026-05-01"})
    assert r.status_code == 422 and "in the past" in r.json()["detail"]
    r = client.patch(
        f"/api/v1/leads/{lid}/opportunity", json={"expected_close": "2026-07-01", "amount": 7000}
    )
    assert r.status_code == 200, r.text
    o = r.json()["opportunity"]
    assert (o["expected_close"], o["amount"], o["currency"]) == ("2026-07-01", 7000, "EUR")
    r = client.patch(f"/api/v1/leads/{lid}/opportunity", json={"currency": "EURO"})
    assert r.status_code == 422

    engine.set_stage("ann@acme.com", "customer", None, "user:eve")
    r = client.patch(f"/api/v1/leads/{lid}/opportunity", json={"amount": 1})
    assert r.status_code == 422 and "closed (won)" in r.json()["detail"]


def test_a_won_deal_reopens_to_sqo_and_a_customer_churns(
    engine: Engine, sales: Sales, raise_hand: Any
) -> None:
    raise_hand("ann@acme.com", HOT)
    engine.set_stage("ann@acme.com", "sal", None, "user:anna")
    sales.qualify(
        "ann@acme.com", dict.fromkeys(("budget", "authority", "need", "timeline"), "met"), {}, "u"
    )
    engine.set_stage("ann@acme.com", "sql", None, "user:anna")
    sales.opportunity("ann@acme.com", 100, "EUR", "2026-06-30", "user:eve")
    engine.set_stage("ann@acme.com", "customer", None, "user:eve")
    assert engine.show("ann@acme.com")["opportunity"]["outcome"] == "won"
    engine.set_stage("ann@acme.com", "sqo", "contract renegotiated", "user:eve")
    shown = engine.show("ann@acme.com")
    assert shown["stage"] == "sqo" and shown["opportunity"]["outcome"] == "open"
    engine.set_stage("ann@acme.com", "customer", None, "user:eve")
    engine.set_stage("ann@acme.com", "nurture", "churned: budget cut", "user:eve")
    shown = engine.show("ann@acme.com")
    assert shown["stage"] == "nurture" and shown["opportunity"]["outcome"] == "won"
    moves = [(h["from"], h["to"]) for h in shown["history"]]
    assert ("customer", "sqo") in moves and ("customer", "nurture") in moves
