"""Two writers creating the same new lead at once on PostgreSQL: only the one whose row
landed created it. The other waited on the unique email, carried on from that row, and
still counted the lead as created: POST /leads answered 201 Created to both callers, and
`lead.created` was announced twice. Here the other writer commits the lead exactly
between this transaction's "who is new" and its INSERT (no timing: a hook in between).
SQLite has one writer at a time: the race cannot happen there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import FakeClock
from leadgate.engine.changes import LeadChange
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.store.database import Database
from leadgate.store.repository import Repository


@pytest.fixture
def racing(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, list[bool]]]:
    """An engine whose next new lead is made by another writer just before its INSERT,
    and the `created` flags its listeners were told."""
    clock = FakeClock()
    engine = Engine(Database(postgres_url), clock=clock)
    engine.ensure_playbook()
    other = Engine(Database(postgres_url), clock=clock)
    told: list[bool] = []

    def listen(repo: Any, changes: list[LeadChange], now: float) -> None:
        told.extend(c.created for c in changes)

    engine.listeners.append(listen)
    other.listeners.append(listen)
    real = Repository.insert_leads
    raced: list[str] = []

    def insert_leads(self: Repository, leads: Any, now: float) -> set[str]:
        if not raced and self.db is engine.db:
            raced.extend(x.email for x in leads)
            assert other.upsert_leads([(e, {"company": "Other"}, None) for e in raced]) == (
                len(raced),
                0,
                0,
            )
        return real(self, leads, now)

    monkeypatch.setattr(Repository, "insert_leads", insert_leads)
    yield engine, told
    engine.db.dispose()
    other.db.dispose()


def test_a_lead_created_meanwhile_is_updated_not_created_again(
    racing: tuple[Engine, list[bool]],
) -> None:
    engine, told = racing
    assert engine.upsert_leads([("ann@acme.com", {"job_title": "CTO"}, None)]) == (0, 1, 0)
    assert told == [True, False]  # `lead.created` once, by the writer that made it
    lead = engine.show("ann@acme.com")
    assert lead["attributes"] == {"company": "Other", "job_title": "CTO"}


def test_an_event_for_a_lead_created_meanwhile_does_not_announce_it_again(
    racing: tuple[Engine, list[bool]],
) -> None:
    engine, told = racing
    now = engine.clock()
    engine.ingest([parse_event({"id": "e1", "email": "bob@acme.com", "type": "page_view"}, now)])
    assert told == [True, False]
    assert engine.show("bob@acme.com")["attributes"] == {"company": "Other"}
