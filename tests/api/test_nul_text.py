"""A NUL character (U+0000) in any text a route stores is a 422 naming the field, on
every store: PostgreSQL's text refuses it, and those routes answered 500 there (SQLite
stored it). Nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api

V1 = "/api/v1"
NUL = "\u0000"


@pytest.fixture
def lead(api: Api) -> int:
    assert api.post(f"{V1}/reps", json={"name": "pat", "role": "bdr"}).status_code == 201
    r = api.post(f"{V1}/leads", json={"email": "ann@acme.com", "job_title": "CTO"})
    return int(r.json()["id"])


CASES: list[tuple[str, str, Any, str]] = [
    ("POST", "/reps", {"name": "kim", "role": "bdr", "team": "east" + NUL}, "team"),
    ("POST", "/reps", {"name": "kim", "role": "bdr", "days": "mon-fri" + NUL}, "days"),
    ("POST", "/reps/pat/away", {"until": "2026-12-01" + NUL}, "until"),
    (
        "PUT",
        "/leads/{lead}/qualification",
        {"answers": {"budget": {"status": "met", "note": "50k" + NUL}}},
        "budget",
    ),
    ("POST", "/leads/{lead}/assign", {"rep": "pat", "reason": "cover" + NUL}, "reason"),
    ("POST", "/people/zed@acme.com/erase", {"reason": "art. 17" + NUL}, "reason"),
    ("POST", "/people/zed@acme.com/consent", {"reason": "form" + NUL}, "reason"),
    ("POST", "/users", {"name": "kim", "role": "sales", "rep": "pat" + NUL}, "rep"),
    (
        "POST",
        "/keys",
        {"role": "browser", "name": "site", "origins": ["https://x.com" + NUL]},
        "origin",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), CASES)
def test_a_nul_in_stored_text_is_refused_by_name(
    api: Api, lead: int, method: str, path: str, body: Any, field: str
) -> None:
    before = _state(api, lead)
    r = api.client.request(method, V1 + path.format(lead=lead), json=body, headers=api.h())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in r.json()["detail"], r.text
    assert _state(api, lead) == before


def test_a_nul_in_the_queues_rep_is_refused_by_name(api: Api, lead: int) -> None:
    r = api.get(f"{V1}/queue", params={"rep": "pat" + NUL})
    assert r.status_code == 422, r.text
    assert "rep" in r.json()["detail"]


def _state(api: Api, lead: int) -> Any:
    shown = api.get(f"{V1}/leads/{lead}").json()
    return (
        api.get(f"{V1}/reps").json(),
        api.get(f"{V1}/users").json(),
        len(api.get(f"{V1}/keys").json()["items"]),
        shown["owner"],
        shown["history"],
        api.get(f"{V1}/leads/{lead}/qualification").json(),
    )


def test_a_nul_in_a_forms_visitor_id_is_refused_by_name(api: Api) -> None:
    # The public form routes (no key): the visitor id is looked up and stored as text.
    from tests.forms.conftest import playbook_text

    api.engine.activate_playbook(playbook_text(), "forms.yaml")
    r = api.client.get("/f/demo/start", params={"visitor_id": "v" + NUL})
    assert r.status_code == 422, r.text
    assert "visitor_id" in r.json()["detail"]
    ticket = api.client.get("/f/demo/start").json()["ticket"]
    api.engine.clock.advance(5)  # type: ignore[attr-defined]
    answers = {"email": "ann@acme.com", "need": "just looking", "consent": True}
    r = api.client.post(
        "/f/demo/submit",
        json={"ticket": ticket, "answers": answers, "visitor_id": "v" + NUL},
        headers={"Origin": "https://www.example.com"},
    )
    assert r.status_code == 422, r.text
    assert "visitor_id" in r.json()["detail"]
    assert api.get(f"{V1}/leads").json()["items"] == []
