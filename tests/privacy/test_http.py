"""A person's rights over HTTP: export, erase, consent (admin keys), and the suppression
seen by the other routes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.engine.engine import Engine
from leadgate.keys import create_key
from leadgate.store.database import Database


def test_export_erase_consent_over_http(sqlite_url: str, clock: Any) -> None:
    db = Database(sqlite_url)
    eng = Engine(db, clock=clock)
    eng.ensure_playbook()
    admin = {"Authorization": f"Bearer {create_key(db, 'admin', 'a')[1]}"}
    ingest = {"Authorization": f"Bearer {create_key(db, 'ingest', 'i')[1]}"}
    with TestClient(create_app(engine=eng)) as c:
        assert (
            c.post(
                "/api/v1/leads",
                headers=ingest,
                json={"email": "Ana@Acme.com", "first_name": "Anabela"},
            ).status_code
            == 201
        )
        r = c.get("/api/v1/people/ana@acme.com/export", headers=admin)
        assert r.status_code == 200 and r.json()["lead"]["attributes"]["first_name"] == "Anabela"
        r = c.post("/api/v1/people/ana@acme.com/erase", headers=admin, json={})
        assert r.status_code == 422
        r = c.post("/api/v1/people/ana@acme.com/erase", headers=admin, json={"reason": "ticket 7"})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["actor"] == "api:a" and out["rows"]["lead"] == 1
        assert "Anabela" not in c.get("/api/v1/leads?limit=10", headers=admin).text
        # Suppressed: the API will not bring the person back.
        r = c.post("/api/v1/leads", headers=ingest, json={"email": "ana@acme.com"})
        assert r.status_code == 409 and r.headers["content-type"].startswith(
            "application/problem+json"
        )
        r = c.post(
            "/api/v1/events", headers=ingest, json={"email": "ana@acme.com", "type": "page_view"}
        )
        body = r.json()
        assert (body["accepted"], body["rejected"]) == (0, 1)
        assert body["items"][0]["status"] == "rejected"
        assert "suppressed" in body["items"][0]["error"]
        assert c.get("/api/v1/people/ana@acme.com/export", headers=admin).json()["suppressed"]
        r = c.post("/api/v1/people/ana@acme.com/consent", headers=admin, json={"reason": "form"})
        assert r.json() == {"suppressed": False, "was_suppressed": True}
        assert (
            c.post("/api/v1/leads", headers=ingest, json={"email": "ana@acme.com"}).status_code
            == 201
        )
        assert c.get("/api/v1/people/nobody@acme.com/export", headers=admin).status_code == 404
