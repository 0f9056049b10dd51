"""The set-based backtest's rolling windows on columns (`setpairs._greedy`) score what
`EngagementRules.apply` scores: the window (t - days, t] holds fewer than `count` scored
events. Both ways of stepping are checked: every group at once (numpy, one step per
position) and the few long groups one by one; small random histories in
test_setbased.py reach only the second."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.analytics import setevents, setpairs


def _reference(groups: list[list[float]], count: int, days: float) -> list[bool]:
    out = []
    for ts in groups:
        window: list[float] = []
        for t in ts:
            while window and window[0] <= t - days:
                window.pop(0)
            if len(window) < count:
                window.append(t)
                out.append(True)
            else:
                out.append(False)
    return out


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[float]], int, float]:
    groups = []
    for _ in range(draw(st.integers(1, 40))):
        t = 1.7e9
        ts = []
        for _ in range(draw(st.integers(1, 25))):
            t += draw(st.sampled_from([0.0, 1.0, 3600.0, 86399.0, 86400.0, 3 * 86400.0]))
            ts.append(t)
        groups.append(ts)
    return groups, draw(st.integers(1, 3)), draw(st.sampled_from([86400.0, 7 * 86400.0]))


@pytest.mark.parametrize("few", [0, 10**9])
@settings(max_examples=150, deadline=None)
@given(case=histories())
def test_greedy_window_matches_the_engine(
    case: tuple[list[list[float]], int, float], few: int
) -> None:
    groups, count, days = case
    t = np.array([x for g in groups for x in g])
    starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
    got = setpairs._greedy(t, starts, count, days, few)
    assert got.tolist() == _reference(groups, count, days)


def test_seg_starts() -> None:
    assert setevents.seg_starts(np.array([1, 1, 2, 3, 3, 3])).tolist() == [0, 0, 2, 3, 3, 3]
