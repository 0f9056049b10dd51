"""A score is exactly the sum of its explanation lines, in cents, fit and engagement alike.

Fractional points such as 10.337 make each line a rounded figure; the user adds up the
lines shown and must get the score shown, and the stage rules must read that same score.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.leads import LeadProcessor, LeadState
from leadgate.playbook.model import Playbook
from leadgate.scoring import Event
from leadgate.scoring.engagement import ADJUSTMENT

T0 = 1_700_000_000.0
DAY = 86400.0
FIELDS = ["title", "size", "country"]
VALUES = ["vp", "5", "DE", "x"]

# Sub-cent points, half-cent near-ties (2.675 is really 2.67499…) and plain ones.
points_st = st.one_of(
    st.sampled_from([10.337, 0.005, 2.675, 1.115, -3.3333, 0.333, 7.125, -0.015]),
    st.integers(-30, 30).filter(bool).map(float),
    st.integers(-3000, 3000).filter(bool).map(lambda n: n / 1000),
)


def cents(x: float) -> int:
    return round(x * 100)


def playbook(fit_points: list[float], eng_points: list[float], half_life: float | None) -> Any:
    fit_rules = [
        {
            "name": f"f{i}",
            "if": {"field": FIELDS[i % 3], "op": "exists", "value": True},
            "points": p,
        }
        for i, p in enumerate(fit_points)
    ]
    eng_rules = [
        {"event": f"e{i % 3}", "points": p, "name": f"r{i}"} for i, p in enumerate(eng_points)
    ]
    return Playbook.model_validate(
        {
            "name": "cents",
            "fit": {"rules": fit_rules},
            "engagement": {"half_life_days": half_life, "rules": eng_rules},
            "stages": {"mql": {"hand_raisers": ["demo"]}},
        }
    )


def score(pb: Playbook, attrs: dict[str, Any], events: list[Event], as_of: float) -> Any:
    proc = LeadProcessor(pb)
    lead = LeadState("p@acme.io", dict(attrs), 0.0, id=1)
    lead.engagement_state = proc.rules.replay(events, as_of)
    card = proc.scorer.card({**attrs, "email": "p@acme.io"}, lead.engagement_state, as_of)
    return proc, lead, card


def test_two_fit_rules_of_10_337_show_10_34_each_and_fit_20_68() -> None:
    pb = playbook([10.337, 10.337], [], None)
    proc, lead, card = score(pb, {"title": "vp", "size": "5"}, [], T0)
    assert [c.points for c in card.explanation] == [10.34, 10.34]
    assert card.fit == 20.68
    assert proc.fit(lead) == 20.68


@settings(max_examples=200, deadline=None)
@given(
    fit_points=st.lists(points_st, max_size=6),
    eng_points=st.lists(points_st, max_size=5),
    half_life=st.sampled_from([None, 1.0, 7.0, 30.0]),
    attrs=st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(VALUES)),
    stream=st.lists(
        st.tuples(
            st.sampled_from(["e0", "e1", "e2", "fit", "engagement", "other"]),
            st.floats(min_value=0, max_value=60, allow_nan=False),
            points_st,
            st.sampled_from(["call", "typo"]),
        ),
        max_size=20,
    ),
    after=st.floats(min_value=0, max_value=90, allow_nan=False),
)
def test_explanation_lines_sum_exactly_to_fit_and_engagement(
    fit_points: list[float],
    eng_points: list[float],
    half_life: float | None,
    attrs: dict[str, Any],
    stream: list[tuple[str, float, float, str]],
    after: float,
) -> None:
    pb = playbook(fit_points, eng_points, half_life)
    events = []
    for i, (kind, days, pts, reason) in enumerate(stream):
        if kind in ("fit", "engagement"):
            props = {"points": pts, "reason": reason, "score": kind}
            events.append(Event(f"a{i:03d}", ADJUSTMENT, T0 + days * DAY, props))
        else:
            events.append(Event(f"v{i:03d}", kind, T0 + days * DAY, {}))
    as_of = T0 + (max((d for _, d, _, _ in stream), default=0) + after) * DAY
    proc, lead, card = score(pb, attrs, events, as_of)
    for c in card.explanation:
        assert c.points == round(c.points, 2), c
    for kind, shown in (("fit", card.fit), ("engagement", card.engagement)):
        lines = [c.points for c in card.explanation if c.score == kind]
        assert sum(cents(p) for p in lines) == cents(shown), (kind, lines, shown)
    # The stage rules read the same figures the card shows.
    assert proc.fit(lead) == card.fit
    assert proc.engagement(lead, as_of) == card.engagement
