"""A lead the new version's rescore has not reached yet (stored under the version before:
the rescore walks the store page by page while other writers go on) is brought to the
active version by the first batch that touches it. When that batch also makes the
engine derive the lead's history again - an event from before the activation, an
attribute change, a person's move recorded late, a new address, a merge - the
derivation already contains the version's catch-up moves, which were then appended a
second time (two `lead → mql` rows, two webhooks).

Each case is checked against a twin that got the same facts in time order and was
taken over by the rescore: the same stage history (from, to, at, actor, reason), raw
rows, scores and webhooks; then the property: random playbooks and events, the twin's
events split around the new version, the late ones on the lead the rescore has not
reached.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FakeClock
from leadgate.engine.engine import Engine
from leadgate.engine.imports import rename_lead
from leadgate.identity.merge import merge_leads
from leadgate.leads.derivation import Move
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.store.schema import EFFECTIVE_TRANSITIONS
from leadgate.webhooks import OutboxWriter
from tests.lifecycle.test_arrival_order import (
    DAY,
    TYPES,
    _assert_told,
    _ev,
    _example_engine,
    _seen,
    _store_for_example,
    _subscribe,
    _told,
    playbooks,
)

V1 = """
name: catch-up
fit:
  rules: [{name: vp, if: {field: job_title, op: contains, value: VP}, points: 10}]
  grades: {A: 50, B: 30, C: 10}
engagement:
  half_life_days: 30
  rules:
    - {event: webinar_attended, points: 20}
    - {event: page_view, points: 1}
  grades: {"1": 60, "2": 30, "3": 10}
stages:
  mql: {when: {score: engagement, op: gte, value: 40}}
