"""Engagement scoring: caps, rolling windows, negative points, decay, order, explanation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.playbook.loader import load_playbook
from leadgate.scoring import EngagementRules, Event, Scorer

DAY = 86400.0
T0 = 1_700_000_000.0

PLAYBOOK = """\
name: t
engagement:
  half_life_days: 30
  rules:
    - {event: whitepaper_download, points: 10, max_per_lead: 3}
    - {event: newsletter_signup, points: 5, max_per_lead: 1}
    - {event: webinar_attended, points: 20}
    - {event: page_view, if: {field: url, op: contains, value: /pricing}, points: 5,
       max_per_days: {count: 1, days: 1}}
    - {event: unsubscribe, points: -20}
stages: {mql: {hand_raisers: [demo_request]}}
"""


def rules(text: str = PLAYBOOK) -> EngagementRules:
    return EngagementRules(load_playbook(text).engagement)


def total(r: EngagementRules, events: list[Event], as_of: float) -> float:
    return round(sum(round(v, 2) for _, v in r.contributions(r.replay(events, as_of), as_of)), 2)


def ev(i: int, type_: str, days: float, **props: str) -> Event:
    return Event(f"e{i:04d}", type_, T0 + days * DAY, props)


def test_seed_points_without_decay_at_the_moment() -> None:
    r = rules()
    events = [
        ev(1, "whitepaper_download", 0),
        ev(2, "newsletter_signup", 0),
        ev(3, "webinar_attended", 0),
    ]
    assert total(r, events, T0) == 35


def test_max_per_lead_counts_only_the_first_n() -> None:
    r = rules(PLAYBOOK.replace("half_life_days: 30", "half_life_days: null"))
    events = [ev(i, "whitepaper_download", i) for i in range(5)]
    assert total(r, events, T0 + 10 * DAY) == 30


def test_rolling_window_cap_allows_one_per_day() -> None:
    r = rules(PLAYBOOK.replace("half_life_days: 30", "half_life_days: null"))
    views = [
        ev(i, "page_view", h / 24, url="/pricing") for i, h in enumerate([0, 1, 23, 24, 25, 49])
    ]
    # Scored at 0h, 24h (window (0h, 24h] is empty again) and 49h.
    assert total(r, views, T0 + 3 * DAY) == 15


def test_property_condition_filters_events() -> None:
    r = rules(PLAYBOOK.replace("half_life_days: 30", "half_life_days: null"))
    assert total(r, [ev(1, "page_view", 0, url="/blog")], T0) == 0
    assert total(r, [ev(1, "page_view", 0, url="/PRICING/enterprise")], T0) == 5


def test_decay_halves_points_every_half_life() -> None:
    r = rules()
    events = [ev(1, "webinar_attended", 0)]
    assert total(r, events, T0 + 30 * DAY) == 10
    assert total(r, events, T0 + 60 * DAY) == 5


def test_negative_points_subtract() -> None:
    r = rules()
    events = [ev(1, "webinar_attended", 0), ev(2, "unsubscribe", 0)]
    assert total(r, events, T0) == 0


def test_score_as_of_a_past_moment_ignores_later_events() -> None:
    r = rules()
    events = [ev(1, "webinar_attended", 0), ev(2, "webinar_attended", 40)]
    assert total(r, events, T0 + 30 * DAY) == 10


def test_explanation_sums_exactly_to_the_score() -> None:
    pb = load_playbook(PLAYBOOK)
    scorer = Scorer(pb)
    r = scorer.engagement
    events = [
        ev(i, t, i * 3.7)
        for i, t in enumerate(["webinar_attended", "whitepaper_download", "newsletter_signup"] * 3)
    ]
    card = scorer.card({}, r.replay(events), T0 + 50 * DAY)
    assert round(sum(c.points for c in card.explanation), 2) == card.engagement
    assert all(c.points == round(c.points, 2) for c in card.explanation)


TYPES = [
    "whitepaper_download",
    "newsletter_signup",
    "webinar_attended",
    "page_view",
    "unsubscribe",
    "other",
]
event_lists = st.lists(
    st.tuples(
        st.sampled_from(TYPES),
        st.floats(min_value=0, max_value=120, allow_nan=False),
        st.sampled_from(["/pricing", "/blog"]),
    ),
    max_size=40,
).map(lambda xs: [ev(i, t, d, url=u) for i, (t, d, u) in enumerate(xs)])


@settings(max_examples=150, deadline=None)
@given(event_lists, st.randoms(use_true_random=False))
def test_same_events_in_any_arrival_order_give_the_same_score(events: list[Event], rnd) -> None:  # type: ignore[no-untyped-def]
    r = rules()
    shuffled = list(events)
    rnd.shuffle(shuffled)
    as_of = T0 + 150 * DAY
    assert total(r, events, as_of) == total(r, shuffled, as_of)


@settings(max_examples=150, deadline=None)
@given(event_lists)
def test_incremental_state_equals_a_full_replay(events: list[Event]) -> None:
    r = rules()
    ordered = sorted(events, key=lambda e: (e.at, e.id))
    from leadgate.scoring.engagement import EngagementState

    state = EngagementState()
    for e in ordered:
        assert r.apply(state, e)
    as_of = T0 + 150 * DAY
    inc = dict(r.contributions(state, as_of))
    full = dict(r.contributions(r.replay(events), as_of))
    assert inc.keys() == full.keys()
    for k in inc:
        assert abs(inc[k] - full[k]) < 1e-9


@settings(max_examples=100, deadline=None)
@given(event_lists, st.floats(min_value=0, max_value=200))
def test_capped_rules_never_exceed_their_caps(events: list[Event], days: float) -> None:
    r = rules(PLAYBOOK.replace("half_life_days: 30", "half_life_days: null"))
    state = r.replay(events, T0 + days * DAY)
    counts = {
        rule.label: state.rules[rule.position].count
        for rule in r.rules
        if rule.position in state.rules
    }
    assert counts.get("whitepaper_download", 0) <= 3
    assert counts.get("newsletter_signup", 0) <= 1


def test_an_out_of_order_event_is_refused_by_the_incremental_path() -> None:
    r = rules()
    state = r.replay([ev(2, "webinar_attended", 5)])
    assert not r.apply(state, ev(1, "webinar_attended", 1))


CENTS_PLAYBOOK = """\
name: cents
engagement:
  half_life_days: 1
  rules:
    - {event: whitepaper_download, points: 0.015}
    - {event: newsletter_signup, points: 0.005, max_per_lead: 2}
    - {event: webinar_attended, points: 20.375}
    - {event: page_view, points: 0.125, max_per_days: {count: 1, days: 1}}
    - {event: unsubscribe, points: -0.025}
