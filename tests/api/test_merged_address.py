"""POST /leads with the address of a lead merged into another (or another spelling under
the playbook's identity rules) updates the kept lead, and answers with it: it answered
404 "no lead with email …" to read roles and `{"id": null}` to ingest keys, although the
update had landed."""

from __future__ import annotations

from .conftest import Api

V1 = "/api/v1"


def test_posting_a_merged_address_answers_with_the_kept_lead(api: Api) -> None:
    gone = api.post(f"{V1}/leads", json={"email": "ann@old.com"}).json()["id"]
    kept = api.post(f"{V1}/leads", json={"email": "ann@acme.com"}).json()["id"]
    assert api.post(f"{V1}/leads/{kept}/merge", json={"other": gone}).status_code == 200
    r = api.post(f"{V1}/leads", json={"email": "Ann@Old.com", "job_title": "CTO"})
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["email"]) == (kept, "ann@acme.com")
    assert r.json()["attributes"]["job_title"] == "CTO"
    r = api.post(f"{V1}/leads", role="ingest", json={"email": "ann@old.com", "company_size": 80})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": kept, "created": False}
    assert api.get(f"{V1}/leads/{kept}").json()["attributes"]["company_size"] == 80
    # Looked up by the merged address (a CRM syncing by email): the kept lead.
    items = api.get(f"{V1}/leads", params={"email": "ANN@old.com"}).json()["items"]
    assert [(x["id"], x["email"]) for x in items] == [(kept, "ann@acme.com")]


def test_posting_another_spelling_under_identity_rules_answers_with_its_lead(api: Api) -> None:
    text = api.get(f"{V1}/playbook").json()["yaml"]
    rules = "identity: {ignore_dots: [gmail.com], strip_plus: [gmail.com]}\n"
    assert api.put(f"{V1}/playbook", json={"yaml": text + rules}).status_code == 200
    lead = api.post(f"{V1}/leads", json={"email": "j.doe@gmail.com"}).json()["id"]
    r = api.post(f"{V1}/leads", json={"email": "jdoe+news@gmail.com", "job_title": "VP"})
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["email"]) == (lead, "j.doe@gmail.com")
    assert len(api.get(f"{V1}/leads").json()["items"]) == 1
    items = api.get(f"{V1}/leads", params={"email": "jdoe+x@gmail.com"}).json()["items"]
    assert [x["id"] for x in items] == [lead]
