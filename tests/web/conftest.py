"""A store with a sales team, one user per role and an MQL, for the web app tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cheap_hashing import cheap_argon2
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.sales import install
from leadgate.users import Users

__all__ = ["cheap_argon2"]
PW = "correct horse battery staple"
XSS = "<script>alert(1)</script>"
ALWAYS = {"hours": "00:00-24:00", "days": "mon-sun"}


@dataclass
class Team:
    """Who is in the store: user name -> role; the MQL's id."""

    engine: Engine
    mql_id: int
    xss_id: int


def seed(engine: Engine) -> Team:
    """Reps anna and bo; users anna (sales, rep anna), olga (marketing), root (admin),
    sam (sales, no rep); an MQL routed to anna and a lead whose name is a script."""
    sales = install(engine)
    sales.add_rep("anna", "bdr", **ALWAYS)
    sales.add_rep("eve", "ae", **ALWAYS)
    users = Users(engine.db, clock=engine.clock)
    users.add("anna", "sales", rep="anna", password=PW)
    users.add("olga", "marketing", password=PW)
    users.add("root", "admin", password=PW)
    users.add("sam", "sales", password=PW)
    engine.upsert_leads(
        [
            ("mia@acme.example", {"first_name": "Mia", "company": "Acme"}, None),
            ("x@evil.example", {"first_name": XSS, "company": XSS}, None),
        ]
    )
    now = engine.clock()
    engine.ingest(
        [parse_event({"email": "mia@acme.example", "type": "demo_request", "id": "d-mia"}, now)]
    )
    mql = engine.show("mia@acme.example")
    assert mql["stage"] == "mql" and mql["owner"] == "anna"
    return Team(engine, mql["id"], engine.show("x@evil.example")["id"])


def field(html: str, name: str) -> str:
    """The value of the first hidden input `name` in a page."""
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no field {name}"
    return m.group(1)


def sign_in(client: TestClient, name: str, password: str = PW, **extra: Any) -> Any:
    """Sign in through the form, as a browser does."""
    headers = extra.pop("headers", None)
    page = client.get("/login")
    return client.post(
        "/login",
        data={"name": name, "password": password, "token": field(page.text, "token"), **extra},
        headers=headers,
        follow_redirects=False,
    )


@pytest.fixture
def team(engine: Engine) -> Team:
    return seed(engine)
