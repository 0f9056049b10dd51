"""The lead rows the writer saves are the same whichever statement shape wrote them.

`LeadRows.save_leads` leaves out the columns a lead's row already holds (the stage
columns, and on SQLite the indexed score and grade columns) and writes the leads in id
order. These tests hold the stored rows equal to those of a store where every lead is
written whole, through batches of events (in order, late, repeated), timers, people's
moves and a second engine writing to the same store; and they would fail if the
writer trusted a stale idea of what a row holds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import _postgres_url
from leadgate.demo.generator import iter_events, iter_leads
from leadgate.engine import changes
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.leads.record import LeadState
from leadgate.scoring.scorecard import ScoreCard
from leadgate.store import lead_rows
from leadgate.store.database import Database
from leadgate.store.repository import Repository, StoredLead
from leadgate.store.statements import bucket, in_list, pieces

DAY = 86400.0
TABLES = {
    "leads": "SELECT * FROM leads ORDER BY id",
    "events": "SELECT id, lead_id, type, occurred_at, received_at, properties FROM events "
    "ORDER BY id",
    "transitions": "SELECT * FROM transitions ORDER BY id",
}


def _rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.read() as conn:
        return {
            t: [tuple(r) for r in conn.exec_driver_sql(q).fetchall()] for t, q in TABLES.items()
        }


@pytest.fixture
def whole_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[int]]:
    """Databases (by id) whose every saved lead is written whole, as before the writer
    left out what a row holds: the reference."""
    whole: set[int] = set()
    real = lead_rows.LeadRows.save_leads

    def save(self: lead_rows.LeadRows, leads: Any, now: float, attributes: bool = True) -> None:
        leads = list(leads)
        if id(self.db) in whole:
            for s in leads:
                s.stage_before = None
                s.row_scores = None
        real(self, leads, now, attributes)

    monkeypatch.setattr(lead_rows.LeadRows, "save_leads", save)
    yield whole


@pytest.fixture
def changes_checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every `LeadChange.saved_all` (the writer's, from the row's scores as saved) held
    equal to `LeadChange.of` (from the card); yields how many were compared."""
    compared: list[int] = [0]
    real = changes.LeadChange.saved_all.__func__  # type: ignore[attr-defined]

    def saved_all(cls: Any, items: list[tuple[StoredLead, Any, bool]]) -> list[Any]:
        got = real(cls, items)
        assert len(got) == len(items)
        for c, (s, ts, created) in zip(got, items, strict=True):
            assert c == changes.LeadChange.of(s, ts, created)
            compared[0] += 1
        return got  # type: ignore[no-any-return]

    monkeypatch.setattr(changes.LeadChange, "saved_all", classmethod(saved_all))
    yield compared


def _events(start: datetime, seed: int) -> list[dict[str, Any]]:
    rows = list(iter_events(n_leads=40, n_events=900, seed=seed, start=start, days=20))
    # A repeat, a hand-raiser, and a late event (older than what its lead has seen:
    # re-derived).
    rows.insert(300, dict(rows[10]))
    rows.insert(400, {**rows[399], "id": "hand-1", "type": "demo_request"})
    rows.append({**rows[600], "id": "late-1", "occurred_at": rows[50]["occurred_at"]})
    return rows


def _people(start: datetime, seed: int) -> list[tuple[str, dict[str, Any], None]]:
    """Most of the events' leads with their attributes (fit), the rest unknown."""
    leads = list(iter_leads(n_leads=40, seed=seed, start=start, days=20))[:30]
    keep = ("job_title", "company_size", "industry", "country", "company")
    return [(r["email"], {k: r[k] for k in keep if r.get(k) is not None}, None) for r in leads]


