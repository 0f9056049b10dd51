"""The decay exit's timer (`LeadProcessor.next_due` of an armed MQL) against the plain
search it had before stop 16: the probe from where each rule's cents step down must
give the very same second, of the very same type, on any state."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.leads import LeadProcessor, LeadState
from leadgate.leads.exit_timer import _cents_gone, cents_below
from leadgate.playbook.loader import bundled_playbook
from leadgate.scoring.engagement import EngagementState, Tally

T0 = 1_700_000_000.0
DAY = 86400.0


def _old_exit_due(proc: LeadProcessor, lead: LeadState, line: float) -> float | None:
    """The search as it was (bisection between the crossings of the line +- the slack),
    with its guess checked to be the first second and its bounds from the cents the check
    compares (see `test_the_exit_timer_is_the_first_second_the_check_holds`)."""
    st_ = lead.engagement_state
    rules = proc.rules
    ref = max(st_.last_at, lead.stage_at)
    start = math.floor(ref) + 1.0
    at = rules.total_at(st_)

    def below(t: float) -> bool:
        return at(t) < line

    edge = (cents_below(line) + 0.5) / 100
    guess = rules.crossing_time(st_, ref, edge)
    if guess is not None:
        t = max(start, math.ceil(guess))
        terms = sum(1 for tally in st_.rules.values() if tally.count) + len(st_.adjustments)
        if (terms == 1 and t - guess > 1e-3) or (below(t) and (t == start or not below(t - 1))):
            return t
    slack = 0.005 * (len(st_.rules) + len(st_.adjustments))
    hi_cross = rules.crossing_time(st_, ref, edge - slack)
    if hi_cross is None:
        hi_cross = _cents_gone(st_, rules.half_life)
        if hi_cross is None:
            return None
    hi = max(start, math.ceil(hi_cross))
    if not below(hi):
        return None
    lo_cross = rules.crossing_time(st_, ref, edge + slack + 0.01)
    lo = start if lo_cross is None else max(start, math.floor(lo_cross))
    if below(lo):
        return lo
    while hi - lo > 1.0:
        mid = math.floor((lo + hi) / 2)
        if below(mid):
            hi = mid
        else:
            lo = mid
    return hi


values = st.floats(min_value=0.004, max_value=300, allow_nan=False)


@settings(max_examples=600, deadline=None)
@given(
    tallies=st.lists(
        st.tuples(values, st.floats(min_value=0, max_value=60)), min_size=1, max_size=6
    ),
    negative=st.one_of(st.none(), st.floats(min_value=-40, max_value=-0.01)),
    adjustment=st.one_of(
        st.none(),
        st.tuples(st.floats(min_value=-20, max_value=20), st.sampled_from([0.0, 1.0])),
    ),
    line=st.sampled_from([10.0, 10.005, 0.5, 35.0, 12.34]),
    stage_day=st.floats(min_value=0, max_value=70),
)
def test_the_exit_timer_is_the_plain_searchs_to_the_bit(  # type: ignore[no-untyped-def]
    tallies, negative, adjustment, line, stage_day
) -> None:
    _check(tallies, negative, adjustment, line, stage_day)


@settings(max_examples=300, deadline=None)
@given(
    tallies=st.lists(
        st.tuples(st.floats(min_value=1, max_value=40), st.floats(min_value=0, max_value=3)),
        min_size=2,
        max_size=6,
    ),
    off=st.integers(min_value=-3, max_value=3),
    stage_day=st.floats(min_value=0, max_value=3),
)
def test_a_wrong_guess_never_changes_the_timer(tallies, off, stage_day) -> None:  # type: ignore[no-untyped-def]
    """The guess is only a guess: off by a few seconds either way, the answer stays."""
    import leadgate.leads.exit_timer as timer

    real = timer.first_step_below

    def guess(*args):  # type: ignore[no-untyped-def]
        e = real(*args)
        return None if e is None else e + off

    timer.first_step_below = guess
    try:
        _check(tallies, None, None, 10.0, stage_day)
    finally:
        timer.first_step_below = real


def _mql(tallies, negative, adjustment, stage_day):  # type: ignore[no-untyped-def]
    """The bundled playbook's processor and an MQL whose rules hold `tallies`
    ((value, day of the last scored event)), plus a negative rule and an adjustment."""
    pb, _ = bundled_playbook()
    proc = LeadProcessor(pb, 1)
    state = EngagementState()
    anchors = [T0 + d * DAY for _, d in tallies]
    for i, (v, _) in enumerate(tallies):
        state.rules[i] = Tally(1, v, anchors[i])
    if negative is not None:
        state.rules[len(tallies)] = Tally(1, negative, max(anchors))
    if adjustment is not None:
        state.adjustments["manual: x"] = [adjustment[0], max(anchors), adjustment[1]]
    state.last_at = max(anchors)
    lead = LeadState("a@b.c", {}, T0, stage="mql", stage_at=T0 + stage_day * DAY)
    lead.engagement_state = state
    return proc, lead


def _check(tallies, negative, adjustment, line, stage_day) -> None:  # type: ignore[no-untyped-def]
    proc, lead = _mql(tallies, negative, adjustment, stage_day)
    new = proc._exit_due(lead, line)
    old = _old_exit_due(proc, lead, line)
    assert repr(new) == repr(old)


@settings(max_examples=400, deadline=None)
@given(
    tallies=st.lists(
        st.tuples(st.floats(min_value=0.01, max_value=300), st.floats(min_value=0, max_value=3)),
        min_size=1,
        max_size=6,
    ),
    line=st.sampled_from([10.0, 10.005, 0.5, 35.0, 12.34, 0.01, 0.005, 0.004, 1e-10]),
    stage_day=st.floats(min_value=0, max_value=3),
)
def test_the_exit_timer_is_the_first_second_the_check_holds(  # type: ignore[no-untyped-def]
    tallies, line, stage_day
) -> None:
    """What `next_due` promises, on states whose total only falls (no negative term): the
    first whole second after the last event and stage change at which the check
    (`engagement < line`, each rule in cents) holds. The timer once solved for the sum
    reaching the line less half a cent: with several rules, whose cents together can be
    below the line before that, it fired up to an hour and a half late (2 rules of the
    bundled playbook, line 10); with a line of a cent or less, never (it solved for a sum
    below zero), so such an MQL left only when some later event happened to arrive."""
    proc, lead = _mql(tallies, None, None, stage_day)
    state = lead.engagement_state
    due = proc._exit_due(lead, line)
    total = proc.rules.total_at(state)
    start = math.floor(max(state.last_at, lead.stage_at)) + 1.0
    assert due is not None
    assert total(due) < line
    assert due == start or not total(due - 1) < line


def test_a_half_life_of_a_hundred_billion_days_sets_a_timer_instead_of_hanging() -> None:
    """`half_life_days: 1.0e11` passes the check (numbers up to 1e15). The exit falls
    past 2**53 seconds, where floats are more than a second apart: the bisection's
    midpoint stayed on its bounds and the search never ended, nor did the first event
    of any MQL (a child process, so that the old behaviour fails instead of hanging)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        from leadgate.leads import LeadProcessor, LeadState
        from leadgate.playbook.loader import load_playbook
        from leadgate.scoring import Event
        for half_life in (1e11, 1e12, 1e15):
            pb = load_playbook(f'''
        name: t
        engagement:
          half_life_days: {half_life}
          rules: [{{event: a, points: 20}}, {{event: b, points: 7.33}}]
        stages:
          mql: {{when: {{score: engagement, op: gte, value: 10}}}}
          recycle: {{mql_exit_engagement: 5}}
        ''')
            p = LeadProcessor(pb, 1)
            lead = LeadState("a@b.c", {}, 1.7e9)
            p.apply_events(lead, [Event("1", "a", 1.7e9, {}), Event("2", "b", 1.7e9 + 1, {})], 1.7e9 + 1)
            due = lead.next_due_at
            total = p.rules.total_at(lead.engagement_state)
            print(lead.stage, due is not None and total(due) < 5)
        """
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the exit timer's search did not end in 2 minutes") from None
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["mql", "True"] * 3
