"""Merging leads and reading accounts over HTTP (roles, problems, the merge's answer)."""

from __future__ import annotations

from .conftest import Api
from .test_api import assert_problem

V1 = "/api/v1"


def lead(api: Api, email: str, **attrs: object) -> int:
    r = api.post(f"{V1}/leads", json={"email": email, **attrs})
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def test_an_admin_merges_two_leads_once(api: Api) -> None:
    keep = lead(api, "ann@acme.com")
    other = lead(api, "ann.smith@acme.com", job_title="VP Sales")
    api.post(f"{V1}/events", json={"email": "ann.smith@acme.com", "type": "demo_request"})
    assert_problem(
        api.post(f"{V1}/leads/{keep}/merge", role="marketing", json={"other": other}), 403
    )
    r = api.post(f"{V1}/leads/{keep}/merge", json={"other": "Ann.Smith@acme.com"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["already"] is False
    assert body["merged"] == {
        "merged_id": other,
        "merged_email": "ann.smith@acme.com",
        "by": "api:admin-test",
        "at": body["merged"]["at"],
    }
    assert body["kept"]["stage"] == "mql"
    shown = api.get(f"{V1}/leads/{keep}").json()
    assert shown["attributes"]["job_title"] == "VP Sales"
    assert_problem(api.get(f"{V1}/leads/{other}"), 404)
    again = api.post(f"{V1}/leads/{keep}/merge", json={"other": other})
    assert again.status_code == 200 and again.json()["already"] is True
    # Later events for the other address land on the kept lead.
    r = api.post(f"{V1}/events", json={"email": "ann.smith@acme.com", "type": "webinar_attended"})
    assert r.json()["items"][0]["lead_id"] == keep


def test_merge_problems(api: Api) -> None:
    keep = lead(api, "a@acme.com")
    assert_problem(api.post(f"{V1}/leads/{keep}/merge", json={"other": keep}), 422)
    assert_problem(api.post(f"{V1}/leads/{keep}/merge", json={"other": "b@acme.com"}), 404)
    assert_problem(api.post(f"{V1}/leads/999/merge", json={"other": keep}), 404)
    assert_problem(api.post(f"{V1}/leads/{keep}/merge", json={"other": "not an email"}), 422)
    assert_problem(api.post(f"{V1}/leads/{keep}/merge", json={}), 422)


def test_accounts_over_http(api: Api) -> None:
    lead(api, "x@globex.com")
    lead(api, "y@globex.com")
    lead(api, "p@gmail.com")
    for role in ("admin", "marketing", "sales"):
        r = api.get(f"{V1}/accounts", role=role)
        assert r.status_code == 200
        assert [(a["domain"], a["leads"]) for a in r.json()["items"]] == [("globex.com", 2)]
    for role in ("ingest", "browser"):
        assert_problem(api.get(f"{V1}/accounts", role=role), 403)
    one = api.get(f"{V1}/accounts/globex.com").json()
    assert [m["email"] for m in one["members"]] == ["x@globex.com", "y@globex.com"]
    assert_problem(api.get(f"{V1}/accounts/gmail.com"), 422)
    assert_problem(api.get(f"{V1}/accounts/nobody.example"), 404)