"""
# The lower line makes the webinar's lead an MQL when the version takes over.
V2 = V1.replace("value: 40", "value: 15")


@pytest.fixture
def eng(db_url: str) -> Iterator[Engine]:
    db = Database(db_url)
    clock = FakeClock(1_790_000_000.0)
    engine = Engine(db, clock=clock)
    engine.listeners.append(OutboxWriter())
    _subscribe(db, clock.now)
    engine.activate_playbook(V1, "v1.yaml", "test")
    yield engine
    db.dispose()


def _rows(engine: Engine, lead_id: int) -> list[tuple[Any, ...]]:
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        return [
            tuple(r)
            for r in repo.execute(
                f"SELECT from_stage, to_stage, at, actor, reason FROM {EFFECTIVE_TRANSITIONS} "
                "WHERE lead_id = ? ORDER BY at, id",
                [lead_id],
            ).fetchall()
        ]


def _raw(engine: Engine, lead_id: int) -> int:
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        n = repo.execute("SELECT COUNT(*) FROM transitions WHERE lead_id = ?", [lead_id])
        return int(n.fetchone()[0])


@pytest.mark.parametrize("late", ["event", "attributes", "move", "rename", "merge"])
def test_a_lead_the_rescore_has_not_reached_gets_its_catch_up_moves_once(
    eng: Engine, late: str
) -> None:
    clock: FakeClock = eng.clock  # type: ignore[assignment]
    tag = f"{late}-{clock.now:.0f}"
    a, b = f"{tag}-late@x.com", f"{tag}-in-order@x.com"
    t0 = clock.now + DAY
    clock.now = t0
    eng.ingest([_ev(a, 1, "webinar_attended", t0), _ev(b, 1, "webinar_attended", t0)], now=t0)
    eng.upsert_leads([(a, {"job_title": "VP Sales"}, None), (b, {"job_title": "VP Sales"}, None)])
    clock.now = t0 + DAY
    if late == "event":  # the twin's page view in time, under the version before
        eng.ingest([_ev(b, 2, "page_view", clock.now)], now=clock.now)
    elif late == "merge":  # each has another lead for the same person
        eng.ingest(
            [_ev(f"2{a}", 2, "page_view", clock.now), _ev(f"2{b}", 2, "page_view", clock.now)]
        )
    clock.now = t0 + 2 * DAY
    with eng.db.write() as conn:  # stored; its rescore has not reached the leads yet
        Repository(eng.db, conn).add_playbook("catch-up", V2, "test", clock.now)
    clock.now = t0 + 3 * DAY
    move = Move("sal", t0 + 2.5 * DAY, "user:pat", "call booked")
    # `a`'s first batch under the new version makes the engine derive its history again.
    if late == "event":
        eng.ingest([_ev(a, 2, "page_view", t0 + DAY)], now=clock.now)
    elif late == "attributes":
        eng.upsert_leads([(a, {"job_title": "VP Marketing"}, None)])
    elif late == "move":
        eng.record_moves(a, [move])
    elif late == "rename":
        renamed = rename_lead(eng, a, f"re-{a}")
        assert renamed
        a = f"re-{a}"
    else:
        merge_leads(eng, a, f"2{a}", "user:pat")
    eng.rescore_all()  # the activation's rescore: the twin is taken over here
    if late == "attributes":
        eng.upsert_leads([(b, {"job_title": "VP Marketing"}, None)])
    elif late == "move":
        eng.record_moves(b, [move])
    elif late == "rename":
        renamed = rename_lead(eng, b, f"re-{b}")
        assert renamed
        b = f"re-{b}"
    elif late == "merge":
        merge_leads(eng, b, f"2{b}", "user:pat")
    clock.now = t0 + 4 * DAY
    eng.tick(clock.now)
    shown_a, shown_b = eng.show(a), eng.show(b)
    assert [h["to"] for h in shown_b["history"]][:1] == ["mql"]
    assert _seen(shown_a) == _seen(shown_b)
    rows_a, rows_b = _rows(eng, shown_a["id"]), _rows(eng, shown_b["id"])
    if late == "merge":
        # The twin's MQL row, made by the rescore before the other lead's page view was
        # merged in, keeps the words of then (a derivation keeps a row that still holds).
        rows_a, rows_b = [r[:4] for r in rows_a], [r[:4] for r in rows_b]
    assert rows_a == rows_b
    _assert_told(eng.db, shown_a, shown_b)
    # Nothing appended twice: no more raw rows than the twin's.
    assert _raw(eng, shown_a["id"]) <= _raw(eng, shown_b["id"])


GATED = """
name: gated
fit:
  rules: [{name: vp, if: {field: job_title, op: contains, value: VP}, points: 30}]
  grades: {A: 50, B: 30, C: 10}
engagement:
  half_life_days: 1
  rules:
    - {event: webinar_attended, points: 20}
    - {event: page_view, points: 1}
  grades: {"1": 60, "2": 30, "3": 10}
stages:
  mql: {when: {all: [{score: fit, op: gte, value: 30}, {score: engagement, op: gte, value: 20}]}}
  recycle: {cooldown_days: 30, mql_exit_engagement: 12}
