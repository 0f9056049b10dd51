"""Writes that race on PostgreSQL (several workers, several requests at once) answer as if
they had come one after the other: never a 500 from a unique key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .conftest import Api

V1 = "/api/v1"


def test_playbooks_put_at_the_same_moment_each_get_their_own_version(api: Api) -> None:
    text = api.get(f"{V1}/playbook").json()["yaml"]
    n = 6

    def put(i: int) -> int:
        body = {"yaml": text.replace("name: leadgate-default", f"name: variant-{i}")}
        r = api.put(f"{V1}/playbook", json=body)
        assert r.status_code == 200, r.text
        return int(r.json()["version"])

    with ThreadPoolExecutor(n) as pool:
        versions = sorted(pool.map(put, range(n)))
    assert versions == list(range(2, 2 + n))
    assert api.get(f"{V1}/playbook").json()["version"] == 1 + n
