"""Webhooks carry the owner routing assigned in the same transaction; `lead.assigned`
announces every owner change; MQLs no rep could take are routed when one can."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from leadgate.engine.engine import Engine
from leadgate.sales import install
from leadgate.store.repository import Repository
from leadgate.webhooks import OutboxWriter, add_subscription
from tests.sales.conftest import ALWAYS, HOT

Hand = Callable[..., dict[str, Any]]


def _payloads(engine: Engine, typ: str) -> list[dict[str, Any]]:
    with engine.db.read() as conn:
        rows = (
            Repository(engine.db, conn)
            .execute(
                "SELECT payload FROM webhook_outbox WHERE event_type = ? ORDER BY created_at", [typ]
            )
            .fetchall()
        )
    return [orjson.loads(r[0])["data"] for r in rows]


def _subscribe(engine: Engine, events: str) -> None:
    # As the CLI and the API install them: the sales workflow first, the outbox last.
    engine.listeners.append(OutboxWriter())
    add_subscription(engine.db, "http://127.0.0.1:9/hook", events, None, "t", allow_private=True)


def test_the_mql_webhook_names_the_owner_routing_just_assigned(
    engine: Engine, raise_hand: Hand
) -> None:
    s = install(engine)
    s.add_rep("anna", "bdr", **ALWAYS)
    _subscribe(engine, "lead.stage_changed,lead.assigned")
    shown = raise_hand("vp@acme.com", HOT)
    assert shown["owner"] == "anna"
    to_mql = [p for p in _payloads(engine, "lead.stage_changed") if p["to"] == "mql"]
    assert [p["owner"] for p in to_mql] == ["anna"]
    assigned = _payloads(engine, "lead.assigned")
    assert [(p["owner"], p["previous"], p["role"], p["email"]) for p in assigned] == [
        ("anna", None, "bdr", "vp@acme.com")
    ]


def test_a_manual_reassignment_is_announced(engine: Engine, raise_hand: Hand) -> None:
    s = install(engine)
    s.add_rep("anna", "bdr", **ALWAYS)
    s.add_rep("bo", "bdr", **ALWAYS)
    _subscribe(engine, "lead.assigned")
    raise_hand("vp@acme.com", HOT)
    first = engine.show("vp@acme.com")["owner"]
    other = "bo" if first == "anna" else "anna"
    s.assign("vp@acme.com", other, "covering", "cli")
    assigned = _payloads(engine, "lead.assigned")
    assert [(p["owner"], p["previous"]) for p in assigned] == [(first, None), (other, first)]
    assert assigned[-1]["actor"] == "cli" and assigned[-1]["reason"] == "covering"


def test_unowned_mqls_are_routed_when_a_rep_is_added(engine: Engine, raise_hand: Hand) -> None:
    s = install(engine)
    _subscribe(engine, "lead.assigned")
    raise_hand("a@acme.com", HOT)
    raise_hand("b@other.com", HOT)
    assert engine.show("a@acme.com")["owner"] is None
    s.add_rep("anna", "ae", **ALWAYS)  # an AE takes no new MQLs
    assert engine.show("a@acme.com")["owner"] is None
    s.add_rep("bo", "bdr", **ALWAYS)
    assert engine.show("a@acme.com")["owner"] == "bo"
    assert engine.show("b@other.com")["owner"] == "bo"
    assert sorted(p["email"] for p in _payloads(engine, "lead.assigned")) == [
        "a@acme.com",
        "b@other.com",
    ]


def test_unowned_mqls_are_routed_when_a_rep_comes_back(
    engine: Engine, raise_hand: Hand, clock: Any
) -> None:
    s = install(engine)
    s.add_rep("anna", "bdr", **ALWAYS)
    s.set_away("anna", clock() + 86400)
    raise_hand("a@acme.com", HOT)
    assert engine.show("a@acme.com")["owner"] is None
    s.set_away("anna", None)
    assert engine.show("a@acme.com")["owner"] == "anna"


def test_the_tick_routes_unowned_mqls_once_an_absence_ends(
    engine: Engine, raise_hand: Hand, clock: Any
) -> None:
    s = install(engine)
    s.add_rep("anna", "bdr", **ALWAYS)
    s.set_away("anna", clock() + 3600)
    raise_hand("a@acme.com", HOT)
    assert s.tick()["routed"] == 0  # still away
    assert engine.show("a@acme.com")["owner"] is None
    clock.advance(2 * 3600)  # back, and the lead's SLA (24 h) is not due yet
    out = s.tick()
    assert (out["routed"], out["reassigned"]) == (1, 0)
    assert engine.show("a@acme.com")["owner"] == "anna"
    assert s.tick()["routed"] == 0


def test_the_owner_is_announced_whatever_order_the_hooks_were_installed_in(
    engine: Engine, raise_hand: Hand
) -> None:
    engine.listeners.append(OutboxWriter())  # before the sales workflow this time
    s = install(engine)
    s.add_rep("anna", "bdr", **ALWAYS)
    add_subscription(
        engine.db, "http://127.0.0.1:9/hook", "lead.stage_changed", None, "t", allow_private=True
    )
    raise_hand("vp@acme.com", HOT)
    to_mql = [p for p in _payloads(engine, "lead.stage_changed") if p["to"] == "mql"]
    assert [p["owner"] for p in to_mql] == ["anna"]
