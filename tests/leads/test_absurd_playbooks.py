"""Absurd numbers a playbook check lets through, and absurd moments an import accepts,
still give one history, one score card and one timer, whatever order the events
arrive in: live in time order, shuffled (each late one placed by its time), or
derived from scratch.

Half-lives of 1e-9 to 1e12 days, points of 1e-3 to 1e15, windows of 1e-9 days,
cooldowns of 0 to 1e12 days, exit lines of 1e-10; events at epoch 0, in the same
instant, a microsecond or thirty years apart. (A half-life of 1e12 days once hung the
exit timer's search: tests/leads/test_exit_search.py.)
"""

from __future__ import annotations

import math
import random
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgate.leads import LeadProcessor, LeadState
from leadgate.leads.derivation import Era, derive
from leadgate.lifecycle.stages import Transition
from leadgate.playbook.loader import load_playbook
from leadgate.scoring import Event

TYPES = ["a", "b", "neg", "hand"]
DAY = 86400.0


@st.composite
def playbooks(draw: st.DrawFn) -> str:
    rules = []
    for n, typ in enumerate(draw(st.lists(st.sampled_from(TYPES[:3]), min_size=1, max_size=4))):
        points = draw(st.sampled_from([1e15, 1e-3, 0.004, 20, 7.33, 1e6]))
        rule: dict[str, Any] = {
            "name": f"r{n}",
            "event": typ,
            "points": -points if typ == "neg" else points,
        }
        if draw(st.booleans()):
            days = draw(st.sampled_from([1e-9, 1, 1e9]))
            rule["max_per_days"] = {"count": draw(st.integers(1, 3)), "days": days}
        elif draw(st.booleans()):
            rule["max_per_lead"] = draw(st.integers(1, 3))
        rules.append(rule)
    engagement: dict[str, Any] = {"rules": rules}
    half_life = draw(st.sampled_from([None, 1e-9, 1e-3, 1, 30, 1e6, 1e12]))
    if half_life is not None:
        engagement["half_life_days"] = half_life
    mql = draw(st.sampled_from([0.01, 10, 30, 1e14]))
    recycle: dict[str, Any] = {"cooldown_days": draw(st.sampled_from([0, 1e-9, 1, 30, 1e12]))}
    exit_line = draw(st.sampled_from([None, 1e-10, 0.004, 5, 9.99]))
    if exit_line is not None and exit_line <= mql:
        recycle["mql_exit_engagement"] = exit_line
    when = {"score": "engagement", "op": "gte", "value": mql}
    stages = {"mql": {"when": when, "hand_raisers": ["hand"]}, "recycle": recycle}
    return yaml.safe_dump({"name": "absurd", "engagement": engagement, "stages": stages})


GAPS = st.sampled_from([0.0, 0.0, 1e-6, 0.5, 1.0, 3600.0, 30 * DAY, 1e8, 1e9])
STREAM = st.lists(st.tuples(st.sampled_from(TYPES), GAPS), min_size=1, max_size=12)


def _rows(ts: list[Transition]) -> list[tuple[str, str, float, str]]:
    return [(t.from_stage, t.to_stage, t.at, t.actor) for t in ts]


def _seen(lead: LeadState) -> tuple[Any, ...]:
    return (lead.stage, lead.stage_at, lead.next_due_at, lead.card)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pb=playbooks(),
    stream=STREAM,
    start=st.sampled_from([0.0, 1.0, 100_000.5, 1_790_000_000.0]),
    seed=st.integers(0, 10**6),
)
def test_absurd_numbers_give_one_history_in_any_arrival_order(
    pb: str, stream: list[tuple[str, float]], start: float, seed: int
) -> None:
    p = LeadProcessor(load_playbook(pb), 1)
    t = start
    events = []
    for i, (typ, gap) in enumerate(stream):
        t += gap
        events.append(Event(f"e{i:03d}", typ, t, {}))
    now = t + 400 * DAY

    live = LeadState("a@b.c", {}, start)
    got = []
    for e in events:
        got += p.apply_events(live, [e], e.at)
    got += p.advance(live, now)

    derived = LeadState("a@b.c", {}, start)
    assert _rows(got) == _rows(derive(derived, events, [], [Era(-math.inf, p)], now))
    assert _seen(live) == _seen(derived)

    shuffled = LeadState("a@b.c", {}, start)
    order = events[:]
    random.Random(seed).shuffle(order)
    for i, e in enumerate(order):
        seen = order[: i + 1]
        p.apply_events(shuffled, [e], max(x.at for x in seen), history=lambda s=seen: s)
    p.advance(shuffled, now)
    assert _seen(live) == _seen(shuffled)
