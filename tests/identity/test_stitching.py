"""Stitching: a visitor's anonymous events join the lead on its first identified event
with that `visitor_id`, scored at their own times, exactly once - and the history is
the one the same events would have made had they arrived identified, in time order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FakeClock
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import EventIn
from leadgate.store.database import Database
from leadgate.store.repository import dumps

DAY = 86400.0
T0 = 1_780_000_000.0
PLAYBOOK = """
name: stitch
engagement:
  half_life_days: 10
  rules:
    - {event: page_view, points: 15}
    - {event: click, points: 4, max_per_lead: 2}
    - {event: form_submitted, points: 10}
stages:
  mql:
    when: {score: engagement, op: gte, value: 30}
  recycle: {cooldown_days: 5, mql_exit_engagement: 10}
browser_events: [page_view, click]
"""


def make_engine(url: str, clock: FakeClock) -> Engine:
    eng = Engine(Database(url), clock=clock)
    eng.activate_playbook(PLAYBOOK, "test")
    return eng


@pytest.fixture
def eng(db_url: str) -> Iterator[Engine]:
    clock = FakeClock(T0)
    e = make_engine(db_url, clock)
    yield e
    e.db.dispose()


def ev(eid: str, email: str, typ: str, at: float, **props: Any) -> EventIn:
    return EventIn(eid, email, typ, at, props, dumps(props))


def history(engine: Engine, email: str) -> list[tuple[str, str, str, str]]:
    return [(h["from"], h["to"], h["at"], h["actor"]) for h in engine.show(email)["history"]]


def at(engine: Engine, t: float) -> None:
    engine.clock.now = t  # type: ignore[attr-defined]


def test_anonymous_events_are_stitched_at_their_own_times_once(eng: Engine) -> None:
    for i, day in enumerate((0, 1, 2)):
        at(eng, T0 + day * DAY)
        assert eng.track([(f"pv{i}", "v1", "page_view", T0 + day * DAY, {"url": "/p"})]) == 1
    at(eng, T0 + 3 * DAY)
    form = ev("f1", "ann@acme.com", "form_submitted", T0 + 3 * DAY, visitor_id="v1")
    eng.ingest([form])
    lead = eng.show("ann@acme.com")
    times = sorted(e["occurred_at"] for e in lead["recent_events"])
    assert len(times) == 4
    # The third page view made the MQL, on day 2: scored at its time, not on day 3.
    assert history(eng, "ann@acme.com")[0][:3] == ("lead", "mql", "2026-05-30T20:26:40Z")
    # A second identified event from the same visitor adds nothing old again.
    at(eng, T0 + 4 * DAY)
    eng.ingest([ev("f2", "ann@acme.com", "form_submitted", T0 + 4 * DAY, visitor_id="v1")])
    assert len(eng.show("ann@acme.com")["recent_events"]) == 5
    # The visitor is known now: its next page view goes to the lead directly.
    at(eng, T0 + 5 * DAY)
    eng.track([("pv9", "v1", "page_view", T0 + 5 * DAY, {})])
    assert len(eng.show("ann@acme.com")["recent_events"]) == 6


def test_a_repeated_browser_event_id_is_kept_once(eng: Engine) -> None:
    assert eng.track([("pv0", "v2", "page_view", T0, {})]) == 1
    assert eng.track([("pv0", "v2", "page_view", T0, {})]) == 0


def test_another_visitors_events_stay_anonymous(eng: Engine) -> None:
    eng.track([("a", "v1", "page_view", T0, {}), ("b", "v2", "page_view", T0, {})])
    at(eng, T0 + DAY)
    eng.ingest([ev("f", "ann@acme.com", "form_submitted", T0 + DAY, visitor_id="v1")])
    assert len(eng.show("ann@acme.com")["recent_events"]) == 2
    eng.ingest([ev("g", "bob@acme.com", "form_submitted", T0 + DAY, visitor_id="v2")])
    assert [e["id"] for e in eng.show("bob@acme.com")["recent_events"]] == ["g", "b"]


_steps = st.lists(
    st.tuples(
        st.sampled_from(["page_view", "click"]),
        st.floats(min_value=0, max_value=40 * DAY, allow_nan=False),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(anonymous=_steps, form_after=st.floats(min_value=0, max_value=10 * DAY))
def test_stitched_history_equals_the_in_order_history(
    tmp_path_factory: pytest.TempPathFactory, anonymous: list[tuple[str, float]], form_after: float
) -> None:
    """Property: stitching late gives the history of the same events identified in time."""
    base = tmp_path_factory.mktemp("prop")
    items = sorted((T0 + off, f"e{i}", typ) for i, (typ, off) in enumerate(anonymous))
    form_at = items[-1][0] + form_after
    end = form_at + 20 * DAY
    results = []
    for mode in ("stitched", "in_order"):
        url = f"sqlite:///{base / mode}.db"
        Database(url).migrate()
        clock = FakeClock(T0)
        e = make_engine(url, clock)
        for t, eid, typ in items:
            clock.now = t
            if mode == "stitched":
                e.track([(eid, "v1", typ, t, {})])
            else:
                e.ingest([ev(eid, "ann@acme.com", typ, t, visitor_id="v1")])
        clock.now = form_at
        e.ingest([ev("form", "ann@acme.com", "form_submitted", form_at, visitor_id="v1")])
        clock.now = end
        e.tick()
        shown = e.show("ann@acme.com")
        results.append((history(e, "ann@acme.com"), shown["stage"], shown["engagement"]))
        e.db.dispose()
    assert results[0] == results[1]
