"""Regrouping a window of a bulk file by lead (leadgate.ingest.grouping)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from hypothesis import given
from hypothesis import strategies as st

from conftest import FakeClock
from leadgate.demo.generator import iter_events
from leadgate.engine.engine import Engine
from leadgate.ingest.files import ingest_events
from leadgate.ingest.grouping import group_by_lead
from leadgate.ingest.validate import EventIn
from leadgate.store.database import Database


def ev(i: str, email: str, at: float = 0.0) -> EventIn:
    return EventIn(i, email, "page_view", at)


events_strategy = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(["a@x.io", "b@x.io", "c@x.io", "d@x.io"])),
    max_size=80,
).map(lambda xs: [ev(f"e{i}", email, float(n)) for n, (i, email) in enumerate(xs)])


@given(events_strategy, st.integers(1, 12))
def test_every_first_copy_once_leads_whole_and_in_first_seen_order(
    events: list[EventIn], batch_size: int
) -> None:
    batches, repeated = group_by_lead(events, batch_size)
    out = [e for b in batches for e in b]
    firsts: dict[str, EventIn] = {}
    for e in events:
        firsts.setdefault(e.id, e)
    # Each id once, and it is the copy that came first in the file.
    assert sorted(id(e) for e in out) == sorted(id(e) for e in firsts.values())
    assert repeated == len(events) - len(firsts)
    # No lead is split over two batches; leads come in order of first appearance.
    where = {}
    for n, b in enumerate(batches):
        for e in b:
            assert where.setdefault(e.email, n) == n
    order = list(dict.fromkeys(e.email for e in firsts.values()))
    assert list(dict.fromkeys(e.email for e in out)) == order
    # Within a lead, the file's order is kept (scoring sorts by time anyway).
    for email in order:
        mine = [e for e in out if e.email == email]
        assert mine == [e for e in firsts.values() if e.email == email]
    # Batches hold at most batch_size events, unless one lead alone has more.
    for b in batches:
        assert b
        assert len(b) <= batch_size or len({e.email for e in b}) == 1


def test_leads_are_packed_up_to_the_batch_size() -> None:
    events = [ev("1", "a@x.io"), ev("2", "b@x.io"), ev("3", "a@x.io"), ev("4", "c@x.io")]
    batches, repeated = group_by_lead(events, 3)
    assert [[e.id for e in b] for b in batches] == [["1", "3", "2"], ["4"]]
    assert repeated == 0


def test_a_repeated_id_keeps_the_first_copy_even_under_another_lead() -> None:
    events = [ev("x", "b@x.io"), ev("1", "a@x.io"), ev("x", "a@x.io")]
    batches, repeated = group_by_lead(events, 10)
    assert [(e.id, e.email) for b in batches for e in b] == [("x", "b@x.io"), ("1", "a@x.io")]
    assert repeated == 1


def _file(tmp_path: Path) -> Path:
    rows = list(
        iter_events(
            n_leads=300, n_events=3000, seed=5, start=datetime(2025, 11, 1, tzinfo=UTC), days=150
        )
    )
    # A copy of an early event under another lead (the first copy must count), an exact
    # repeat, and a late event (older than what its lead has seen, so it is replayed).
    rows.insert(40, {**rows[10], "email": rows[500]["email"]})
    rows.append(rows[7])
    rows.append({**rows[2000], "id": "late-1", "occurred_at": rows[100]["occurred_at"]})
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _state(engine: Engine, emails: list[str]) -> dict[str, tuple[object, ...]]:
    out = {}
    for email in emails:
        s = engine.show(email)
        moves = tuple((h["from"], h["to"], h["at"]) for h in s["history"])
        out[email] = (s["fit"], s["engagement"], s["score"], s["grade"], s["stage"], moves)
    return out


def test_grouped_import_scores_every_lead_as_the_file_order_does(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    """Regrouped by lead (a window of the whole file, 500-event transactions) and stored
    in the file's order in one transaction: the same counts and, for every lead, the
    same score, grade, stage and stage history, on SQLite and PostgreSQL. (Against
    500-event batches in file order the histories differ: there a lead's timers run to
    "now" at the end of each batch, before its later events are read.)"""
    path = _file(tmp_path)
    ref_db = Database(f"sqlite:///{tmp_path / 'ref.db'}")
    ref_db.migrate()
    ref = Engine(ref_db, clock=clock)
    ref.ensure_playbook()
    want = ingest_events(ref, path, batch_size=10_000, window=10_000)
    got = ingest_events(engine, path, batch_size=500, window=10_000)
    assert (got.read, got.accepted, got.duplicates, got.rejected) == (
        want.read,
        want.accepted,
        want.duplicates,
        want.rejected,
    )
    assert (got.accepted, got.duplicates) == (3001, 2)
    emails = sorted({orjson.loads(line)["email"] for line in path.read_bytes().splitlines()})
    assert _state(engine, emails) == _state(ref, emails)
    # The copy under another lead was not scored: the first copy's lead has the event.
    first = orjson.loads(path.read_bytes().splitlines()[10])
    with engine.db.read() as conn:
        owner = conn.exec_driver_sql(
            "SELECT lead_id FROM events WHERE id = %s" % ("?" if engine.db.is_sqlite else "%s"),
            (first["id"],),
        ).scalar()
    assert owner == engine.show(first["email"])["id"]
    ref_db.dispose()
