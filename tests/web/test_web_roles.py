"""Proof of who may use each page and form: every route of the web app (they are kept out
of /openapi.json, so tests/api/test_role_matrix.py cannot see them), called signed out
and as each role, against one table.

A route missing from the table fails the test: a new page must say who may use it.
Signed out, every /app route redirects to /login; a role the route is not for gets the
403 page; an allowed role gets anything but 403 (its forms are posted with the
session's CSRF token and harmless values: an unknown user, key or rep, an empty note).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.web.base import WebRoute

from .conftest import Team, field, sign_in

EVERYONE = ("admin", "marketing", "sales")
STAGE = ("admin", "sales")
MARKETING = ("admin", "marketing")
ADMIN = ("admin",)
PUBLIC = None  # no sign-in needed
USERS = {"sales": "anna", "marketing": "olga", "admin": "root"}

MATRIX: dict[tuple[str, str], tuple[str, ...] | None] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/logout"): PUBLIC,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/app"): EVERYONE,
    ("GET", "/app/{rest:path}"): EVERYONE,
    ("GET", "/app/queue"): EVERYONE,
    ("GET", "/app/queue/rows"): EVERYONE,
    ("GET", "/app/leads"): EVERYONE,
    ("GET", "/app/leads.csv"): EVERYONE,
    ("GET", "/app/leads/{lead_id}"): EVERYONE,
    ("POST", "/app/leads/{lead_id}/move"): STAGE,
    ("POST", "/app/leads/{lead_id}/qualification"): STAGE,
    ("POST", "/app/leads/{lead_id}/notes"): STAGE,
    ("POST", "/app/leads/{lead_id}/opportunity"): STAGE,
    ("GET", "/app/funnel"): MARKETING,
    ("GET", "/app/playbook"): MARKETING,
    ("POST", "/app/playbook"): MARKETING,
    ("GET", "/app/model"): EVERYONE,
    ("GET", "/app/admin"): ADMIN,
    ("POST", "/app/admin/users"): ADMIN,
    ("POST", "/app/admin/users/{name}/disable"): ADMIN,
    ("POST", "/app/admin/users/{name}/reset-password"): ADMIN,
    ("POST", "/app/admin/users/{name}/sign-out"): ADMIN,
    ("POST", "/app/admin/reps"): ADMIN,
    ("POST", "/app/admin/reps/{name}"): ADMIN,
    ("POST", "/app/admin/reps/{name}/away"): ADMIN,
    ("POST", "/app/admin/keys"): ADMIN,
    ("POST", "/app/admin/keys/{key_id}/revoke"): ADMIN,
    ("POST", "/app/admin/webhooks/retry"): ADMIN,
}


def _walk(routes: list[Any]) -> Iterator[Any]:
    # FastAPI keeps an included router as one entry (`original_router` in newer
    # versions, the routes themselves in older ones).
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)
        else:
            yield r


def web_routes() -> set[tuple[str, str]]:
    """(method, path) of every page route the web app mounts."""
    from fastapi import FastAPI

    from leadgate.web import install

    bare = FastAPI()
    install(bare)
    return {
        (m, r.path)
        for r in _walk(bare.routes)
        if isinstance(r, WebRoute)
        for m in r.methods or ()
        if m != "HEAD"
    }


def test_every_web_route_has_a_row() -> None:
    found = web_routes()
    missing = found - set(MATRIX)
    assert not missing, f"web routes without a row in MATRIX: {sorted(missing)}"
    gone = set(MATRIX) - found
    assert not gone, f"rows for web routes the app no longer has: {sorted(gone)}"


@pytest.fixture
def clients(team: Team) -> Iterator[dict[str | None, TestClient]]:
    app = create_app(engine=team.engine)
    out: dict[str | None, TestClient] = {}
    try:
        for role in (None, *USERS):
            c = TestClient(app, raise_server_exceptions=False)
            c.__enter__()
            out[role] = c
            if role is not None:
                assert sign_in(c, USERS[role]).status_code == 303
        yield out
    finally:
        for c in out.values():
            c.__exit__(None, None, None)


def _url(path: str, team: Team) -> str:
    return (
        path.replace("{lead_id}", str(team.mql_id))
        .replace("{rest:path}", "no-such-page")
        .replace("{name}", "nobody")
        .replace("{key_id}", "999999")
    )


def test_each_role_gets_exactly_what_the_matrix_allows(
    clients: dict[str | None, TestClient], team: Team
) -> None:
    failures: list[str] = []
    # Signing out ends the session: those rows go last.
    rows = sorted(MATRIX.items(), key=lambda kv: kv[0] == ("POST", "/logout"))
    for (method, path), allowed in rows:
        url = _url(path, team)
        for role, client in clients.items():
            where = f"{method} {path} as {role or 'nobody'}"
            if method == "GET":
                r = client.get(url, follow_redirects=False)
            else:
                csrf = None
                if role is not None:
                    csrf = field(client.get("/app/model").text, "csrf")
                data = {"csrf": csrf} if csrf else {}
                r = client.post(url, data=data, follow_redirects=False)
            if allowed is PUBLIC:
                if r.status_code >= 500 or (r.status_code == 403 and method == "GET"):
                    failures.append(f"{where}: {r.status_code}")
                continue
            if role is None:
                if r.status_code != 303 or not r.headers["location"].startswith("/login"):
                    failures.append(f"{where}: {r.status_code}, not the way to /login")
            elif role in allowed:
                if r.status_code == 403 or r.status_code >= 500:
                    failures.append(f"{where}: {r.status_code} {r.text[:200]}")
            elif r.status_code != 403 or "Not allowed" not in r.text:
                failures.append(f"{where}: {r.status_code}, not the 403 page")
    assert not failures, "\n".join(failures)
    # Nothing the refused calls sent changed the lead.
    assert team.engine.show("mia@acme.example")["stage"] == "mql"
