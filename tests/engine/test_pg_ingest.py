"""Bulk ingest's big-batch store paths (COPY on PostgreSQL) against one event at a time.

Batches of 64 events or more take PostgreSQL's COPY path (straight into `events`, with
the temp-table path as the fall back on a unique violation); single events take plain
statements. Both must store and score exactly the same, duplicates included, and
concurrent writers of the same events must store and score each one once.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from conftest import FakeClock, _postgres_url
from leadgate.engine.engine import Engine
from leadgate.ingest.files import ingest_events
from leadgate.ingest.validate import EventIn, parse_event
from leadgate.store.database import Database

DAY = 86400.0
TYPES = ["page_view", "email_click", "webinar_attended", "whitepaper_download", "pricing_page"]


def _same_kind(url: str, tmp_path: Path, name: str) -> str:
    """A second fresh, migrated store on the backend of `url`."""
    if url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path / name}"
        Database(other).migrate()
        return other
    return _postgres_url()


def _events(n: int, leads: int, seed: int, now: float, prefix: str = "e") -> list[EventIn]:
    rnd = random.Random(seed)
    return [
        parse_event(
            {
                "id": f"{prefix}{i}",
                "email": f"lead{rnd.randrange(leads)}@acme.com",
                "type": rnd.choice(TYPES),
                "occurred_at": now - rnd.uniform(0, 60 * DAY),
                "properties": {"n": i},
            },
            now,
        )
        for i in range(n)
    ]


def _scores(engine: Engine, emails: set[str]) -> dict[str, tuple[object, ...]]:
    out = {}
    for email in sorted(emails):
        lead = engine.show(email)
        out[email] = (lead["stage"], lead["score"], lead["engagement"], lead["grade"])
    return out


def _stored_ids(engine: Engine) -> list[str]:
    with engine.db.read() as conn:
        return sorted(r[0] for r in conn.exec_driver_sql("SELECT id FROM events").fetchall())


def _reference(url: str, clock: FakeClock, batches: list[list[EventIn]]) -> Engine:
    ref = Engine(Database(url), clock=clock)
    ref.ensure_playbook()
    for batch in batches:
        for ev in batch:
            ref.ingest([ev], clock())
    return ref


def test_big_batches_with_stored_duplicates_and_late_events_match_one_at_a_time(
    engine: Engine, db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    now = clock()
    first = _events(300, 30, 1, now)
    # Half of the second batch was stored before (the COPY meets a unique violation
    # and falls back), and its new events are older than what their leads have seen
    # (late: each lead's history is read back, this batch's events included).
    second = first[::2] + _events(200, 30, 2, now - 30 * DAY, prefix="late")
    res1 = engine.ingest(first, now)
    res2 = engine.ingest(second, now)
    assert [r.status for r in res1] == ["accepted"] * 300
    assert [r.status for r in res2] == ["duplicate"] * 150 + ["accepted"] * 200
    assert all(r.lead_id is not None for r in res1 + res2)
    ref = _reference(_same_kind(db_url, tmp_path, "ref.db"), clock, [first, second])
    emails = {ev.email for ev in first + second}
    assert _scores(engine, emails) == _scores(ref, emails)
    assert _stored_ids(engine) == _stored_ids(ref)
    ref.db.dispose()


def test_a_batch_of_only_stored_events_changes_nothing(engine: Engine) -> None:
    now = engine.clock()
    batch = _events(100, 10, 3, now)
    engine.ingest(batch, now)
    emails = {ev.email for ev in batch}
    before = _scores(engine, emails)
    assert engine.ingest_counts(batch, now) == (0, 100)
    assert _scores(engine, emails) == before
    assert len(_stored_ids(engine)) == 100


def test_reimporting_a_file_with_bad_lines_stores_each_event_once(
    engine: Engine, tmp_path: Path
) -> None:
    now = engine.clock()
    lines = []
    for i, ev in enumerate(_events(500, 40, 4, now)):
        if i % 97 == 0:
            lines.append('{"id": "broken", "email": ')
        lines.append(
            f'{{"id": "{ev.id}", "email": "{ev.email}", "type": "{ev.type}", '
            f'"occurred_at": {ev.at}}}'
        )
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    first = ingest_events(engine, path, batch_size=128)
    again = ingest_events(engine, path, batch_size=128)
    assert (first.accepted, first.duplicates, first.rejected) == (500, 0, 6)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 500, 6)
    assert len(_stored_ids(engine)) == 500


def test_concurrent_writers_of_the_same_events_store_and_score_each_once(
    postgres_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    now = clock()
    batch = _events(400, 25, 5, now)
    engines = [Engine(Database(postgres_url), clock=clock) for _ in range(3)]
    engines[0].ensure_playbook()
    counts: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def run(eng: Engine, items: list[EventIn]) -> None:
        try:
            start.wait()
            counts.append(eng.ingest_counts(items, now))
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    # Each writer sends the batch in its own order: they meet on the same rows.
    orders = [batch, batch[::-1], batch[100:] + batch[:100]]
    threads = [
        threading.Thread(target=run, args=(eng, items))
        for eng, items in zip(engines, orders, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(a for a, _ in counts) == 400
    assert sum(d for _, d in counts) == 800
    ref = _reference(_postgres_url(), clock, [batch])
    emails = {ev.email for ev in batch}
    assert _scores(engines[0], emails) == _scores(ref, emails)
    assert _stored_ids(engines[0]) == _stored_ids(ref)
    for eng in [*engines, ref]:
        eng.db.dispose()


@pytest.mark.parametrize("split", [1, 7])
def test_the_same_id_for_two_leads_at_once_is_stored_and_scored_once(
    postgres_url: str, clock: FakeClock, split: int
) -> None:
    """A client bug: one event id sent for two different emails by two writers at once.
    The unique index decides which lead gets it; the other writer acknowledges it as a
    duplicate and scores nothing for it."""
    now = clock()
    a = _events(200, 10, 6, now, prefix="x")
    b = [
        parse_event({"id": ev.id, "email": "other" + ev.email, "type": ev.type}, now)
        for ev in a[::split]
    ]
    engines = [Engine(Database(postgres_url), clock=clock) for _ in range(2)]
    engines[0].ensure_playbook()
    counts: dict[int, tuple[int, int]] = {}
    start = threading.Barrier(2)

    def run(i: int, items: list[EventIn]) -> None:
        start.wait()
        counts[i] = engines[i].ingest_counts(items, now)

    threads = [threading.Thread(target=run, args=(i, x)) for i, x in enumerate([a, b])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(c[0] for c in counts.values()) == 200
    with engines[0].db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT e.id, l.email FROM events e JOIN leads l ON l.id = e.lead_id"
        ).fetchall()
    owner = dict(rows)
    assert len(owner) == 200
    # Each lead's scores count exactly the events the index gave it.
    ref = Engine(Database(_postgres_url()), clock=clock)
    ref.ensure_playbook()
    ref.ingest([ev for ev in a + b if owner[ev.id] == ev.email], now)
    emails = {ev.email for ev in a + b if owner[ev.id] == ev.email}
    assert _scores(engines[0], emails) == _scores(ref, emails)
    ref.db.dispose()
    for eng in engines:
        eng.db.dispose()


def test_an_id_another_writer_is_storing_for_another_lead_is_not_scored_here(
    postgres_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id check before the COPY cannot see a writer that has not committed yet; the
    unique index then fails the batch's insert, which is rolled back and run again."""
    import psycopg

    now = clock()
    eng = Engine(Database(postgres_url), clock=clock)
    eng.ensure_playbook()
    eng.ingest([parse_event({"id": "seed", "email": "m@acme.com", "type": "page_view"}, now)])
    lead_m = eng.show("m@acme.com")["id"]
    batch = _events(100, 5, 7, now, prefix="r")
    other = psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    other.execute(
        "INSERT INTO events (id, lead_id, type, occurred_at, received_at, properties) "
        "VALUES (%s, %s, 'webinar_attended', %s, %s, '{}')",
        [batch[40].id, lead_m, now, now],
    )
    attempts = []
    once = Engine._ingest_once

    def counted(self, *args):  # type: ignore[no-untyped-def]
        attempts.append(1)
        return once(self, *args)

    monkeypatch.setattr(Engine, "_ingest_once", counted)
    result: list[tuple[int, int]] = []
    worker = threading.Thread(target=lambda: result.append(eng.ingest_counts(batch, now)))
    worker.start()
    worker.join(1.0)  # the batch's insert now waits on the other writer's row
    assert worker.is_alive()
    other.commit()
    other.close()
    worker.join()
    assert result == [(99, 1)]
    assert len(attempts) == 2  # rolled back once, then the id was found stored
    with eng.db.read() as conn:
        owner = conn.exec_driver_sql(
            "SELECT lead_id FROM events WHERE id = %(id)s", {"id": batch[40].id}
        ).scalar()
    assert owner == lead_m
    ref = Engine(Database(_postgres_url()), clock=clock)
    ref.ensure_playbook()
    ref.ingest([ev for i, ev in enumerate(batch) if i != 40], now)
    emails = {ev.email for ev in batch}
    assert _scores(eng, emails) == _scores(ref, emails)
    for e in (eng, ref):
        e.db.dispose()


def test_a_batch_failing_while_its_events_are_stored_leaves_nothing_behind(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadgate.leads.processor import LeadProcessor

    now = engine.clock()
    batch = _events(200, 20, 8, now)

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("scoring failed")

    with monkeypatch.context() as m:
        m.setattr(LeadProcessor, "apply_events", boom)
        with pytest.raises(RuntimeError, match="scoring failed"):
            engine.ingest(batch, now)
    assert _stored_ids(engine) == []
    # The connection went back to the pool clean: the same batch now goes in whole.
    assert engine.ingest_counts(batch, now) == (200, 0)
    assert len(_stored_ids(engine)) == 200