stages: {mql: {hand_raisers: [demo_request]}}
"""


@settings(max_examples=300, deadline=None)
@given(
    event_lists,
    st.sampled_from([PLAYBOOK, CENTS_PLAYBOOK]),
    st.lists(st.floats(min_value=0, max_value=150), min_size=1, max_size=8),
    st.sampled_from([0.0, 0.0, 0.5, 3.0]),
)
def test_floor_and_ceiling_never_claim_more_than_the_exact_engagement(
    events: list[Event], text: str, checks: list[float], early: float
) -> None:
    # Totals asked at random moments leave floors behind; later events keep or drop them.
    # Whenever `at_least` says "surely >= x", the engagement computed afresh must be >= x:
    # asked for the smallest float above the exact engagement, it must say no. The
    # ceiling must never be below it.
    import math

    from leadgate.scoring.engagement import EngagementState

    r = rules(text)
    state = EngagementState()
    asks = sorted(T0 + d * DAY for d in checks)
    for e in sorted(events, key=lambda e: (e.at, e.id)):
        while asks and asks[0] < e.at:
            r.total(state, asks.pop(0))
        r.apply(state, e)
        if early:
            # Asked for a moment before the last event (a late event's re-check does).
            r.total(state, e.at - early * DAY)
        for later in (e.at, e.at + 0.3 * DAY, e.at + 40 * DAY):
            state.memo = None
            fresh = EngagementState(state.last_at, state.last_id, state.rules, state.adjustments)
            exact = r.total(fresh, later)
            assert not r.at_least(state, later, math.nextafter(exact, math.inf))
            assert r.at_most(state, later) >= exact


def test_the_floor_answers_without_computing_while_far_above() -> None:
    r = rules()
    from leadgate.scoring.engagement import EngagementState

    state = EngagementState()
    for i in range(3):
        r.apply(state, ev(i, "webinar_attended", 0))
    assert r.total(state, T0) == 60
    assert r.at_least(state, T0 + 29 * DAY, 30)  # 60 halves in 30 days
    assert not r.at_least(state, T0 + 31 * DAY, 30)  # not known: below the bound
    r.apply(state, ev(9, "webinar_attended", 1))  # added points keep the floor
    assert r.at_least(state, T0 + 29 * DAY, 30)
    r.apply(state, ev(10, "unsubscribe", 2))  # negative points drop it
    assert not r.at_least(state, T0 + 2 * DAY, 1)


def test_the_ceiling_rises_with_added_points_only() -> None:
    import math

    from leadgate.scoring.engagement import EngagementState

    r = rules()
    state = EngagementState()
    assert r.at_most(state, T0) == math.inf  # no exact total yet: nothing known
    r.apply(state, ev(0, "webinar_attended", 0))
    assert r.total(state, T0) == 20
    assert 10 <= r.at_most(state, T0 + 30 * DAY) < 10.1
    r.apply(state, ev(1, "whitepaper_download", 1))
    # The 20 decayed from the ceiling's moment, plus the 10 added (undecayed) and slack.
    one = 20 * 2 ** (-1 / 30) + 10
    assert one <= r.at_most(state, T0 + DAY) < one + 0.05
    r.apply(state, ev(2, "unsubscribe", 2))  # negative points leave it a valid bound
    two = 20 * 2 ** (-2 / 30) + 10
    assert two <= r.at_most(state, T0 + 2 * DAY) < two + 0.05


@settings(max_examples=150, deadline=None)
@given(event_lists, st.lists(st.floats(min_value=-10, max_value=200), min_size=1, max_size=6))
def test_total_at_is_total_to_the_bit(events: list[Event], days: list[float]) -> None:
    """The exit search's `total_at` (stop 16) gives `total`'s very floats, at any moment,
    before or after the state's anchors, with and without adjustments."""
    for text in (PLAYBOOK, PLAYBOOK.replace("half_life_days: 30", "half_life_days: null")):
        r = rules(text)
        adjust = Event("z", "manual_adjustment", T0, {"points": 3.337, "reason": "x"})
        for evs in (events, [*events, adjust]):
            state = r.replay(evs)
            at = r.total_at(state)
            for d in days:
                t = T0 + d * DAY
                state.memo = None
                assert repr(at(t)) == repr(r.total(state, t))
