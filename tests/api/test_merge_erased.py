"""An erased person's record (kept under a pseudonym, for the counts) cannot be merged
with a live lead, either way round: a merge moved a live person's events and history
onto the pseudonym (their address becoming its alias), or the erased person's history
onto a live lead. Refused by name; nothing moves."""

from __future__ import annotations

import pytest

from .conftest import Api

V1 = "/api/v1"


@pytest.mark.parametrize("erased_is_kept", [True, False])
def test_an_erased_persons_record_is_not_merged(api: Api, erased_is_kept: bool) -> None:
    live = api.post(f"{V1}/leads", json={"email": "ann@acme.com", "job_title": "CTO"}).json()
    gone = api.post(f"{V1}/leads", json={"email": "zed@acme.com"}).json()["id"]
    r = api.post(f"{V1}/people/zed@acme.com/erase", json={"reason": "art. 17"})
    assert r.status_code == 200, r.text
    keep, other = (gone, live["id"]) if erased_is_kept else (live["id"], gone)
    r = api.post(f"{V1}/leads/{keep}/merge", json={"other": other})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "erased" in r.json()["detail"]
    shown = api.get(f"{V1}/leads/{live['id']}")
    assert shown.status_code == 200 and shown.json()["email"] == "ann@acme.com"
    assert api.get(f"{V1}/leads/{gone}").status_code == 200
