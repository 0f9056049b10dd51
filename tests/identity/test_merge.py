"""Merging two leads that are one person, on SQLite and PostgreSQL: everything moves,
the other address becomes an alias, the merge is audited and announced once, and the
kept lead's stage history is again a function of the facts of both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FakeClock
from leadgate.engine.engine import Engine, NotFound
from leadgate.identity.merge import merge_leads, merges_of
from leadgate.ingest.validate import EventIn, InputError
from leadgate.sales import Sales
from leadgate.store.database import Database
from leadgate.store.repository import Repository, dumps
from leadgate.webhooks import add_subscription

DAY = 86400.0
T0 = 1_780_000_000.0
HOT = {"job_title": "VP Marketing", "company_size": 200, "country": "DE"}


def ev(eid: str, email: str, typ: str, at: float) -> EventIn:
    return EventIn(eid, email, typ, at, {}, dumps({}))


def rows(engine: Engine, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with engine.db.read() as conn:
        return [tuple(r) for r in Repository(engine.db, conn).execute(sql, params).fetchall()]


def test_merge_moves_everything_and_aliases_the_other_address(
    engine: Engine, sales: Sales, raise_hand: Callable[..., dict[str, Any]], clock: FakeClock
) -> None:
    add_subscription(engine.db, "https://93.184.216.34/hook", ["lead.merged"], None, "test")
    engine.upsert_leads([("ann@acme.com", {"job_title": "VP Sales"}, None)])
    clock.advance(60)
    other = raise_hand("ann.smith@acme.com", {**HOT, "phone": "+49 30 1234567"})
    assert other["stage"] == "mql" and other["owner"] == "anna"
    sales.qualify("ann.smith@acme.com", {"budget": "met"}, {"budget": "50k"}, actor="anna")
    sales.qualify("ann@acme.com", {"need": "met", "budget": "not_met"}, actor="bo")
    keep = engine.show("ann@acme.com")
    clock.advance(60)

    out = merge_leads(engine, "ann@acme.com", "ann.smith@acme.com", "user:admin")
    assert out["already"] is False and out["merged"]["merged_id"] == other["id"]
    lead = engine.show("ann@acme.com")
    # Events, the MQL they made (at its own time), the owner (the kept lead had none).
    assert [e["type"] for e in lead["recent_events"]] == ["demo_request"]
    assert lead["stage"] == "mql" and lead["owner"] == "anna"
    assert [(h["from"], h["to"], h["at"]) for h in lead["history"]] == [
        ("lead", "mql", other["history"][0]["at"])
    ]
    # Attributes: the kept lead's win, the other's fill the gaps.
    assert lead["attributes"]["job_title"] == "VP Sales"
    assert lead["attributes"]["phone"] == "+49 30 1234567"
    # Qualification: the kept lead's answers win, the other's fill what it never answered.
    q = {c["key"]: c for c in sales.qualification("ann@acme.com")["criteria"]}
    assert (q["budget"]["status"], q["need"]["status"]) == ("not_met", "met")
    with pytest.raises(NotFound):
        engine.show("ann.smith@acme.com")
    # Audited, announced once.
    assert merges_of_lead(engine, keep["id"]) == [(other["id"], "ann.smith@acme.com", "user:admin")]
    merged_hooks = rows(
        engine, "SELECT payload FROM webhook_outbox WHERE event_type = ?", ["lead.merged"]
    )
    assert len(merged_hooks) == 1
    data = orjson.loads(merged_hooks[0][0])["data"]
    assert (data["lead_id"], data["merged_email"]) == (keep["id"], "ann.smith@acme.com")

    # Idempotent: again (by address or id) changes nothing and says so.
    assert merge_leads(engine, "ann@acme.com", "ann.smith@acme.com", "x")["already"] is True
    assert merge_leads(engine, keep["id"], other["id"], "x")["already"] is True
    assert (
        len(rows(engine, "SELECT id FROM webhook_outbox WHERE event_type = ?", ["lead.merged"]))
        == 1
    )

    # The other address is an alias now: its events and imports land on the kept lead.
    clock.advance(60)
    res = engine.ingest([ev("later", "ann.smith@acme.com", "webinar_attended", clock())])
    assert res[0].lead_id == keep["id"]
    engine.upsert_leads([("ann.smith@acme.com", {"country": "FR"}, None)])
    assert engine.show("ann@acme.com")["attributes"]["country"] == "FR"  # updated it
    assert rows(engine, "SELECT COUNT(*) FROM leads", [])[0][0] == 1


def merges_of_lead(engine: Engine, lead_id: int) -> list[tuple[Any, ...]]:
    with engine.db.read() as conn:
        got = merges_of(Repository(engine.db, conn), lead_id)
    return [(m["merged_id"], m["merged_email"], m["by"]) for m in got]


def test_merging_a_lead_into_itself_or_a_missing_one_is_refused(engine: Engine) -> None:
    engine.upsert_leads([("a@acme.com", {}, None)])
    with pytest.raises(InputError, match="itself"):
        merge_leads(engine, "a@acme.com", "A@acme.com", "x")
    with pytest.raises(NotFound):
        merge_leads(engine, "a@acme.com", "nobody@acme.com", "x")
    with pytest.raises(NotFound):
        merge_leads(engine, "nobody@acme.com", "a@acme.com", "x")


PLAYBOOK = """
name: merge
engagement:
  half_life_days: 10
  rules:
    - {event: page_view, points: 12}
    - {event: webinar_attended, points: 20, max_per_lead: 1}