"""


def test_rows_voided_by_the_catch_up_and_by_the_change_are_both_taken_back(eng: Engine) -> None:
    """A store whose new version was activated before the lead's last facts (another
    process's clock behind): the catch-up derives the lead again and voids the exit the
    new version no longer makes; the attribute change then voids the MQL. A webhook
    receiver must hear of both corrections (the second once replaced the first)."""
    clock: FakeClock = eng.clock  # type: ignore[assignment]
    eng.activate_playbook(GATED, "gated.yaml", "test")
    a = f"gated-{clock.now:.0f}@x.com"
    t0 = clock.now + DAY
    clock.now = t0
    eng.upsert_leads([(a, {"job_title": "VP Sales"}, t0 - 60)])
    eng.ingest([_ev(a, 1, "webinar_attended", t0)], now=t0)
    clock.now = t0 + 0.8 * DAY
    eng.ingest([_ev(a, 2, "page_view", clock.now)], now=clock.now)
    assert [h["to"] for h in eng.show(a)["history"]] == ["mql", "nurture"]
    no_exit = GATED.replace(", mql_exit_engagement: 12", "")
    with eng.db.write() as conn:
        Repository(eng.db, conn).add_playbook("gated", no_exit, "test", t0 + 0.5 * DAY)
    clock.now = t0 + DAY
    eng.upsert_leads([(a, {"job_title": "Intern"}, None)])
    shown = eng.show(a)
    assert shown["stage"] == "lead" and shown["history"] == []
    assert _told(eng.db, shown["id"]) == Counter()


def _mql_line_moved(text: str) -> st.SearchStrategy[str]:
    """The same playbook with another MQL line: the new version moves leads where it
    takes over (the catch-up moves), most often."""
    doc = yaml.safe_load(text)

    def moved(value: int) -> str:
        doc["stages"]["mql"]["when"]["value"] = value
        return yaml.safe_dump(doc)

    return st.sampled_from([5, 10, 15, 60]).map(moved)


# Events as (minutes after the previous one, type); the new version comes between two.
EVENTS = st.lists(
    st.tuples(st.sampled_from([0, 1, 90, 1440, 4320, 14400]), st.sampled_from(TYPES)),
    min_size=2,
    max_size=10,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(old=playbooks(), events=EVENTS, data=st.data())
def test_a_version_and_late_events_give_the_in_order_history(
    db_url: str, old: str, events: list[tuple[int, str]], data: st.DataObject
) -> None:
    """Lead `a` gets its events live in time order and is taken over by the rescore at
    the new version's activation; its twin `b` got only some of the events before the
    new version, and the rest (late) in its first batch under it, before the rescore
    reached it; the later ones shuffled over random deliveries."""
    new = data.draw(st.one_of(playbooks(), _mql_line_moved(old)), label="new")
    clock = FakeClock(1_790_000_000.0)
    db = Database(_store_for_example(db_url))
    try:
        eng = _example_engine(db, clock, old, "old.yaml")
        tag = f"v{clock.now:.0f}"
        a, b = f"{tag}-a@x.com", f"{tag}-b@x.com"
        t, timeline = clock.now, []
        for i, (gap, typ) in enumerate(events):
            t += gap * 60 + 1 + i * 0.001
            timeline.append((i, typ, t))
        split = data.draw(st.integers(1, len(timeline) - 1))
        before, after = timeline[:split], timeline[split:]
        since = (before[-1][2] + after[0][2]) / 2
        # The twin exists before the new version (so it is left under the old one).
        early = [before[0]] + [e for e in before[1:] if data.draw(st.booleans())]
        for i, typ, at in before:
            clock.now = at
            eng.ingest([_ev(a, i, typ, at, url="/pricing")], now=at)
            if (i, typ, at) in early:
                eng.ingest([_ev(b, i, typ, at, url="/pricing")], now=at)
        clock.now = since
        with db.write() as conn:  # stored; its rescore has not reached the leads yet
            Repository(db, conn).add_playbook("new", new, "test", since)
        held = [e for e in before if e not in early]
        if held:  # late, on a lead still under the version before
            eng.ingest([_ev(b, i, typ, at, url="/pricing") for i, typ, at in held], now=since)
        eng.rescore_all()
        for i, typ, at in after:
            clock.now = at
            eng.ingest([_ev(a, i, typ, at, url="/pricing")], now=at)
        order = data.draw(st.permutations(after))
        cuts = sorted({0, len(order), *data.draw(st.lists(st.integers(0, len(order)), max_size=3))})
        for lo, hi in zip(cuts, cuts[1:], strict=False):
            group = order[lo:hi]
            clock.now = max(at for _, _, at in group)
            eng.ingest([_ev(b, i, typ, at, url="/pricing") for i, typ, at in group], now=clock.now)
        clock.now = timeline[-1][2] + 40 * DAY
        eng.tick(clock.now)
        shown_a, shown_b = eng.show(a), eng.show(b)
        assert _seen(shown_b) == _seen(shown_a)
        _assert_told(db, shown_a, shown_b)
    finally:
        db.dispose()
