"""A scheduler tick with nothing due writes nothing.

The server ticks every 15 s. Each write transaction on SQLite bumps the store revision,
which makes the engine's next ingest read its leads from the store again (the lead
cache is only trusted when nobody else wrote), and costs a commit. So a tick asks in a
read transaction first, and writes only for what is due.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from leadgate.engine.engine import Engine
from leadgate.sales import Sales
from leadgate.store.database import Database


@pytest.fixture
def writes(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The write transactions opened on the engine's store, by the caller's name."""
    opened: list[str] = []
    real = Database.write

    @contextmanager
    def counted(self: Database) -> Iterator[Any]:
        import sys

        opened.append(sys._getframe(2).f_code.co_name)
        with real(self) as conn:
            yield conn

    monkeypatch.setattr(Database, "write", counted)
    return opened


def test_idle_tick_opens_no_write_transaction(
    engine: Engine, sales: Sales, raise_hand: Callable[..., Any], clock: Any, writes: list[str]
) -> None:
    # A lead with a running SLA (due in an hour) and nothing else pending.
    raise_hand("ann@acme.example", {"job_title": "VP Marketing", "country": "DE"})
    assert engine.show("ann@acme.example")["sla_due_at"] is not None
    writes.clear()
    out = sales.tick(clock())
    assert writes == [], f"an idle tick wrote: {writes}"
    assert out["jobs_fired"] == 0 and out["nurture_steps"] == 0


def test_due_work_is_still_done(
    engine: Engine, sales: Sales, raise_hand: Callable[..., Any], clock: Any, writes: list[str]
) -> None:
    """The read-first check must not hide due work: the SLA breach still fires."""
    raise_hand("bea@acme.example", {"job_title": "VP Marketing", "country": "DE"})
    clock.advance(30 * 24 * 3600)
    out = sales.tick(clock())
    assert out["jobs_fired"] + out["sla_breached"] >= 1
    assert writes, "due work was found but nothing was written"


def test_empty_mail_outbox_is_claimed_without_writing(
    engine: Engine, sales: Sales, clock: Any, writes: list[str]
) -> None:
    from leadgate.sales.nurture_mail import claim_mail

    assert claim_mail(engine.db, "w1", clock(), 50, 60.0) == []
    assert writes == []