stages:
  mql:
    when: {score: engagement, op: gte, value: 30}
  recycle: {cooldown_days: 4, mql_exit_engagement: 8}
"""


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["page_view", "webinar_attended"]),
            st.floats(min_value=0, max_value=30 * DAY, allow_nan=False),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_merged_history_equals_the_history_of_one_lead_with_all_the_events(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, float, bool]]
) -> None:
    base = tmp_path_factory.mktemp("merge")
    items = sorted((T0 + off, f"e{i}", typ, mine) for i, (typ, off, mine) in enumerate(steps))
    end = items[-1][0] + 15 * DAY
    results = []
    for mode in ("merged", "one"):
        url = f"sqlite:///{base / mode}.db"
        Database(url).migrate()
        clock = FakeClock(T0)
        e = Engine(Database(url), clock=clock)
        e.activate_playbook(PLAYBOOK, "test")
        e.upsert_leads([("keep@acme.com", {}, T0), ("other@acme.com", {}, T0)])
        for t, eid, typ, mine in items:
            clock.now = t
            email = "keep@acme.com" if mode == "one" or mine else "other@acme.com"
            e.ingest([ev(eid, email, typ, t)])
            e.tick()
        clock.now = end
        if mode == "merged":
            merge_leads(e, "keep@acme.com", "other@acme.com", "test")
        e.tick()
        shown = e.show("keep@acme.com")
        results.append(
            (
                [(h["from"], h["to"], h["at"], h["actor"]) for h in shown["history"]],
                shown["stage"],
                shown["engagement"],
            )
        )
        e.db.dispose()
    assert results[0] == results[1]


def test_the_kept_leads_owner_stays_and_one_sla_runs(
    engine: Engine, sales: Sales, raise_hand: Callable[..., dict[str, Any]]
) -> None:
    keep = raise_hand("kim@initech.com", HOT)
    other = raise_hand("kim@gmail.com", HOT)
    assert keep["owner"] != other["owner"]
    out = merge_leads(engine, keep["id"], "kim@gmail.com", "user:admin")
    assert out["kept"]["owner"] == keep["owner"]
    assert engine.show("kim@initech.com")["owner"] == keep["owner"]
    open_jobs = rows(
        engine,
        "SELECT rep FROM sales_jobs WHERE lead_id = ? AND fired_at IS NULL",
        [keep["id"]],
    )
    assert open_jobs == [(keep["owner"],)]
