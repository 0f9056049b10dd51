"""A JSON body sent without a JSON content type (`curl -d` sends
application/x-www-form-urlencoded) is a 415 that says what to send. It was a 422
"#: Input should be a valid dictionary or object to extract fields from", which names no
field and hides the cause."""

from __future__ import annotations

import pytest

from .conftest import Api

V1 = "/api/v1"
PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    "ctype", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; b=x", None]
)
def test_a_body_without_a_json_content_type_is_415_saying_so(api: Api, ctype: str | None) -> None:
    req = api.client.build_request(
        "POST", f"{V1}/leads", content=b'{"email": "ann@acme.com"}', headers=api.h()
    )
    if ctype is None:
        req.headers.pop("content-type", None)
    else:
        req.headers["content-type"] = ctype
    r = api.client.send(req)
    assert r.status_code == 415, r.text
    assert r.headers["content-type"] == PROBLEM
    assert "Content-Type: application/json" in r.json()["detail"]
    assert api.get(f"{V1}/leads").json()["items"] == []


def test_a_json_body_that_is_not_an_object_is_still_422(api: Api) -> None:
    r = api.post(f"{V1}/leads", json=["ann@acme.com"])
    assert r.status_code == 422, r.text
    r = api.post(f"{V1}/leads/1/stage", json={"reason": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/to", r.text
