"""Proof of who sees what: every route of the app's own /openapi.json, called by every
role (admin, marketing, sales, ingest, browser) and with no key, against one table.

For each route the table says which roles may call it (the others get 403, no key 401)
and which statuses an allowed call may answer. Every answer is checked for what it may
carry: ingest, browser and anonymous callers never see a lead (its attributes, scores, history,
owner, email), nobody but admin sees a signing secret or an API key. A route missing
from the table fails the test: a new route must say who may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.engine.engine import Engine
from leadgate.keys import ROLES, create_key
from leadgate.playbook.loader import bundled_playbook
from leadgate.store.database import Database

ALL = ("admin", "marketing", "sales", "ingest")
READ = ("admin", "marketing", "sales")
STAGE = ("admin", "sales")
MARKETING = ("admin", "marketing")
ADMIN = ("admin",)
WRITE = ("admin", "ingest")
BROWSER = ("browser",)
CALLERS: tuple[str | None, ...] = (None, "browser", "ingest", "sales", "marketing", "admin")
# The origin the matrix's browser key is bound to (every call sends it).
ORIGIN = "https://www.acme.com"
# Keys of a lead's view that only a read role may see, anywhere in an answer.
LEAD_KEYS = {
    "attributes",
    "score",
    "fit",
    "engagement",
    "history",
    "owner",
    "explanation",
    "grade",
    "fit_grade",
    "engagement_grade",
    "recent_events",
    "qualification",
}
SECRET_TITLE = "Chief Secret Officer 7f3"
LEAD_EMAIL = "matrix-lead@acme.com"
PUBLIC_HOOK = "https://93.184.216.34/hook"


@dataclass
class World:
    """What the requests refer to."""

    client: TestClient
    keys: dict[str, str]
    lead_id: int = 0
    webhook_id: int = 0
    spare_key_id: int = 0
    playbook: str = ""
    secrets: list[str] = field(default_factory=list)


Body = Callable[[str, World], dict[str, Any]]


def none(role: str, w: World) -> dict[str, Any]:
    return {}


def js(data: Any) -> Body:
    return lambda role, w: {"json": data}


@dataclass(frozen=True)
class Rule:
    """Who may call a route, and what an allowed call may answer."""

    roles: tuple[str, ...]
    body: Body = none
    ok: frozenset[int] = frozenset({200, 201, 204})
    public: bool = False  # no key needed


def _yaml(role: str, w: World) -> dict[str, Any]:
    return {"content": w.playbook.encode(), "headers": {"content-type": "application/yaml"}}


def _other_rep(w: World) -> str:
    # Each mover hands the lead on to the rep who does not have it.
    auth = {"Authorization": f"Bearer {w.keys['admin']}"}
    owner = w.client.get(f"/api/v1/leads/{w.lead_id}", headers=auth).json()["owner"]
    return "bob" if owner == "ann" else "ann"


# A form in the matrix's playbook (no fill time, no rate limits: every caller submits).
MATRIX_FORM = """
forms:
  demo:
    spam: {min_fill_seconds: 0, per_ip: null, per_email: null}
    steps:
      - fields:
          - {name: email, type: email, required: true}