@pytest.mark.parametrize("days_after", [1.0, 400.0])
def test_stored_rows_equal_whole_writes(
    db_url: str,
    tmp_path: Any,
    whole_writes: set[int],
    changes_checked: list[int],
    days_after: float,
) -> None:
    """days_after: how long after the last event the clock starts. 1: scores move with every
    batch; 400: engagement has decayed to nothing, so most scores stay as stored."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    if db_url.startswith("sqlite"):
        ref_url = f"sqlite:///{tmp_path / 'ref.db'}"
        Database(ref_url).migrate()
    else:
        ref_url = _postgres_url()
    events = _events(start, seed=11)
    t0 = start.timestamp() + (20 + days_after) * DAY
    stores = []
    for url, whole in ((db_url, False), (ref_url, True)):
        clock = _Clock(t0)
        db = Database(url)
        if whole:
            whole_writes.add(id(db))
        engine = Engine(db, clock=clock)
        engine.ensure_playbook()
        engine.upsert_leads(_people(start, seed=11))
        other = Engine(db, clock=clock)
        for e in (engine, other):
            e.listeners.append(lambda repo, changed, now: None)  # changes are built
        stores.append((engine, clock, other))
    rnd = random.Random(3)
    i = 0
    step = 0
    while i < len(events):
        n = rnd.choice([1, 7, 60, 200])
        batch = events[i : i + n]
        i += n
        step += 1
        wait = rnd.choice([60.0, 3600.0, 2 * DAY])
        for engine, clock, other in stores:
            # Now and then a second engine writes: the first one's cached leads are stale.
            who = other if step % 5 == 0 else engine
            now = clock()
            who.ingest([parse_event(dict(e), now) for e in batch], now)
            if step % 4 == 0:
                who.tick(now)
            if step == 6:
                email = batch[0]["email"]
                stage = who.show(email)["stage"]
                if stage == "mql":
                    who.set_stage(email, "sal", None, "rep@x.com")
            clock.now += wait
    got, want = (_rows(engine.db) for engine, _, _ in stores)
    assert got["leads"] and got["transitions"]
    assert got == want
    assert changes_checked[0] > 100  # every saved lead's change, both stores
    for engine, _, other in stores:
        engine.db.dispose()
        other.db.dispose()


class _Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_lead_saved_twice_in_one_transaction_holds_the_last_scores(sqlite_url: str) -> None:
    """The writer leaves out the score columns only when the row holds those very
    values now, not as they were when the transaction read the lead."""
    db = Database(sqlite_url)
    now = 1_780_000_000.0
    with db.write() as conn:
        repo = Repository(db, conn)
        lead = LeadState("a@x.com", {}, now)
        made = repo.insert_leads([lead], now)
        assert made == {"a@x.com"}
        s = repo.inserted(lead, now)
        for fit in (0.0, 5.0, 0.0):  # as inserted, then changed, then back
            lead.card = ScoreCard(fit, 0.0, "D", "4", (), now, 1)
            repo.save_leads([s], now, attributes=False)
        row = conn.exec_driver_sql("SELECT score, fit, grade FROM leads").fetchone()
        assert tuple(row) == (0.0, 0.0, "D4")
        # The same score under other grades (a playbook's thresholds moved) is written.
        lead.card = ScoreCard(0.0, 0.0, "C", "4", (), now, 1)
        repo.save_leads([s], now, attributes=False)
        row = conn.exec_driver_sql("SELECT score, fit_grade, grade FROM leads").fetchone()
    assert tuple(row) == (0.0, "C", "C4")
    db.dispose()


def test_a_lead_taken_meanwhile_is_not_reported_as_made(sqlite_url: str) -> None:
    """`insert_leads` names only the rows it made: a row that was there already holds
    columns the writer does not know, so it is written whole."""
    db = Database(sqlite_url)
    now = 1_780_000_000.0
    with db.write() as conn:
        repo = Repository(db, conn)
        first = LeadState("a@x.com", {}, now)
        repo.insert_leads([first], now)
        first.card = ScoreCard(30.0, 12.0, "B", "3", (), now, 1)
        repo.save_leads([StoredLead(first, None, now)], now)
        again = LeadState("a@x.com", {}, now)
        assert repo.insert_leads([again], now) == set()
        assert again.id == first.id
    db.dispose()


def test_exit_armed_is_stored_as_sqlite_stores_a_bool(db_url: str) -> None:
    """SQLite is handed `exit_armed` as 0/1 (binding a bool goes through sqlite3's
    adapter lookup): the row holds what binding the bool stored, an integer, and the
    lead reads back with a bool; None stays NULL; PostgreSQL keeps its boolean column."""
    db = Database(db_url)
    db.migrate()
    now = 1_780_000_000.0
    with db.write() as conn:
        repo = Repository(db, conn)
        leads = [LeadState(f"{i}@x.com", {}, now) for i in range(3)]
        repo.insert_leads(leads, now)
        for lead, armed in zip(leads, (True, False, True), strict=True):
            lead.card = ScoreCard(1.0, 2.0, "D", "4", (), now, 1)
            lead.exit_armed = armed
        stored = [repo.inserted(lead, now) for lead in leads]
        stored[2].row_scores = None  # one written whole, two without the score columns
        repo.save_leads(stored, now, attributes=False)
        got = conn.exec_driver_sql("SELECT exit_armed FROM leads ORDER BY id").fetchall()
        if db.is_sqlite:
            kinds = conn.exec_driver_sql(
                "SELECT typeof(exit_armed), typeof(timer_spent_at), typeof(stage_reason) FROM leads"
            ).fetchall()
            # None is bound through an adapter too (`database._sqlite_adapters`): NULL.
            assert set(kinds) == {("integer", "null", "null")}
            assert [r[0] for r in got] == [1, 0, 1]
        else:
            assert [r[0] for r in got] == [True, False, True]
        back = repo.leads_by_email([lead.email for lead in leads])
    assert [back[lead.email].state.exit_armed for lead in leads] == [True, False, True]
    db.dispose()


@pytest.mark.parametrize("n", [1, 2, 3, 170, 513, 1100])
def test_in_lists_and_pieces_keep_what_they_select_and_their_order(n: int) -> None:
    """IN lists padded by repeating their last value, and multi-row statements cut in
    power-of-two pieces, so SQLite prepares a few statement texts instead of one per
    length: the values and their order are kept."""
    values = [f"v{i}" for i in range(n)]
    marks, params = in_list(values)
    assert params[:n] == values and set(params) == set(values)
    assert marks.count("?") == len(params) == bucket(n)
    assert len({bucket(k) for k in range(1, 901)}) == 11  # 1, 2, 4 ... 512, 900
    cut = list(pieces(values, 512))
    assert [x for p in cut for x in p] == values
    assert all(len(p) & (len(p) - 1) == 0 and len(p) <= 512 for p in cut)


def test_new_leads_get_ids_in_their_order_and_taken_ones_their_row(db_url: str) -> None:
    """`insert_leads` in pieces: ids ascend in the leads' order (PostgreSQL: in email
    order), as one statement gave them, and an address stored before keeps its row (not reported as made)."""
    db = Database(db_url)
    db.migrate()
    now = 1_780_000_000.0
    with db.write() as conn:
        repo = Repository(db, conn)
        before = [LeadState("l57@x.com", {}, now), LeadState("l120@x.com", {}, now)]
        repo.insert_leads(before, now)
        leads = [LeadState(f"l{i}@x.com", {}, now) for i in range(171)]
        made = repo.insert_leads(leads, now)
        assert made == {lead.email for lead in leads} - {"l57@x.com", "l120@x.com"}
        assert leads[57].id == before[0].id and leads[120].id == before[1].id
        # PostgreSQL creates them in email order (two writers then wait in one order).
        order = leads if db.is_sqlite else sorted(leads, key=lambda x: x.email)
        fresh = [lead.id for lead in order if lead.email in made]
        assert fresh == sorted(fresh) and len(set(fresh)) == 169
        got = dict(conn.exec_driver_sql("SELECT email, id FROM leads").fetchall())
        assert {lead.email: lead.id for lead in leads} == {
            e: got[e] for e in got if e in made or e in ("l57@x.com", "l120@x.com")
        }
    db.dispose()
