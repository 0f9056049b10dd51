"""Anonymous browser events of visitors nobody identified are deleted once older than the
playbook's `retention.anonymous_events_days` (90 by default): by the scheduler's tick and
by `leadgate person purge-visitors`. Nothing that belongs to a lead is ever deleted."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook
from leadgate.privacy.visitors import purge_visitor_events
from leadgate.sales import install
from leadgate.store.database import Database
from leadgate.store.repository import Repository

runner = CliRunner()
DAY = 86_400.0


def _rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.db.read() as conn:
        return [tuple(r) for r in Repository(engine.db, conn).execute(sql).fetchall()]


def _anonymous(engine: Engine) -> set[str]:
    return {str(r[0]) for r in _rows(engine, "SELECT id FROM visitor_events")}


def _history(engine: Engine, clock: Any) -> int:
    """Day 0: v-old browses, v-ann browses and is identified as ann@acme.com, v-race is
    identified too but one page view of it stayed anonymous (the race tracking.md names).
    Day 80: v-new browses. Returns Ann's lead id."""
    engine.track([("old-1", "v-old", "page_view", clock(), {"url": "/pricing"})])
    engine.track([("old-2", "v-old", "page_view", clock(), {"url": "/docs"})])
    engine.track([("ann-1", "v-ann", "page_view", clock(), {"url": "/pricing"})])
    [r] = engine.ingest(
        [
            parse_event(
                {
                    "email": "ann@acme.com",
                    "type": "form_submitted",
                    "id": "f1",
                    "properties": {"visitor_id": "v-ann"},
                },
                clock(),
            ),
            parse_event(
                {
                    "email": "race@acme.com",
                    "type": "form_submitted",
                    "id": "f2",
                    "properties": {"visitor_id": "v-race"},
                },
                clock(),
            ),
        ]
    )[:1]
    with engine.db.write() as conn:
        Repository(engine.db, conn).execute(
            "INSERT INTO visitor_events (id, visitor_id, type, occurred_at, received_at, "
            "properties) VALUES ('race-1', 'v-race', 'page_view', ?, ?, '{}')",
            [clock(), clock()],
        )
    clock.advance(80 * DAY)
    engine.track([("new-1", "v-new", "page_view", clock(), {"url": "/"})])
    assert r.lead_id is not None
    return r.lead_id


def test_old_anonymous_events_go_and_nothing_of_a_lead(engine: Engine, clock: Any) -> None:
    ann = _history(engine, clock)
    assert _anonymous(engine) == {"old-1", "old-2", "race-1", "new-1"}
    lead_events = _rows(engine, f"SELECT id FROM events WHERE lead_id = {ann} ORDER BY id")
    assert ("ann-1",) in lead_events

    # Day 80: nothing is 90 days old yet.
    assert purge_visitor_events(engine)["events"] == 0
    clock.advance(10 * DAY + 1)
    dry = purge_visitor_events(engine, dry_run=True)
    assert (dry["dry_run"], dry["days"], dry["events"], dry["visitors"]) == (True, 90, 2, 1)
    assert _anonymous(engine) == {"old-1", "old-2", "race-1", "new-1"}  # a dry run
    out = purge_visitor_events(engine)
    assert (out["dry_run"], out["events"], out["visitors"]) == (False, 2, 1)
    # v-new is recent; race-1 belongs to an identified visitor (a lead's): both stay.
    assert _anonymous(engine) == {"race-1", "new-1"}
    assert _rows(engine, f"SELECT id FROM events WHERE lead_id = {ann} ORDER BY id") == (
        lead_events
    )
    assert _rows(engine, "SELECT id FROM visitors ORDER BY id") == [("v-ann",), ("v-race",)]
    assert purge_visitor_events(engine)["events"] == 0


def test_the_playbook_sets_the_days(engine: Engine, clock: Any) -> None:
    _, text = bundled_playbook()
    engine.activate_playbook(text + "\nretention:\n  anonymous_events_days: 30\n", "pb.yaml", "t")
    engine.track([("a", "v1", "page_view", clock(), {})])
    clock.advance(29 * DAY)
    engine.track([("b", "v2", "page_view", clock(), {})])
    clock.advance(2 * DAY)
    out = purge_visitor_events(engine)
    assert (out["days"], out["events"]) == (30, 1) and _anonymous(engine) == {"b"}


def test_the_setting_is_checked_at_its_line() -> None:
    _, text = bundled_playbook()
    with pytest.raises(PlaybookError, match="anonymous_events_days"):
        load_playbook(text + "\nretention:\n  anonymous_events_days: 0\n", "pb.yaml")
    with pytest.raises(PlaybookError, match="stages"):
        load_playbook(text + "\nretention:\n  erase_inactive_after_days: 30\n", "pb.yaml")
    pb = load_playbook(text + "\nretention:\n  anonymous_events_days: 7\n", "pb.yaml")
    assert pb.retention is not None and pb.retention.erase_inactive_after_days is None
    assert load_playbook(text, "pb.yaml").retention is None


def test_the_scheduler_purges_at_most_once_an_hour(engine: Engine, clock: Any) -> None:
    _history(engine, clock)
    clock.advance(11 * DAY)
    s = install(engine)
    out = s.tick()
    assert out["visitor_events_purged"] == 2 and out["erased"] == 0
    assert _anonymous(engine) == {"race-1", "new-1"}
    engine.track([("late", "v-late", "page_view", clock() - 100 * DAY, {})])
    with engine.db.write() as conn:
        Repository(engine.db, conn).execute(
            "UPDATE visitor_events SET received_at = ? WHERE id = 'late'", [clock() - 100 * DAY]
        )
    assert s.tick()["visitor_events_purged"] == 0  # within the hour
    clock.advance(3_601)
    assert s.tick()["visitor_events_purged"] == 1


def test_purge_visitors_command(db_url: str) -> None:
    assert runner.invoke(app, ["init", "--db", db_url]).exit_code == 0
    eng = Engine(Database(db_url))
    with eng.db.write() as conn:
        # The CLI runs on the real clock: one event from 1970, one from 2096, so the
        # answer does not depend on when the test runs.
        Repository(eng.db, conn).executemany(
            "INSERT INTO visitor_events (id, visitor_id, type, occurred_at, received_at, "
            "properties) VALUES (?,?,?,?,?,'{}')",
            [("old", "v1", "page_view", 1.0, 1.0), ("future", "v2", "page_view", 4e9, 4e9)],
        )
    r = runner.invoke(app, ["person", "purge-visitors", "--dry-run", "--db", db_url])
    assert r.exit_code == 0, r.stderr
    assert "would delete 1 anonymous event(s) of 1 visitor(s)" in r.stdout
    assert _anonymous(eng) == {"old", "future"}
    r = runner.invoke(app, ["person", "purge-visitors", "--json", "--db", db_url])
    out = orjson.loads(r.stdout)
    assert (out["events"], out["visitors"], out["days"], out["dry_run"]) == (1, 1, 90, False)
    assert _anonymous(eng) == {"future"}
    r = runner.invoke(app, ["person", "purge-visitors", "--db", db_url])
    assert r.exit_code == 0 and "deleted 0 anonymous event(s)" in r.stdout
    eng.db.dispose()