"""


def _ticket(w: World) -> str:
    return str(w.client.get("/f/demo/start").json()["ticket"])


def _form_submit(role: str, w: World) -> dict[str, Any]:
    return {"json": {"ticket": _ticket(w), "answers": {"email": f"form-{role}@acme.com"}}}


def _track(role: str, w: World) -> dict[str, Any]:
    return {
        "json": {"visitor_id": f"matrix-{role}", "events": [{"type": "page_view"}]},
        "headers": {"Origin": ORIGIN},
    }


MATRIX: dict[tuple[str, str], Rule] = {
    # The browser key's one route: anonymous page views, never a lead's data.
    ("POST", "/api/v1/track"): Rule(BROWSER, _track, frozenset({202})),
    ("GET", "/healthz"): Rule(ALL, public=True),
    ("GET", "/readyz"): Rule(ALL, public=True),
    ("POST", "/api/v1/events"): Rule(
        WRITE, js({"email": "ev@acme.com", "type": "page_view", "properties": {"x": 1}})
    ),
    ("POST", "/api/v1/leads"): Rule(
        WRITE, lambda r, w: {"json": {"email": LEAD_EMAIL, "job_title": SECRET_TITLE}}
    ),
    ("GET", "/api/v1/leads"): Rule(READ),
    ("GET", "/api/v1/leads/{lead_id}"): Rule(READ),
    # The second mover finds the lead already there: a 409 with the allowed targets.
    ("POST", "/api/v1/leads/{lead_id}/stage"): Rule(
        STAGE, js({"to": "sal"}), frozenset({200, 409})
    ),
    ("GET", "/api/v1/playbook"): Rule(MARKETING),
    ("PUT", "/api/v1/playbook"): Rule(MARKETING, _yaml),
    ("GET", "/api/v1/reports/funnel"): Rule(MARKETING),
    ("GET", "/api/v1/webhooks"): Rule(ADMIN),
    ("POST", "/api/v1/webhooks"): Rule(ADMIN, js({"url": PUBLIC_HOOK, "events": ["lead.created"]})),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): Rule(ADMIN),
    ("GET", "/api/v1/webhooks/deliveries"): Rule(ADMIN),
    ("POST", "/api/v1/webhooks/replay"): Rule(ADMIN, js({"dead": True})),
    ("GET", "/api/v1/keys"): Rule(ADMIN),
    ("POST", "/api/v1/keys"): Rule(
        ADMIN, lambda r, w: {"json": {"role": "ingest", "name": f"matrix-{r}"}}
    ),
    ("DELETE", "/api/v1/keys/{key_id}"): Rule(ADMIN),
    ("POST", "/api/v1/backtest"): Rule(MARKETING, lambda r, w: {"json": {"playbook": w.playbook}}),
    ("GET", "/api/v1/reports/velocity"): Rule(MARKETING),
    ("GET", "/api/v1/reports/cohorts"): Rule(MARKETING),
    ("GET", "/api/v1/reports/sources"): Rule(MARKETING),
    ("GET", "/api/v1/reports/deciles"): Rule(MARKETING),
    ("GET", "/api/v1/reports/sla"): Rule(MARKETING),
    ("GET", "/api/v1/reports/advice"): Rule(MARKETING),
    ("GET", "/api/v1/reps"): Rule(READ),
    ("POST", "/api/v1/reps"): Rule(
        STAGE, lambda r, w: {"json": {"name": f"rep-{r}", "role": "bdr"}}
    ),
    ("POST", "/api/v1/reps/{name}/away"): Rule(STAGE, js({"until": None})),
    ("GET", "/api/v1/leads/{lead_id}/qualification"): Rule(READ),
    ("PUT", "/api/v1/leads/{lead_id}/qualification"): Rule(
        STAGE, js({"answers": {"budget": {"status": "met", "note": "50k"}}})
    ),
    ("GET", "/api/v1/leads/{lead_id}/nurture"): Rule(READ),
    # Only an SQL becomes an opportunity: the matrix lead is not one (409).
    ("POST", "/api/v1/leads/{lead_id}/opportunity"): Rule(
        STAGE,
        js({"amount": 1000, "currency": "EUR", "expected_close": "2026-09-30"}),
        frozenset({200, 409}),
    ),
    ("POST", "/api/v1/leads/{lead_id}/assign"): Rule(
        STAGE, lambda r, w: {"json": {"rep": _other_rep(w), "reason": "matrix"}}
    ),
    ("GET", "/api/v1/queue"): Rule(READ),
    ("GET", "/api/v1/healthz"): Rule(ALL, public=True),
    ("GET", "/api/v1/readyz"): Rule(ALL, public=True),
    # The matrix lead has no open opportunity to change.
    ("PATCH", "/api/v1/leads/{lead_id}/opportunity"): Rule(
        STAGE, js({"amount": 2000}), frozenset({200, 404, 409})
    ),
    ("GET", "/api/v1/accounts"): Rule(READ),
    ("GET", "/api/v1/accounts/{domain}"): Rule(READ),
    # Merging a lead into itself is refused past the role check (422); the matrix lead
    # is the only one it may name without changing the world under the other rows.
    ("POST", "/api/v1/leads/{lead_id}/merge"): Rule(
        ADMIN, lambda r, w: {"json": {"other": w.lead_id}}, frozenset({422})
    ),
    ("GET", "/api/v1/users"): Rule(ADMIN),
    ("POST", "/api/v1/users"): Rule(
        ADMIN, lambda r, w: {"json": {"name": f"user-{r}", "role": "marketing"}}
    ),
    # {name} is "ann", who is a rep, not a user: admin gets a 404 past the role check.
    ("POST", "/api/v1/users/{name}/disable"): Rule(ADMIN, ok=frozenset({200, 404})),
    ("POST", "/api/v1/users/{name}/reset-password"): Rule(ADMIN, js({}), frozenset({200, 404})),
    ("POST", "/api/v1/users/{name}/sign-out"): Rule(ADMIN, ok=frozenset({200, 404})),
    ("GET", "/api/v1/forms/rejections"): Rule(ADMIN),
    # Forms are public: a visitor's browser calls them with no key (CORS per form).
    ("GET", "/f/{form}.js"): Rule(ALL, public=True),
    ("GET", "/f/{form}/start"): Rule(ALL, public=True),
    ("POST", "/f/{form}/next"): Rule(
        ALL, js({"step": 0, "answers": {"email": "next@acme.com"}}), public=True
    ),
    ("POST", "/f/{form}/submit"): Rule(ALL, _form_submit, public=True),
    ("OPTIONS", "/f/{form}/start"): Rule(ALL, public=True),
    ("OPTIONS", "/f/{form}/next"): Rule(ALL, public=True),
    ("OPTIONS", "/f/{form}/submit"): Rule(ALL, public=True),
    ("GET", "/api/v1/leads/export"): Rule(READ),
    # {email} is the matrix lead: everything held about it, admin only.
    ("GET", "/api/v1/people/{email}/export"): Rule(ADMIN),
    # Erasure goes last in the table's order for admin; a second admin call finds no
    # lead and only suppresses again (200).
    ("POST", "/api/v1/people/{email}/erase"): Rule(ADMIN, js({"reason": "matrix"})),
    ("POST", "/api/v1/people/{email}/consent"): Rule(ADMIN, js({"reason": "matrix"})),
}


@pytest.fixture
def world(sqlite_url: str, clock: Any) -> Iterator[World]:
    db = Database(sqlite_url)
    db.migrate()
    engine = Engine(db, clock=clock)
    engine.ensure_playbook()
    engine.activate_playbook(bundled_playbook()[1] + MATRIX_FORM, "matrix.yaml")
    app = create_app(engine=engine)
    keys = {
        r: create_key(db, r, f"{r}-matrix", origins=[ORIGIN] if r == "browser" else [])[1]
        for r in ROLES
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        w = World(client, keys, secrets=list(keys.values()))
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        lead = client.post(
            "/api/v1/leads",
            headers=admin,
            json={"email": LEAD_EMAIL, "job_title": SECRET_TITLE, "company_size": 300},
        ).json()
        w.lead_id = lead["id"]
        # The person the /people routes export and erase (not the matrix lead).
        client.post("/api/v1/leads", headers=admin, json={"email": "someone-else@acme.com"})
        client.post(
            "/api/v1/events", headers=admin, json={"email": LEAD_EMAIL, "type": "demo_request"}
        )
        for rep in ("ann", "bob"):
            made = client.post("/api/v1/reps", headers=admin, json={"name": rep, "role": "bdr"})
            assert made.status_code == 201, made.text
        hook = client.post(
            "/api/v1/webhooks",
            headers=admin,
            json={"url": PUBLIC_HOOK, "events": ["lead.stage_changed"]},
        ).json()
        w.webhook_id = hook["id"]
        w.secrets.append(hook["secret"])
        spare = client.post(
            "/api/v1/keys", headers=admin, json={"role": "sales", "name": "spare"}
        ).json()
        w.spare_key_id = spare["id"]
        w.secrets.append(spare["key"])
        w.playbook = client.get("/api/v1/playbook", headers=admin).json()["yaml"]
        yield w


def _keys_in(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield str(k)
            yield from _keys_in(v)
    elif isinstance(data, list):
        for v in data:
            yield from _keys_in(v)


def _call(w: World, method: str, path: str, rule: Rule, role: str | None) -> Any:
    url = (
        path.replace("{lead_id}", str(w.lead_id))
        .replace("{webhook_id}", str(w.webhook_id))
        .replace("{key_id}", str(w.spare_key_id))
        .replace("{name}", "ann")
        .replace("{form}", "demo")
        .replace("{domain}", LEAD_EMAIL.split("@")[1])
        .replace("{email}", "someone-else@acme.com")
    )
    kw = rule.body(role or "anonymous", w)
    headers = dict(kw.pop("headers", {}))
    if role is not None:
        headers["Authorization"] = f"Bearer {w.keys[role]}"
    return w.client.request(method, url, headers=headers, **kw)


def test_every_route_in_openapi_has_a_row_in_the_matrix(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes with no entry in the role matrix: {missing}"
    gone = sorted(set(MATRIX) - routes)
    assert not gone, f"matrix rows for routes the app no longer has: {gone}"


def test_each_role_gets_exactly_what_the_matrix_allows(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    failures: list[str] = []
    for path, ops in doc["paths"].items():
        for method in ops:
            key = (method.upper(), path)
            rule = MATRIX[key]
            for role in CALLERS:
                r = _call(world, key[0], path, rule, role)
                where = f"{key[0]} {path} as {role or 'no key'}: {r.status_code}"
                allowed = rule.public or role in rule.roles
                if allowed and r.status_code not in rule.ok:
                    failures.append(f"{where}, expected one of {sorted(rule.ok)}: {r.text[:200]}")
                if not allowed:
                    want = 401 if role is None else 403
                    if r.status_code != want:
                        failures.append(f"{where}, expected {want}")
                if r.status_code >= 400 and not r.headers["content-type"].startswith(
                    "application/problem+json"
                ):
                    failures.append(f"{where}: an error that is not problem+json")
                text = r.text
                if role in (None, "ingest", "browser"):
                    if SECRET_TITLE in text or LEAD_EMAIL in text:
                        failures.append(f"{where}: shows the lead")
                    body = r.json() if "json" in r.headers.get("content-type", "") else None
                    seen = LEAD_KEYS & set(_keys_in(body))
                    if seen:
                        failures.append(f"{where}: carries lead fields {sorted(seen)}")
                if role != "admin":
                    shown = [s[:10] for s in world.secrets if s in text]
                    if shown or "whsec_" in text:
                        failures.append(f"{where}: shows a secret {shown}")
    assert not failures, "\n".join(failures)


def test_the_matrix_itself_can_fail(world: World) -> None:
    # A row that lets ingest read leads must be caught by the body rule, not waved through.
    r = _call(world, "GET", "/api/v1/leads/{lead_id}", Rule(READ), "admin")
    assert r.status_code == 200 and SECRET_TITLE in r.text
    assert LEAD_KEYS & set(_keys_in(r.json()))
