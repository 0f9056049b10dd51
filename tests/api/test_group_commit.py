"""Group commit (issue 17): batches that queue for the SQLite writer share one transaction,
and each request is still answered with exactly its own items."""

from __future__ import annotations

import asyncio

import pytest

from leadgate.api.context import ApiContext
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import EventIn, parse_event
from leadgate.store.database import Database


@pytest.fixture
def engine(sqlite_url: str, clock) -> Engine:  # type: ignore[no-untyped-def]
    """Group commit is for the single SQLite writer (PostgreSQL takes concurrent writers)."""
    eng = Engine(Database(sqlite_url), clock=clock)
    eng.ensure_playbook()
    return eng


def _batch(engine: Engine, tag: str, n: int, leads: int = 5) -> list[EventIn]:
    now = engine.clock()
    return [
        parse_event(
            {
                "id": f"{tag}-{i}",
                "email": f"{tag}{i % leads}@example.com",
                "type": "page_view",
                "occurred_at": now - 3600 + i,
            },
            now,
        )
        for i in range(n)
    ]


def _ingest_concurrently(ctx: ApiContext, batches: list[list[EventIn]], now: float) -> list:
    async def run() -> list:
        return await asyncio.gather(*(ctx.ingest(b, now) for b in batches), return_exceptions=True)

    return asyncio.run(run())


def test_queued_batches_share_a_transaction_and_get_their_own_items(engine: Engine) -> None:
    ctx = ApiContext(engine)
    batches = [_batch(engine, t, 40) for t in ("a", "b", "c", "d")]
    # "c" repeats two of "b"'s ids: a duplicate across requests stays a duplicate.
    batches[2][:2] = batches[1][:2]
    results = _ingest_concurrently(ctx, batches, engine.clock())

    # The first batch writes alone; the three that queued behind it share one commit.
    assert ctx.group_commits == 1
    for batch, items in zip(batches, results, strict=True):
        assert [r.index for r in items] == list(range(len(batch)))
        assert [r.id for r in items] == [ev.id for ev in batch]
        assert all(r.lead_id for r in items)
    assert [r.status for r in results[2][:2]] == ["duplicate", "duplicate"]
    assert {r.status for r in results[2][2:]} == {"accepted"}
    with engine.db.read() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
    assert stored == 4 * 40 - 2


def test_a_failing_batch_fails_alone(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = ApiContext(engine)
    real = engine.ingest

    def ingest(events: list[EventIn], now: float | None = None):  # type: ignore[no-untyped-def]
        if any(ev.id.startswith("bad") for ev in events):
            raise RuntimeError("the store refused this batch")
        return real(events, now)

    monkeypatch.setattr(engine, "ingest", ingest)
    batches = [_batch(engine, t, 30) for t in ("first", "ok", "bad", "fine")]
    results = _ingest_concurrently(ctx, batches, engine.clock())

    assert isinstance(results[2], RuntimeError)
    for i in (0, 1, 3):
        assert [r.status for r in results[i]] == ["accepted"] * 30
    with engine.db.read() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
    assert stored == 90


class _CountingPolicy:
    def __init__(self) -> None:
        self.writes = 0

    def after_write(self) -> None:
        self.writes += 1


def test_every_ingest_transaction_runs_the_gc_policy(engine: Engine) -> None:
    ctx = ApiContext(engine)
    policy = _CountingPolicy()
    ctx.gc_policy = policy
    batches = [_batch(engine, t, 30 + i) for i, t in enumerate(("p", "q", "r", "s", "t"))]
    results = _ingest_concurrently(ctx, batches, engine.clock())

    # One transaction alone, then one shared by the four that queued behind it.
    assert ctx.group_commits == 1
    assert policy.writes == 2
    for batch, items in zip(batches, results, strict=True):
        assert [r.id for r in items] == [ev.id for ev in batch]


def test_the_gc_policy_runs_after_a_failed_group_too(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ApiContext(engine)
    policy = _CountingPolicy()
    ctx.gc_policy = policy
    real = engine.ingest

    def ingest(events: list[EventIn], now: float | None = None):  # type: ignore[no-untyped-def]
        if any(ev.id.startswith("bad") for ev in events):
            raise RuntimeError("the store refused this batch")
        return real(events, now)

    monkeypatch.setattr(engine, "ingest", ingest)
    batches = [_batch(engine, t, 30) for t in ("one", "bad", "two")]
    results = _ingest_concurrently(ctx, batches, engine.clock())

    assert isinstance(results[1], RuntimeError)
    assert [r.status for r in results[2]] == ["accepted"] * 30
    assert policy.writes == 2  # the first batch alone; then the group, retried one by one
