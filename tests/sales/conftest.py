"""Sales fixtures: an engine with the workflow installed and a small team."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.sales import Sales, install

# Reps work round the clock in these tests unless a test says otherwise, so an SLA
# of one business hour is one real hour.
ALWAYS = {"hours": "00:00-24:00", "days": "mon-sun"}
HOT = {"job_title": "VP Marketing", "company_size": 200, "country": "DE"}


@pytest.fixture
def sales(engine: Engine) -> Sales:
    s = install(engine)
    for name in ("anna", "bo", "carl"):
        s.add_rep(name, "bdr", team="emea", **ALWAYS)
    s.add_rep("eve", "ae", team="emea", **ALWAYS)
    s.add_rep("finn", "ae", team="emea", **ALWAYS)
    return s


@pytest.fixture
def raise_hand(engine: Engine) -> Callable[..., dict[str, Any]]:
    """Make a lead an MQL the quickest way: a demo request."""

    def go(email: str, attrs: dict[str, Any] | None = None) -> dict[str, Any]:
        if attrs:
            engine.upsert_leads([(email, attrs, None)])
        now = engine.clock()
        engine.ingest(
            [
                parse_event(
                    {
                        "email": email,
                        "type": "demo_request",
                        "occurred_at": now,
                        "id": f"demo-{email}-{now}",
                    },
                    now,
                )
            ]
        )
        return engine.show(email)

    return go
