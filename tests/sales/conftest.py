"""Sales fixtures: an engine with the workflow installed and a small team."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.sales import Sales, install
from leadgate.store.database import Database

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


def overdue_mqls(url: str, clock: Any, n_leads: int) -> Engine:
    """A store with four BDRs and `n_leads` hand-raisers whose SLA ran out an hour ago
    (a 1-hour SLA, 2 hours later): every lead has a due job. Returns the set-up engine."""
    setup = Engine(Database(url), clock=clock)
    setup.ensure_playbook()
    s = install(setup)
    for n in ("anna", "bo", "carl", "dina"):
        s.add_rep(n, "bdr", **ALWAYS)
    now = clock()
    setup.ingest(
        [
            parse_event({"email": f"l{i}@co{i}.com", "type": "demo_request", "id": f"d{i}"}, now)
            for i in range(n_leads)
        ]
    )
    clock.advance(2 * 3600)
    return setup


def race_ticks(
    url: str,
    clock: Any,
    *,
    workers: int = 2,
    passes: int = 1,
    limit: int = 7,
    sections: Any = None,
) -> list[dict[str, int]]:
    """`Sales.tick` in `workers` threads started together, each on an engine of its own
    (its own connections, as separate processes have); every tick's counts.

    Small `limit`s make the workers interleave on the same due set, which is the point.
    """
    barrier = threading.Barrier(workers)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        eng = Engine(Database(url), clock=clock)
        sales = install(eng, sections=sections)
        try:
            barrier.wait()
            for _ in range(passes):
                results.append(sales.tick(worker=name, limit=limit))
        except BaseException as exc:
            errors.append(exc)
        finally:
            eng.db.dispose()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results
