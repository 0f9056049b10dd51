"""The set-based walk stops once no MQL can follow (`setwalk.walk`'s `settled`), and that
changes no MQL moment: for random playbooks (decay or none, negative points, exit lines,
cooldowns of none to 30 days, hand-raisers, MQL rules on engagement, fit, total, `not`
and `any`) and random histories (long quiet spells, late hand-raisers, people's moves),
every walk that stops early finds exactly the moments the walk to the end finds, and
raises NeedsExact exactly when it does; the whole backtest still equals the exact one.

The upper bounds the stop rests on (`setmoments._bounds`) are checked against the core's
own `EngagementRules.total` on the states the walk loads.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tests.analytics.test_setbased import _write, mql_when

from leadgate.analytics import setbased, setwalk
from leadgate.analytics.backtest import run_backtest
from leadgate.analytics.setbased import run_setbased
from leadgate.scoring.engagement import EngagementState

T0 = 1_700_000_000.0
DAY = 86400.0
TYPES = ["view", "click", "download", "demo", "unsub"]


def _playbook(draw: st.DrawFn) -> str:
    rules: list[dict[str, Any]] = [
        {"event": "download", "points": draw(st.sampled_from([10.0, 12.345, 20.0]))},
        {"event": "unsub", "points": draw(st.sampled_from([-20.0, -4.0, 3.0]))},
    ]
    if draw(st.booleans()):
        rules.append({"event": "view", "points": 5.0, "max_per_days": {"count": 1, "days": 1}})
    if draw(st.booleans()):
        rules.append({"event": "click", "points": 2.5, "max_per_lead": 3})
    need = draw(st.sampled_from([10, 15, 25]))
    when = draw(mql_when(need))
    pb = {
        "name": "random",
        "fit": {
            "rules": [
                {"name": "big", "if": {"field": "size", "op": "gt", "value": 100}, "points": 10}
            ]
        },
        "engagement": {
            "half_life_days": draw(st.sampled_from([None, 1, 7, 30])),
            "rules": rules,
        },
        "stages": {
            "mql": {"when": when, "hand_raisers": draw(st.sampled_from([[], ["demo"]]))},
            "recycle": {
                "cooldown_days": draw(st.sampled_from([0, 1, 5, 30])),
                "mql_exit_engagement": draw(st.sampled_from([None, 3, need / 2, need - 1])),
            },
        },
    }
    return json.dumps(pb)  # JSON is YAML


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, str, list[Any], list[Any], list[Any]]:
    leads, events, moves = [], [], []
    for lid in range(1, draw(st.integers(1, 8)) + 1):
        attrs = {"size": draw(st.sampled_from([5, 500])), "vip": draw(st.booleans())}
        leads.append(
            (lid, f"p{lid}@acme.io", json.dumps(attrs), T0 - DAY, None, None, None, None, None)
        )
        t = T0
        for k in range(draw(st.integers(0, 25))):
            # Bursts and long quiet spells: MQLs that decay out, then a late event.
            t += draw(st.sampled_from([0, 1, 3600, 86400, 9 * 86400, 29 * 86400, 61 * 86400]))
            typ = draw(st.sampled_from([*TYPES, "download", "demo"]))
            eid = draw(st.sampled_from(["a", "b"])) + f"{lid}.{k}"
            events.append((eid, lid, typ, t, "{}"))
        if draw(st.integers(0, 3)) == 0:
            mt = T0 + draw(st.integers(0, 300)) * DAY / 2
            for to in draw(st.sampled_from([["mql"], ["nurture"], ["sal"], ["disqualified"]])):
                moves.append((lid, "x", to, mt, "rep@x.io"))
    return _playbook(draw), _playbook(draw), leads, events, moves


class _Both:
    """`setbased.walk` replaced: every walk made twice, stopping early and to the end,
    on copies of the lead; counts the walks where the early stop saved lifecycle calls."""

    def __init__(self) -> None:
        self.walks = self.stopped = 0

    def _run(self, *a: Any, stop_early: bool) -> tuple[Any, int]:
        proc, lead = a[0], copy.deepcopy(a[1])
        calls = 0
        real_advance, real_apply = proc.advance, proc.apply_events

        def advance(*x: Any, **kw: Any) -> Any:
            nonlocal calls
            calls += 1
            return real_advance(*x, **kw)

        def apply_events(*x: Any, **kw: Any) -> Any:
            nonlocal calls
            calls += 1
            return real_apply(*x, **kw)

        proc.advance, proc.apply_events = advance, apply_events
        try:
            return setwalk.walk(proc, lead, *a[2:], stop_early=stop_early), calls
        except setwalk.NeedsExact:
            return "exact", calls
        finally:
            del proc.advance, proc.apply_events

    def __call__(self, *a: Any) -> list[float]:
        short, n_short = self._run(*a, stop_early=True)
        full, n_full = self._run(*a, stop_early=False)
        assert short == full, (a[1].id, short, full)
        self.walks += 1
        self.stopped += n_short < n_full
        if full == "exact":
            raise setwalk.NeedsExact
        return full  # type: ignore[return-value]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example runs DuckDB
)
@given(case=cases())
def test_stopping_early_finds_the_same_mqls(
    case: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    old, new, leads, events, moves = case
    paths = _write(tmp_path_factory.mktemp("stop"), leads, events, moves)
    end = T0 + 500 * DAY
    both = _Both()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(setbased, "walk", both)
        fast = run_setbased(paths, old, new, None, end, verify=0)
    exact = run_backtest(paths, old, new, None, end, workers=1)
    assert (fast.months, fast.totals, fast.changed) == (exact.months, exact.totals, exact.changed)


def _recycling(tmp: Path) -> tuple[tuple[Path, Path, Path], str]:
    """Leads that become MQLs, decay out, and some come back: by a late hand-raiser, by
    downloads after the cooldown, or not at all."""
    leads = [
        (i, f"p{i}@acme.io", '{"size": 500}', T0, None, None, None, None, None)
        for i in range(1, 31)
    ]
    events = []
    for i in range(1, 31):
        for k in range(3):
            events.append((f"e{i}.{k}", i, "download", T0 + k * DAY, "{}"))
        if i % 3 == 0:
            events.append((f"h{i}", i, "demo", T0 + (40 + i) * DAY, "{}"))
        if i % 3 == 1:
            for k in range(3):
                events.append((f"l{i}.{k}", i, "download", T0 + (60 + i + k) * DAY, "{}"))
    pb = {
        "name": "t",
        "engagement": {
            "half_life_days": 7,
            "rules": [
                {"event": "download", "points": 10},
                {"event": "unsub", "points": -20},
            ],
        },
        "stages": {
            "mql": {
                "when": {"score": "engagement", "op": "gte", "value": 25},
                "hand_raisers": ["demo"],
            },
            "recycle": {"cooldown_days": 10, "mql_exit_engagement": 10},
        },
    }
    return _write(tmp, leads, events, []), json.dumps(pb)


def test_the_stop_is_taken_and_recycled_mqls_are_kept(tmp_path: Path) -> None:
    paths, pb = _recycling(tmp_path)
    both = _Both()
    end = T0 + 200 * DAY
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(setbased, "walk", both)
        fast = run_setbased(paths, pb, pb, None, end, verify=0)
    exact = run_backtest(paths, pb, pb, None, end, workers=1)
    assert (fast.months, fast.totals) == (exact.months, exact.totals)
    # Two MQLs for the leads that come back (hand-raiser, downloads), one for the rest.
    assert exact.totals["mqls_old"] == 30 + 20
    assert both.walks == both.stopped == 60  # each stops after its last MQL


@settings(max_examples=200, deadline=None)
@given(
    points=st.lists(
        st.sampled_from([10.0, 12.345, -20.0, -4.0, 2.5, 0.35, 1e6]), min_size=1, max_size=4
    ),
    steps=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([0.0, 1.0, 3600.0, 86400.0, 9 * 86400.0])),
        min_size=1,
        max_size=12,
    ),
    hl_days=st.sampled_from([None, 1.0, 7.0, 30.0]),
    later=st.sampled_from([0.0, 1.0, 86400.0, 30 * 86400.0, 1e7]),
    cut=st.sampled_from([1.0, 0.5, 2.0**-1, 0.25]),
)
def test_the_bounds_hold_for_the_cores_total(
    points: list[float],
    steps: list[tuple[int, float]],
    hl_days: float | None,
    later: float,
    cut: float,
) -> None:
    """`_bounds`' `hi` bounds what `EngagementRules.total` gives from the walk's state of
    a row (`_tallies`) at any later moment, and `bound_at` with k bounds it from the
    moment the positive values have decayed to k x theirs."""
    from leadgate.analytics import setmoments
    from leadgate.analytics.moments import _NEAR
    from leadgate.playbook.loader import load_playbook

    nr = len(points)
    rules = [{"event": f"t{i}", "points": p} for i, p in enumerate(points)]
    pb = load_playbook(
        json.dumps(
            {
                "name": "b",
                "engagement": {"half_life_days": hl_days, "rules": rules},
                "stages": {"mql": {"when": {"score": "engagement", "op": "gte", "value": 1}}},
            }
        ),
        "b",
    )
    hl = hl_days * DAY if hl_days else None
    # One lead: rows in time order, each scoring one rule (weights 2^((t - t0)/h)).
    t = np.cumsum([T0] + [dt for _, dt in steps[1:]]) if len(steps) > 1 else np.array([T0])
    n = len(steps)
    w = np.zeros((n, nr))
    k = np.zeros((n, nr), dtype=np.int32)
    for g, (r, _) in enumerate(steps):
        r %= nr
        w[g, r] = 1.0 if hl is None else 2.0 ** ((t[g] - t[0]) / hl)
        k[g, r] = 1
    c = np.cumsum(w, axis=0)
    counts = np.cumsum(k, axis=0).astype(np.int32)
    pts = np.array(points)
    decay = np.ones(n) if hl is None else np.power(2.0, -(t - t[0]) / hl)
    e = np.cumsum(w @ pts) * decay
    bad = ~np.isfinite(e)
    slack = 0.005 * (nr + 1) + _NEAR
    hi, clean = setmoments._bounds(c, pts, e, decay, bad, slack)
    rules_ = setwalk.SnapshotRules(pb.engagement)

    class _M:  # what `_tallies` and `bound_at` read of `Moments`
        pass

    m: Any = _M()
    m.counts, m.c, m.t, m.hl, m.hi, m.slack = counts, c, t, hl, hi, slack
    lv = setmoments.LeadRows(m, 0, n, [], -1, bool(clean.all()))
    assert lv.bound_at(-1, 1.0) == slack  # before the first row: the empty state
    for g in range(n):
        assert clean[g]
        state = EngagementState(last_at=float(t[g]))
        state.rules = setwalk._tallies(lv, g, rules_)  # type: ignore[arg-type]
        at = float(t[g]) + later
        assert rules_.total(state, at) <= hi[g] <= lv.bound_at(g, 1.0)
        # Read once the positive values have decayed to `cut` x theirs or lower.
        if hl is not None:
            at = float(t[g]) + max(later, -math.log2(cut) * hl)
            assert rules_.total(state, at) <= lv.bound_at(g, cut)


def test_a_refused_move_keeps_the_moves_time_made_before_it(tmp_path: Path) -> None:
    # A VIP (always an MQL by rule) decays out and is recycled by the cooldown's end,
    # then a person's move to MQL is refused (already one): the recycling stays, as in
    # the exact replay (the walk used to drop what `advance` returned before the move).
    leads = [(1, "p1@acme.io", '{"vip": true}', T0 - DAY, None, None, None, None, None)]
    events = [("a1", 1, "download", T0 + DAY, "{}")]
    moves = [(1, "x", "mql", T0 + 121 * DAY, "rep@x.io")]
    paths = _write(tmp_path, leads, events, moves)
    pb = json.dumps(
        {
            "name": "t",
            "engagement": {"half_life_days": 1, "rules": [{"event": "download", "points": 20}]},
            "stages": {
                "mql": {
                    "when": {
                        "any": [
                            {"field": "vip", "op": "eq", "value": True},
                            {"score": "engagement", "op": "gte", "value": 15},
                        ]
                    }
                },
                "recycle": {"cooldown_days": 30, "mql_exit_engagement": 3},
            },
        }
    )
    end = T0 + 500 * DAY
    exact = run_backtest(paths, pb, pb, None, end, workers=1)
    fast = run_setbased(paths, pb, pb, None, end, verify=1)
    assert exact.totals["mqls_old"] == 2
    assert fast.totals == exact.totals and fast.meta["disagreements"] == 0


def test_a_walk_that_would_need_the_exact_replay_is_not_stopped(tmp_path: Path) -> None:
    # An MQL with no exit line is settled at once, but a later event 1,100 half-lives on
    # has weights beyond a double: the full walk raises NeedsExact there, so the early
    # stop must not hide it (the lead is replayed exactly, and counted so).
    leads = [(1, "p1@acme.io", "{}", T0 - DAY, None, None, None, None, None)]
    events = [
        ("a", 1, "download", T0, "{}"),
        ("b", 1, "download", T0 + DAY, "{}"),
        ("c", 1, "download", T0 + 1100 * DAY, "{}"),
    ]
    paths = _write(tmp_path, leads, events, [])
    pb = json.dumps(
        {
            "name": "t",
            "engagement": {"half_life_days": 1, "rules": [{"event": "download", "points": 10}]},
            "stages": {"mql": {"when": {"score": "engagement", "op": "gte", "value": 15}}},
        }
    )
    end = T0 + 1200 * DAY
    both = _Both()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(setbased, "walk", both)
        fast = run_setbased(paths, pb, pb, None, end, verify=0)
    exact = run_backtest(paths, pb, pb, None, end, workers=1)
    assert fast.meta["replayed_exactly"] == 1
    assert fast.totals == exact.totals and exact.totals["mqls_old"] == 1


@pytest.mark.parametrize("enabled", [True, False])
def test_the_walk_leaves_the_collector_as_it_found_it(tmp_path: Path, enabled: bool) -> None:
    import gc

    paths, pb = _recycling(tmp_path)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        seen: list[bool] = []
        real = setbased.walk

        def watched(*a: Any) -> list[float]:
            seen.append(gc.isenabled())
            return real(*a)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(setbased, "walk", watched)
            run_setbased(paths, pb, pb, None, T0 + 200 * DAY, verify=0)
        assert seen and not any(seen)  # paused while walking
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
