"""The engine's in-memory lead states never hide a write made elsewhere or a rollback."""

from __future__ import annotations

import pytest

from leadgate.engine.engine import Engine, LeadChange
from leadgate.ingest.validate import parse_event
from leadgate.store.database import Database
from leadgate.store.repository import Repository


def _ingest(engine: Engine, *items: dict[str, object]) -> None:
    now = engine.clock()
    engine.ingest([parse_event(dict(i), now) for i in items], now)


def _stored(engine: Engine, email: str) -> tuple[float, str, str | None]:
    with engine.db.read() as conn:
        row = Repository(engine.db, conn).lead_by_email(email)
    assert row is not None
    return row.score_before or 0.0, row.state.stage, row.owner


def test_a_write_by_another_engine_is_seen(engine: Engine, db_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    other = Engine(Database(db_url), clock=clock)
    _ingest(engine, {"id": "1", "email": "a@x.com", "type": "webinar_attended"})
    _ingest(other, {"id": "2", "email": "a@x.com", "type": "webinar_attended"})
    # `engine` still holds the lead as it left it (20 points); the store has 40.
    _ingest(engine, {"id": "3", "email": "a@x.com", "type": "whitepaper_download"})
    assert engine.show("a@x.com")["engagement"] == 50
    assert _stored(engine, "a@x.com")[0] == 50
    other.db.dispose()


def test_a_raw_write_in_a_write_transaction_is_seen(engine: Engine) -> None:
    _ingest(engine, {"id": "1", "email": "a@x.com", "type": "webinar_attended"})
    with engine.db.write() as conn:
        conn.exec_driver_sql("UPDATE leads SET owner = 'rep1' WHERE email = 'a@x.com'")
    seen: list[LeadChange] = []
    engine.listeners.append(lambda repo, changes, now: seen.extend(changes))
    _ingest(engine, {"id": "2", "email": "a@x.com", "type": "whitepaper_download"})
    assert [c.owner for c in seen] == ["rep1"]
    assert _stored(engine, "a@x.com")[2] == "rep1"


def test_a_failed_transaction_leaves_no_trace_in_memory(engine: Engine) -> None:
    _ingest(engine, {"id": "1", "email": "a@x.com", "type": "webinar_attended"})

    def boom(repo: Repository, changes: list[LeadChange], now: float) -> None:
        raise RuntimeError("listener failed")

    engine.listeners.append(boom)
    with pytest.raises(RuntimeError):
        _ingest(engine, {"id": "2", "email": "a@x.com", "type": "webinar_attended"})
    engine.listeners.remove(boom)
    # Event 2 rolled back: sending it again scores it once, on top of event 1 only.
    _ingest(engine, {"id": "2", "email": "a@x.com", "type": "webinar_attended"})
    assert engine.show("a@x.com")["engagement"] == 40
    assert _stored(engine, "a@x.com")[0] == 40


def test_an_owner_set_by_a_listener_on_a_move_is_read_back(engine: Engine) -> None:
    def route(repo: Repository, changes: list[LeadChange], now: float) -> None:
        for c in changes:
            if c.transitions:
                repo.execute("UPDATE leads SET owner = ? WHERE id = ?", ["bdr1", c.lead_id])

    engine.listeners.append(route)
    seen: list[LeadChange] = []
    engine.listeners.append(lambda repo, changes, now: seen.extend(changes))
    _ingest(engine, {"id": "1", "email": "a@x.com", "type": "demo_request"})  # hand-raiser
    _ingest(engine, {"id": "2", "email": "a@x.com", "type": "webinar_attended"})
    assert [c.owner for c in seen] == [None, "bdr1"]
    assert _stored(engine, "a@x.com")[1:] == ("mql", "bdr1")


def test_a_new_playbook_activated_elsewhere_is_used(engine: Engine, db_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    from leadgate.playbook.loader import bundled_playbook

    _ingest(engine, {"id": "1", "email": "a@x.com", "type": "webinar_attended"})
    other = Engine(Database(db_url), clock=clock)
    _, text = bundled_playbook()
    other.activate_playbook(
        text.replace(
            "{event: webinar_attended, points: 20}", "{event: webinar_attended, points: 25}"
        ),
        "changed.yaml",
    )
    _ingest(engine, {"id": "2", "email": "a@x.com", "type": "webinar_attended"})
    lead = engine.show("a@x.com")
    assert (lead["playbook_version"], lead["engagement"]) == (2, 50)
    other.db.dispose()
