"""The lifecycle as the core runs it: MQL by rule or hand-raiser, decay exit, cooldown, manual moves."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from leadgate.leads import LeadProcessor, LeadState
from leadgate.lifecycle.stages import STAGES, IllegalTransition, allowed_targets
from leadgate.playbook.loader import bundled_playbook, load_playbook
from leadgate.scoring import Event
from leadgate.scoring.engagement import EngagementState

DAY = 86400.0
T0 = 1_700_000_000.0
SENIOR = {"job_title": "VP Sales", "company_size": 200, "country": "DE"}  # fit 45


def proc() -> LeadProcessor:
    pb, _ = bundled_playbook()
    return LeadProcessor(pb, 1)


def lead(attrs: dict[str, object] | None = None) -> LeadState:
    return LeadState("ann@acme.com", dict(attrs if attrs is not None else SENIOR), T0)


def ev(i: int, type_: str, day: float, **props: object) -> Event:
    return Event(f"e{i:03d}", type_, T0 + day * DAY, props)


def test_mql_when_fit_and_engagement_meet_the_rule() -> None:
    p, ld = proc(), lead()
    assert p.apply_events(ld, [ev(1, "webinar_attended", 0)], T0) == []
    # A day later the webinar's 20 points have decayed to 19.54: 29.54 is not enough.
    assert p.apply_events(ld, [ev(2, "whitepaper_download", 1)], T0 + DAY) == []
    [t] = p.apply_events(ld, [ev(3, "newsletter_signup", 2)], T0 + 2 * DAY)
    assert (t.from_stage, t.to_stage, t.actor) == ("lead", "mql", "rule:mql")
    assert t.at == T0 + 2 * DAY
    assert (
        ld.card is not None
        and ld.card.grade == "B2"
        and ld.card.engagement
        == round(round(20 * 2 ** (-2 / 30), 2) + round(10 * 2 ** (-1 / 30), 2) + 5, 2)
    )


def test_poor_fit_never_becomes_mql_by_score() -> None:
    p, ld = proc(), lead({"job_title": "Student"})
    evs = [ev(i, "webinar_attended", i) for i in range(5)]
    assert p.apply_events(ld, evs, T0 + 5 * DAY) == []
    assert ld.stage == "lead"


def test_a_hand_raiser_is_mql_at_once_whatever_the_score() -> None:
    p, ld = proc(), lead({"job_title": "Student"})
    [t] = p.apply_events(ld, [ev(1, "demo_request", 0)], T0)
    assert t.to_stage == "mql" and t.actor == "rule:hand_raiser"


def test_mql_decays_to_nurture_at_the_exact_crossing() -> None:
    p, ld = proc(), lead()
    p.apply_events(ld, [ev(1, "webinar_attended", 0), ev(2, "whitepaper_download", 0)], T0)
    assert ld.stage == "mql"
    # 30 points, half-life 30 days, exit line 10. The check reads each rule in cents: the
    # webinar's and the whitepaper's cents add up below 10 (6.66 + 3.33) a quarter of an
    # hour before their sum is 9.995; the timer is the first second the check holds.
    due = ld.next_due_at
    assert due is not None and abs((due - T0) / DAY - 30 * math.log2(30 / 9.9975)) < 0.001
    total = p.rules.total_at(ld.engagement_state)
    assert total(due) < 10 <= total(due - 1)
    assert p.advance(ld, due - 60) == []
    [t] = p.advance(ld, due + 60)
    assert (t.to_stage, t.actor, t.at) == ("nurture", "rule:mql_exit", due)
    assert ld.stage == "nurture"


def test_nurture_requalifies_only_after_cooldown() -> None:
    p, ld = proc(), lead()
    p.apply_events(ld, [ev(1, "webinar_attended", 0), ev(2, "whitepaper_download", 0)], T0)
    p.set_stage(ld, "nurture", "user:bo", "not now", T0 + DAY)
    # Re-engages inside the cooldown: stays in nurture...
    assert (
        p.apply_events(
            ld, [ev(3, "webinar_attended", 2), ev(4, "webinar_attended", 3)], T0 + 3 * DAY
        )
        == []
    )
    # ...and becomes an MQL again when the cooldown ends, if the rule still holds then.
    due = ld.next_due_at
    assert due == T0 + 31 * DAY
    [t] = p.advance(ld, due + 1)
    assert (t.from_stage, t.to_stage, t.actor) == ("nurture", "mql", "rule:recycle")


def test_hand_raiser_in_nurture_skips_the_cooldown() -> None:
    p, ld = proc(), lead()
    p.apply_events(ld, [ev(1, "demo_request", 0)], T0)
    p.set_stage(ld, "nurture", "user:bo", "not now", T0 + DAY)
    [t] = p.apply_events(ld, [ev(2, "contact_sales", 2)], T0 + 2 * DAY)
    assert t.to_stage == "mql"


def test_illegal_manual_moves_list_the_allowed_targets() -> None:
    p, ld = proc(), lead()
    with pytest.raises(IllegalTransition) as exc:
        p.set_stage(ld, "sql", "user:bo", None, T0)
    assert exc.value.allowed == ["mql", "nurture", "disqualified"]
    with pytest.raises(IllegalTransition, match="needs a reason"):
        p.set_stage(ld, "disqualified", "user:bo", None, T0)
    with pytest.raises(IllegalTransition, match="not in the playbook's list"):
        p.set_stage(ld, "disqualified", "user:bo", "looked odd", T0)
    t = p.set_stage(ld, "disqualified", "user:bo", "spam", T0)
    assert (t.to_stage, t.reason) == ("disqualified", "spam")


def test_skips_need_the_playbook_to_allow_them() -> None:
    _, text = bundled_playbook()
    text += "  allow_skip: [{from: lead, to: sql}]\n"
    p = LeadProcessor(load_playbook(text), 2)
    ld = lead()
    assert p.set_stage(ld, "sql", "user:bo", None, T0).to_stage == "sql"


def test_disqualified_leads_are_not_moved_by_rules() -> None:
    p, ld = proc(), lead()
    p.set_stage(ld, "disqualified", "user:bo", "competitor", T0)
    assert p.apply_events(ld, [ev(1, "demo_request", 1)], T0 + DAY) == []
    assert ld.stage == "disqualified"


def test_late_event_is_placed_by_its_time() -> None:
    p = proc()
    a, b = lead(), lead()
    e1, e2, e3 = (
        ev(1, "whitepaper_download", 0),
        ev(2, "whitepaper_download", 1),
        ev(3, "whitepaper_download", 2),
    )
    extra = ev(4, "whitepaper_download", 3)
    p.apply_events(a, [e1, e2, e3, extra], T0 + 4 * DAY)
    p.apply_events(b, [e2, e3, extra], T0 + 4 * DAY)
    p.apply_events(b, [e1], T0 + 4 * DAY, history=lambda: [e1, e2, e3, extra])
    assert a.card == b.card  # max_per_lead 3 counts the earliest three in both


ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("event"),
            st.sampled_from(
                [
                    "webinar_attended",
                    "whitepaper_download",
                    "unsubscribe",
                    "demo_request",
                    "page_view",
                ]
            ),
        ),
        st.tuples(st.just("stage"), st.sampled_from(STAGES)),
        st.tuples(st.just("wait"), st.sampled_from([0.5, 3.0, 20.0, 45.0])),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(ACTIONS)
def test_random_actions_never_make_an_illegal_history(actions: list[tuple[str, object]]) -> None:
    pb, _ = bundled_playbook()
    p = LeadProcessor(pb, 1)
    ld = lead()
    now = T0
    history = []
    for i, (kind, arg) in enumerate(actions):
        # One second between actions: at one instant an event counts before a person's
        # move, so an event at the instant of a move is a late one (derived again).
        now += 1.0
        if kind == "event":
            history += p.apply_events(
                ld, [Event(f"e{i:03d}", str(arg), now, {"url": "/pricing"})], now
            )
        elif kind == "wait":
            now += float(arg) * DAY  # type: ignore[arg-type]
            history += p.advance(ld, now)
        else:
            before = ld.stage
            try:
                history.append(
                    p.set_stage(
                        ld, str(arg), "user:x", "not now" if arg == "nurture" else "spam", now
                    )
                )
            except IllegalTransition as exc:
                assert arg not in allowed_targets(before, pb) or arg == before or exc.allowed
                assert ld.stage == before
    stage = "lead"
    last_at = 0.0
    for t in history:
        assert t.from_stage == stage, history  # an unbroken chain: nothing lost, nothing skipped
        assert t.at >= last_at
        auto = t.actor.startswith("rule:")
        assert t.to_stage in allowed_targets(t.from_stage, pb) or not auto
        stage, last_at = t.to_stage, t.at
    assert stage == ld.stage


STREAM = st.lists(
    st.tuples(
        st.sampled_from(
            ["webinar_attended", "whitepaper_download", "unsubscribe", "demo_request", "page_view"]
        ),
        st.sampled_from([0.0, 0.0, 0.3, 2.0, 9.0, 31.0]),  # days after the previous event
        st.integers(1, 4),  # events per batch
    ),
    max_size=40,
)


def _batches(stream: list[tuple[str, float, int]]) -> list[list[Event]]:
    """The stream's events (type, days after the previous one, batch size), in batches."""
    day, batch, out = 0.0, [], []
    for i, (type_, gap, size) in enumerate(stream):
        day += gap
        batch.append(Event(f"e{i:03d}", type_, T0 + day * DAY, {"url": "/pricing"}))
        if len(batch) >= size or i == len(stream) - 1:
            out.append(batch)
            batch = []
    return out


