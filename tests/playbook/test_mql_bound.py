"""The MQL rule's three-valued form (`compile_tri`) may answer False ("this lead can never
be an MQL") only when the rule, as the engine checks it on rounded scores, is false for
every engagement up to the bound. The backtest and the set-based rescore skip the leads
it rules out, so a False too many is an MQL the live engine makes and they miss.

Scores are rounded to cents: engagement = round(e, 2), total = round(fit + engagement, 2).
With fit 0.7 and at most 0.1 of engagement the total is round(0.7 + 0.1, 2) = 0.8, which
meets `total >= 0.8`, although 0.7 + 0.1 < 0.8 in floating point.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.playbook.conditions import compile_condition, compile_tri
from leadgate.playbook.model import ScoreCondition


def _cond(score: str, op: str, value: float) -> ScoreCondition:
    return ScoreCondition.model_validate({"score": score, "op": op, "value": value})


def test_a_total_that_rounds_up_to_the_line_is_not_ruled_out() -> None:
    tri = compile_tri(_cond("total", "gte", 0.8))
    assert round(0.7 + 0.1, 2) >= 0.8  # what the engine checks
    assert tri({}, 0.7, 0.1) is not False


_cents = st.integers(0, 100_000).map(lambda c: c / 100)


@settings(max_examples=500, deadline=None)
@given(
    fit=_cents,
    bound=st.one_of(_cents, st.floats(0, 1000, allow_nan=False)),
    share=st.floats(0, 1),
    need=st.one_of(_cents, st.just(-1.0)),
    score=st.sampled_from(["engagement", "total"]),
    op=st.sampled_from(["gt", "gte"]),
)
def test_false_only_when_no_engagement_up_to_the_bound_meets_the_rule(
    fit: float, bound: float, share: float, need: float, score: str, op: str
) -> None:
    if need < 0:  # the line exactly where the rounded maximum lands
        need = round(fit + round(bound, 2), 2) if score == "total" else round(bound, 2)
    cond = _cond(score, op, need)
    tri = compile_tri(cond)
    check = compile_condition(cond)
    eng = round(min(bound, bound * share), 2)  # an engagement the lead can reach
    for e in (eng, round(bound, 2)):
        scores = {"fit": fit, "engagement": e, "total": round(fit + e, 2)}
        if check({}, scores):
            assert tri({}, fit, bound) is not False, (scores, bound)
