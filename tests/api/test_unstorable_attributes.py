"""Values no store can hold, in a lead's attributes over POST /leads: NaN, Infinity, a
literal too large for a double (1e309), a typed value of hundreds of digits, a NUL
character. Each is refused with the field named (docs/security.md, "Numbers that are not
numbers"): never stored as null behind a 201, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api

V1 = "/api/v1"
PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}


def _refused(api: Api, r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert field in r.json()["detail"], r.text
    # Nothing was stored.
    assert api.get(f"{V1}/leads").json()["items"] == []


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"email":"a@acme.com","company_size":1e309}', "company_size"),
        (b'{"email":"a@acme.com","annual_revenue":-1e309}', "annual_revenue"),
        (b'{"email":"a@acme.com","score_hint":NaN}', "score_hint"),
        (b'{"email":"a@acme.com","attributes":{"budget":Infinity}}', "budget"),
        (b'{"email":"a@acme.com","tags":{"x":[1,-Infinity]}}', "tags"),
    ],
)
def test_post_leads_refuses_non_finite_attribute_numbers(api: Api, raw: bytes, field: str) -> None:
    _refused(api, api.post(f"{V1}/leads", content=raw, headers=JSON), field)


@pytest.mark.parametrize("field", ["company_size", "annual_revenue"])
def test_a_typed_attribute_too_large_for_a_double_is_refused(api: Api, field: str) -> None:
    r = api.post(f"{V1}/leads", json={"email": "a@acme.com", field: "9" * 400})
    _refused(api, r, field)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@acme.com", "job_title": "CTO\u0000"},
        {"email": "a@acme.com", "attributes": {"notes": ["ok", "n\u0000"]}},
        {"email": "a@acme.com", "tags": {"k\u0000": 1}},
    ],
)
def test_post_leads_refuses_a_nul_character_in_an_attribute(api: Api, body: dict[str, Any]) -> None:
    # PostgreSQL's JSON cannot hold U+0000: this was a 500 there (SQLite stored it).
    field = next(k for k in body if k != "email")
    field = next(iter(body["attributes"])) if field == "attributes" else field
    _refused(api, api.post(f"{V1}/leads", json=body), field)