def _fast_and_reference() -> tuple[LeadProcessor, LeadProcessor]:
    """The bundled playbook twice: as it runs, and with no memo, floor, ceiling or
    verdict of the MQL rule's fit part kept per fit value."""
    pb, _ = bundled_playbook()
    fast, slow = LeadProcessor(pb, 1), LeadProcessor(pb, 1)
    total = slow.rules.total

    def no_memo(state: EngagementState, at: float) -> float:
        state.memo = None
        out = total(state, at)
        state.memo = None
        return out

    slow.rules.total = no_memo  # type: ignore[method-assign]
    slow._gate_by_fit = None  # the MQL rule's fit part run for every lead
    slow.rules.at_least = lambda state, at, x: False  # type: ignore[method-assign]
    slow.rules.at_most = lambda state, at: math.inf  # type: ignore[method-assign]
    return fast, slow


@settings(max_examples=200, deadline=None)
@given(STREAM, st.sampled_from([{}, SENIOR]))
@example(  # an MQL that an unsubscribe drops below the exit line
    [("webinar_attended", 0.0, 1), ("webinar_attended", 0.3, 1), ("unsubscribe", 31.0, 1)],
    SENIOR,
)
def test_the_exit_shortcut_and_the_memo_change_nothing(
    stream: list[tuple[str, float, int]], attrs: dict[str, object]
) -> None:
    # The same stream through a processor that keeps no memo, floor or ceiling, so it
    # computes every engagement afresh and checks the exit after every event.
    fast, slow = _fast_and_reference()
    a, b = lead(attrs), lead(attrs)
    got_a, got_b = [], []
    for batch in _batches(stream):
        now = batch[-1].at
        got_a += fast.apply_events(a, batch, now)
        got_b += slow.apply_events(b, batch, now)
    assert got_a == got_b
    assert a.card == b.card and a.stage == b.stage and a.next_due_at == b.next_due_at
    if a.card is not None:
        at = a.card.as_of
        a.engagement_state.memo = None
        assert fast.engagement(a, at) == a.card.engagement


