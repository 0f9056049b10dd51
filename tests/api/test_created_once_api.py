"""POST /leads for a new address that another writer creates at the same moment (two API
workers on PostgreSQL): the caller whose row did not land answers 200, as for any
existing lead, not a second 201 Created. The other writer commits the lead exactly
between this request's "who is new" and its INSERT (a hook, no timing). SQLite has one
writer at a time: the race cannot happen there."""

from __future__ import annotations

from typing import Any

import pytest

from leadgate.engine.engine import Engine
from leadgate.store.database import Database
from leadgate.store.repository import Repository

from .conftest import Api

V1 = "/api/v1"


@pytest.mark.parametrize("role", ["admin", "ingest"])
def test_the_caller_that_did_not_create_the_lead_gets_200(
    api: Api, monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    if api.engine.db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no race")
    other = Engine(Database(api.engine.db.url), clock=api.engine.clock)
    real = Repository.insert_leads
    raced: list[str] = []

    def insert_leads(self: Repository, leads: Any, now: float) -> set[str]:
        if not raced and self.db is api.engine.db:
            raced.extend(x.email for x in leads)
            assert other.upsert_leads([(e, {}, None) for e in raced])[0] == len(raced)
        return real(self, leads, now)

    monkeypatch.setattr(Repository, "insert_leads", insert_leads)
    try:
        r = api.post(f"{V1}/leads", role=role, json={"email": "ann@acme.com", "company_size": 80})
    finally:
        other.db.dispose()
    assert raced == ["ann@acme.com"]
    assert r.status_code == 200, r.text
    if role == "ingest":
        assert r.json()["created"] is False
    items = api.get(f"{V1}/leads").json()["items"]
    assert [x["email"] for x in items] == ["ann@acme.com"]
    lead = api.get(f"{V1}/leads/{items[0]['id']}").json()
    assert lead["attributes"]["company_size"] == 80
