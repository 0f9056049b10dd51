"""An erased person's lead stays for the funnel, under a pseudonym, with nothing written
about the person (art. 17, docs/privacy.md). A rep could still type a note on it (the
web app's notes, a qualification answer's note): free text about the person, kept again
after the erasure. Both are refused now, naming the field; answers alone are kept."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import InputError, parse_event
from leadgate.keys import create_key
from leadgate.privacy.erase import erase_person
from leadgate.qualification.frameworks import QualificationError
from leadgate.sales import install
from leadgate.sales.activity import NOTE_EVENT, add_note
from leadgate.store.repository import Repository


def _erased_lead(engine: Engine) -> int:
    now = engine.clock()
    engine.ingest([parse_event({"email": "ana@acme.com", "type": "demo_request"}, now)])
    lead_id = engine.show("ana@acme.com")["id"]
    erase_person(engine, "ana@acme.com", "art. 17 request #42", "test")
    return int(lead_id)


def _notes(engine: Engine, lead_id: int) -> int:
    with engine.db.read() as conn:
        row = Repository(engine.db, conn).execute(
            "SELECT COUNT(*) FROM events WHERE lead_id = ? AND type = ?", [lead_id, NOTE_EVENT]
        )
        return int(row.fetchone()[0])


def test_a_note_on_an_erased_lead_is_refused(engine: Engine) -> None:
    lead_id = _erased_lead(engine)
    with pytest.raises(InputError) as err:
        add_note(engine, lead_id, "Ana called from +34 600 000 000", "user:anna")
    assert err.value.field == "note" and "erased" in err.value.message
    assert _notes(engine, lead_id) == 0


def test_a_qualification_note_on_an_erased_lead_is_refused_answers_are_kept(
    engine: Engine,
) -> None:
    sales = install(engine)
    lead_id = _erased_lead(engine)
    with pytest.raises(QualificationError) as err:
        sales.qualify(lead_id, {"budget": "met"}, {"budget": "Ana's budget: 50k"}, "anna")
    assert err.value.field == "notes" and "erased" in err.value.message
    got = sales.qualify(lead_id, {"budget": "met"}, actor="anna")
    budget = next(c for c in got["criteria"] if c["key"] == "budget")
    assert budget["status"] == "met" and budget["note"] is None


def test_over_http_the_note_is_a_422_naming_it(engine: Engine) -> None:
    lead_id = _erased_lead(engine)
    _, key = create_key(engine.db, "admin", "t")
    with TestClient(create_app(engine=engine), raise_server_exceptions=False) as client:
        r = client.put(
            f"/api/v1/leads/{lead_id}/qualification",
            json={"answers": {"budget": {"status": "met", "note": "Ana's budget 50k"}}},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "notes: lead" in r.json()["detail"] and "erased" in r.json()["detail"]