@settings(max_examples=150, deadline=None)
@given(STREAM, st.sampled_from([{}, SENIOR]), st.randoms(use_true_random=False))
def test_late_events_and_the_bounds_change_nothing(
    stream: list[tuple[str, float, int]], attrs: dict[str, object], rnd: object
) -> None:
    # Batches arrive in a random order: an older batch is placed by its time (the state
    # is rebuilt from the history, and the rule is checked at a moment before the last
    # event). The bounds left by such checks must not change a single move.
    fast, slow = _fast_and_reference()
    a, b = lead(attrs), lead(attrs)
    batches = _batches(stream)
    rnd.shuffle(batches)  # type: ignore[attr-defined]
    seen: list[Event] = []
    now = T0
    got_a, got_b = [], []
    for batch in batches:
        seen += batch
        now = max(now, max(e.at for e in batch))
        history = list(seen)
        got_a += fast.apply_events(a, batch, now, history=lambda h=history: h)
        got_b += slow.apply_events(b, batch, now, history=lambda h=history: h)
    assert got_a == got_b
    assert a.card == b.card and a.stage == b.stage and a.next_due_at == b.next_due_at


GRADED = """\
name: g
fit:
  rules: [{name: x, if: {field: x, op: exists, value: true}, points: 1}]
  grades: {A: 40, B: 20.5, C: -5}
engagement:
  rules: [{event: w, points: 1}]
  grades: {"1": 50, "2": 25, "3": 0}
stages: {mql: {hand_raisers: [w]}}
"""


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.sampled_from([40.0, 20.5, -5.0, 39.99, 20.49, -5.01]), st.floats(-100, 100)),
    st.one_of(st.sampled_from([50.0, 25.0, 0.0, -0.0, 49.99, -0.01]), st.floats(-100, 100)),
)
def test_rescore_grades_as_the_grade_functions(fit: float, eng: float) -> None:
    from leadgate.scoring.grades import grade_engagement, grade_fit

    pb = load_playbook(GRADED)
    p = LeadProcessor(pb, 1)
    ld = LeadState("a@b.c", {}, T0)
    ld.fit_cache = fit
    p.rules.total = lambda state, at: eng  # type: ignore[method-assign]
    p.rescore(ld, T0)
    assert ld.card is not None
    assert ld.card.fit_grade == grade_fit(fit, pb.fit.grades)
    assert ld.card.engagement_grade == grade_engagement(eng, pb.engagement.grades)
