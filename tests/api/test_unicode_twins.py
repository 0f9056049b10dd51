"""The same address written in NFC and in NFD is one lead on every HTTP way in: it made
two (`josé@acme.com` with a precomposed é and `jose\u0301@acme.com`, e and a combining
acute, as macOS and some CRM exports write it)."""

from __future__ import annotations

from .conftest import Api

V1 = "/api/v1"
NFC = "jos\u00e9@acme.com"
NFD = "jose\u0301@acme.com"


def test_nfc_and_nfd_spellings_are_one_lead_over_http(api: Api) -> None:
    r = api.post(f"{V1}/leads", json={"email": NFC, "job_title": "CTO"})
    assert r.status_code == 201, r.text
    lead = r.json()["id"]
    # The other spelling updates it: 200, not a second lead.
    r = api.post(f"{V1}/leads", json={"email": NFD, "company_size": 80})
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["email"]) == (lead, NFC)
    r = api.post(f"{V1}/leads", role="ingest", json={"email": "JOSE\u0301@Acme.com"})
    assert r.json() == {"id": lead, "created": False}
    r = api.post(f"{V1}/events", json={"email": NFD, "type": "webinar_attended"})
    assert r.status_code in (200, 202), r.text
    items = api.get(f"{V1}/leads").json()["items"]
    assert [(x["id"], x["email"]) for x in items] == [(lead, NFC)]
    for spelling in (NFC, NFD):
        found = api.get(f"{V1}/leads", params={"email": spelling}).json()["items"]
        assert [x["id"] for x in found] == [lead], spelling
    shown = api.get(f"{V1}/leads/{lead}").json()
    assert shown["attributes"]["company_size"] == 80
    assert shown["engagement"] > 0


def test_an_event_in_nfd_first_makes_the_lead_an_nfc_lookup_finds(api: Api) -> None:
    r = api.post(f"{V1}/events", json={"events": [{"email": NFD, "type": "webinar_attended"}]})
    assert r.status_code in (200, 202), r.text
    found = api.get(f"{V1}/leads", params={"email": NFC}).json()["items"]
    assert [x["email"] for x in found] == [NFC]
