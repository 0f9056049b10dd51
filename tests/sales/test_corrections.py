"""The sales workflow under corrections: a late event that re-derives a routed MQL.

When a late event only moves an MQL's moment, the lead keeps its rep and its open
acceptance SLA; when it takes the MQL back, the SLA is closed and nobody is left
chasing a lead that was never sales-ready.
"""

from __future__ import annotations

from typing import Any

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.sales import Sales
from leadgate.store.repository import Repository

from .conftest import HOT

DAY = 86400.0


def _event(engine: Engine, email: str, eid: str, typ: str, at: float) -> None:
    now = engine.clock()
    engine.ingest([parse_event({"email": email, "type": typ, "occurred_at": at, "id": eid}, now)])


def _sla_jobs(engine: Engine, lead_id: int) -> list[tuple[Any, ...]]:
    with engine.db.read() as conn:
        return (
            Repository(engine.db, conn)
            .execute(
                "SELECT rep, fired_at, outcome FROM sales_jobs WHERE lead_id = ? ORDER BY id",
                [lead_id],
            )
            .fetchall()
        )


def test_a_correction_that_moves_the_mql_keeps_its_rep_and_sla(
    engine: Engine, sales: Sales, clock: Any
) -> None:
    a = "ann@acme.com"
    t = clock.now
    engine.upsert_leads([(a, HOT, None)])
    _event(engine, a, "w1", "webinar_attended", t - 10 * DAY)
    _event(engine, a, "w2", "webinar_attended", t)  # 15.87 + 20: MQL now
    before = engine.show(a)
    assert before["stage"] == "mql" and before["owner"]
    # A webinar 9 days ago arrives late: the MQL was made then (19.54 + 20).
    _event(engine, a, "w0", "webinar_attended", t - 9 * DAY)
    after = engine.show(a)
    assert after["stage"] == "mql"
    assert [h["actor"] for h in after["history"]] == ["rule:mql"]
    assert len(after["corrections"]) == 1
    assert after["owner"] == before["owner"]
    jobs = _sla_jobs(engine, after["id"])
    assert len(jobs) == 1 and jobs[0][1] is None  # still open


def test_a_correction_that_takes_the_mql_back_closes_its_sla(
    engine: Engine, sales: Sales, clock: Any
) -> None:
    a = "bo@acme.com"
    t = clock.now
    engine.upsert_leads([(a, HOT, None)])
    _event(engine, a, "w1", "webinar_attended", t - 10 * DAY)
    _event(engine, a, "w2", "webinar_attended", t)
    assert engine.show(a)["stage"] == "mql"
    # An unsubscribe a day before arrives late: the lead never met the rule.
    _event(engine, a, "u1", "unsubscribe", t - DAY)
    shown = engine.show(a)
    assert shown["stage"] == "lead" and shown["history"] == []
    [(_rep, fired_at, outcome)] = _sla_jobs(engine, shown["id"])
    assert fired_at is not None and outcome == "closed"
