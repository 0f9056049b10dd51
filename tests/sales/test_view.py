"""A lead's sales extras read through the hooks `attach` registers (what every CLI command
does, `lead show` without making the workflow) are what the made workflow shows."""

from __future__ import annotations

from typing import Any

import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.lifecycle.stages import IllegalTransition
from leadgate.sales import Sales, attach, install
from leadgate.store.database import Database
from tests.sales.conftest import ALWAYS, HOT

WAIT_ONLY = {"tracks": [{"name": "not-now", "steps": [{"wait_days": 3}]}]}


def test_attached_hooks_show_what_the_made_workflow_shows(
    engine: Engine, db_url: str, clock: Any, raise_hand: Any
) -> None:
    sales: Sales = install(engine, sections={"nurture": WAIT_ONLY})
    sales.add_rep("anna", "bdr", **ALWAYS)
    sales.add_rep("eve", "ae", **ALWAYS)
    raise_hand("ann@acme.com", HOT)  # an MQL: owner, open SLA
    raise_hand("bo@beta.com", HOT)
    engine.set_stage("bo@beta.com", "sal", None, "user:anna")
    answers = {"budget": "met", "authority": "met", "need": "met", "timeline": "met"}
    sales.qualify("bo@beta.com", answers, {"budget": "50k approved"}, "user:anna")
    sales.promote_sql("bo@beta.com", "user:anna")
    sales.opportunity("bo@beta.com", "48000", "eur", "2026-09-30", "user:eve")
    raise_hand("cy@gamma.com", HOT)
    sales.qualify("cy@gamma.com", {"need": "not_met"}, None, "user:anna")
    engine.set_stage("cy@gamma.com", "nurture", "not now", "user:anna")
    clock.advance(3600)
    emails = ("ann@acme.com", "bo@beta.com", "cy@gamma.com")
    made = {e: engine.show(e) for e in emails}
    assert made["bo@beta.com"]["opportunity"]["currency"] == "EUR"
    assert made["cy@gamma.com"]["nurture"]["track"] == "not-now"
    assert made["ann@acme.com"]["sla_due_at"] is not None

    reader = Engine(Database(db_url), clock=clock)
    attach(reader)
    attach(reader)  # idempotent
    assert {e: reader.show(e) for e in emails} == made
    assert getattr(reader, "_leadgate_sales", None) is None  # read without the workflow
    reader.db.dispose()


def test_attached_hooks_make_the_workflow_when_a_lead_moves(
    engine: Engine, db_url: str, clock: Any
) -> None:
    install(engine).add_rep("anna", "bdr", **ALWAYS)
    writer = Engine(Database(db_url), clock=clock)
    attach(writer)
    # An MQL made through the attached hooks is routed and its SLA started, as with
    # `install`; the SAL → SQL guard refuses an unqualified lead.
    writer.upsert_leads([("ann@acme.com", HOT, None)])
    now = clock()
    writer.ingest([parse_event({"email": "ann@acme.com", "type": "demo_request", "id": "d1"}, now)])
    shown = writer.show("ann@acme.com")
    assert (shown["stage"], shown["owner"], shown["sla_due_at"] is not None) == (
        "mql",
        "anna",
        True,
    )
    writer.set_stage("ann@acme.com", "sal", None, "user:anna")
    with pytest.raises(IllegalTransition, match="missing: budget"):
        writer.set_stage("ann@acme.com", "sql", None, "user:anna")
    assert getattr(writer, "_leadgate_sales", None) is not None
    writer.db.dispose()
