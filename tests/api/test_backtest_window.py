"""POST /backtest: a window that ends before it starts is a 422 naming `from`, also when
`to` is left out (it defaults to now): `from` a year ahead was answered 200 with empty
figures, as if the new playbook changed nothing."""

from __future__ import annotations

from .conftest import Api

V1 = "/api/v1"


def test_a_from_after_now_without_to_is_refused_by_name(api: Api) -> None:
    playbook = api.get(f"{V1}/playbook").json()["yaml"]
    r = api.post(f"{V1}/backtest", json={"playbook": playbook, "from": "2027-06-01"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith("from"), r.text
