"""`EngagementRules.total` (ingest's hot path) against the plain arithmetic it shortcuts.

`total` skips rounding rules whose decayed value rounds to zero cents, and the final
rounding of a zero sum; these properties hold it bit for bit (the sign of a zero
included) to the reference below, which rounds every rule, on states whose values sit
around the cent boundaries, tiny, negative, and zero of either sign. The bounds it
leaves on the state (`floor`, `ceiling`) must be the same too.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.playbook.loader import load_playbook
from leadgate.scoring import EngagementRules
from leadgate.scoring.engagement import EngagementState, Tally

DAY = 86400.0
T0 = 1_700_000_000.0

PLAYBOOK = """\
name: t
engagement:
  half_life_days: {hl}
  rules:
    - {{event: a, points: 10}}
    - {{event: b, points: 5}}
    - {{event: c, points: -20}}
    - {{event: d, points: 0.004}}
stages: {{mql: {{hand_raisers: [demo_request]}}}}
"""


def reference(
    r: EngagementRules, state: EngagementState, at: float
) -> tuple[float, tuple[float, ...] | None]:
    """The arithmetic of `total` before the shortcut: every rule rounded to cents."""
    hl = r.half_life
    out = neg = 0.0
    n = 0
    for tally in state.rules.values():
        if tally.count:
            v = tally.value
            if hl is not None and at > tally.anchor:
                v *= 2.0 ** (-(at - tally.anchor) / hl)
            x = round(v, 2)
            out += x
            if x < 0:
                neg += x
            n += 1
    bounds = None
    if state.adjustments:
        for value, anchor, decays in state.adjustments.values():
            if decays and hl is not None and at > anchor:
                value *= 2.0 ** (-(at - anchor) / hl)
            out += round(value, 2)
    elif at >= state.last_at:
        pos = out - neg
        bounds = (at, pos, neg, 0.01 * (n + 1) + 1e-9 * (pos - neg + 1.0))
    return round(out, 2), bounds


def same(a: float, b: float) -> bool:
    """Equal as stored: the same value and the same sign of zero."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


# Values around what a rule can hold: near the cent boundaries (0.005 and its
# neighbours), tiny, zero of either sign, negative, and ordinary points.
edge = st.sampled_from(
    [0.0, -0.0, 0.005, -0.005, 0.0049, -0.0049, 0.00499999, 0.0050000001, 0.015, 1e-300]
)
value = st.one_of(
    edge,
    st.floats(min_value=-0.02, max_value=0.02, allow_nan=False),
    st.floats(min_value=-500, max_value=500, allow_nan=False),
)
tally = st.builds(
    Tally,
    count=st.integers(min_value=0, max_value=3),
    value=value,
    anchor=st.floats(min_value=T0 - 400 * DAY, max_value=T0),
)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(tally, max_size=6),
    st.dictionaries(
        st.sampled_from(["manual: x", "manual: y"]),
        st.tuples(
            value, st.floats(min_value=T0 - 400 * DAY, max_value=T0), st.sampled_from([0.0, 1.0])
        ),
        max_size=2,
    ),
    st.floats(min_value=-10 * DAY, max_value=800 * DAY),
    st.sampled_from(["30", "null", "0.5"]),
)
def test_total_is_the_plain_arithmetic(
    tallies: list[Tally],
    adjustments: dict[str, tuple[float, float, float]],
    later: float,
    hl: str,
) -> None:
    r = EngagementRules(load_playbook(PLAYBOOK.format(hl=hl)).engagement)
    state = EngagementState(
        last_at=T0,
        last_id="e",
        rules=dict(enumerate(tallies)),
        adjustments={k: list(v) for k, v in adjustments.items()},
    )
    at = T0 + later
    want, bounds = reference(r, state, at)
    got = r.total(state, at)
    assert same(got, want)
    if bounds is None:
        assert state.floor is None and state.ceiling is None
    else:
        t, pos, neg, slack = bounds
        assert state.floor is not None and state.ceiling is not None
        assert state.floor[1:] == (t, pos, neg, slack)
        assert state.ceiling[1:] == [t, pos, 0.0, slack]
    # The memo answers the same moment again with the same value.
    assert same(r.total(state, at), want)
