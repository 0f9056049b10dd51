"""The set-based backtest sees what the exact replay sees (issue 17's decision).

The exact replay (`run_backtest`, every event through `LeadProcessor`) is the oracle: for
random playbooks (decay or none, caps, rolling windows, negative points, MQL rules that
rise with engagement and rules that do not, hand-raisers, exit lines, cooldowns) and
random histories (ties in time, people's moves, manual adjustments), the set-based
backtest gives the same months, totals and changed leads. Its run-time verification
counts a disagreement it is shown, and the CLI fails on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from leadgate.analytics import setbased, setpairs
from leadgate.analytics.backtest import run_backtest
from leadgate.analytics.batch import EVENT_SCHEMA, LEAD_SCHEMA, TRANSITION_SCHEMA
from leadgate.analytics.setbased import run_setbased, verify_sample

T0 = 1_700_000_000.0
DAY = 86400.0
TYPES = ["view", "click", "download", "demo", "other"]


def mql_when(need: float) -> st.SearchStrategy[dict[str, Any]]:
    """The MQL rules the random playbooks draw from: one score, all, any, not, the total
    (shared by the walk's early-stop property, which must meet the same shapes)."""
    return st.sampled_from(
        [
            {"score": "engagement", "op": "gte", "value": need},
            {
                "all": [
                    {"score": "fit", "op": "gte", "value": 10},
                    {"score": "engagement", "op": "gt", "value": need},
                ]
            },
            {"score": "total", "op": "gte", "value": need + 10},
            {"not": {"score": "engagement", "op": "lt", "value": need}},
            {
                "any": [
                    {"field": "vip", "op": "eq", "value": True},
                    {"score": "engagement", "op": "gte", "value": need},
                ]
            },
        ]
    )


def _yaml(draw: st.DrawFn) -> str:
    rules = []
    for i in range(draw(st.integers(1, 4))):
        r: dict[str, Any] = {
            "event": draw(st.sampled_from(TYPES[:4])),
            "points": draw(st.sampled_from([5.0, 10.0, 2.5, 0.35, -4.0, 20.0, 12.345])),
            "name": f"r{i}",
        }
        if draw(st.integers(0, 2)) == 0:
            r["max_per_lead"] = draw(st.integers(1, 3))
        if draw(st.integers(0, 3)) == 0:
            r["max_per_days"] = {
                "count": draw(st.integers(1, 2)),
                "days": draw(st.sampled_from([1, 7])),
            }
        if draw(st.integers(0, 3)) == 0:
            r["if"] = {"field": "url", "op": "contains", "value": "/pricing"}
        rules.append(r)
    need = draw(st.sampled_from([5, 10, 15, 25]))
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
            "adjustments": {"decay": draw(st.booleans())},
        },
        "stages": {
            "mql": {"when": when, "hand_raisers": draw(st.sampled_from([[], ["demo"]]))},
            "recycle": {
                "cooldown_days": draw(st.sampled_from([1, 5, 30])),
                "mql_exit_engagement": draw(st.sampled_from([None, 3, need / 2])),
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
        for k in range(draw(st.integers(0, 30))):
            t += draw(st.sampled_from([0, 1, 3600, 86399, 86400, 2 * 86400, 9 * 86400, 40 * 86400]))
            typ = draw(st.sampled_from([*TYPES, "manual_adjustment"] if k % 7 == 6 else TYPES))
            props: dict[str, Any] = {}
            if typ == "view":
                props["url"] = draw(st.sampled_from(["/pricing", "/blog"]))
            if typ == "manual_adjustment":
                props = {
                    "points": 7,
                    "reason": "call",
                    "score": draw(st.sampled_from(["fit", "engagement"])),
                }
            eid = draw(st.sampled_from(["a", "b", "B"])) + f"{lid}.{k}"
            events.append((eid, lid, typ, t, json.dumps(props)))
        if draw(st.integers(0, 2)) == 0:
            mt = T0 + draw(st.integers(0, 200)) * DAY / 2
            for to in draw(
                st.sampled_from([["sal"], ["sal", "sql"], ["nurture"], ["mql"], ["disqualified"]])
            ):
                moves.append((lid, "x", to, mt, "rep@x.io"))
                mt += DAY
    return _yaml(draw), _yaml(draw), leads, events, moves


def _write(
    tmp: Path, leads: list[Any], events: list[Any], moves: list[Any], row_group: int | None = None
) -> tuple[Path, Path, Path]:
    paths = (tmp / "leads.parquet", tmp / "events.parquet", tmp / "transitions.parquet")
    for path, rows, schema in zip(
        paths, (leads, events, moves), (LEAD_SCHEMA, EVENT_SCHEMA, TRANSITION_SCHEMA), strict=True
    ):
        cols = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
        pq.write_table(
            pa.Table.from_arrays(
                [pa.array(list(c), type=f.type) for c, f in zip(cols, schema, strict=True)],
                schema=schema,
            ),
            path,
            row_group_size=row_group,
        )
    return paths


def _seen(res: Any) -> Any:
    return res.months, res.totals, res.changed


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example runs DuckDB
)
@given(case=cases())
def test_set_based_equals_exact(case: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    old, new, leads, events, moves = case
    paths = _write(tmp_path_factory.mktemp("bt"), leads, events, moves)
    end = T0 + 400 * DAY
    for start in (None, T0 + 20 * DAY):
        exact = run_backtest(paths, old, new, start, end, workers=1)
        fast = run_setbased(paths, old, new, start, end, verify=0)
        assert _seen(fast) == _seen(exact)
    # Taken in lead-id ranges of a few events each (the way a big history is), the same:
    # filters on a file in lead order, a partitioned copy of one in arrival order.
    exact = run_backtest(paths, old, new, None, end, workers=1)
    for arrival in (False, True):
        rows = sorted(events, key=lambda e: (e[3], e[0])) if arrival else events
        d = tmp_path_factory.mktemp("ranges")
        p = _write(d, leads, rows, moves, row_group=5)
        ranged = run_setbased(p, old, new, None, end, verify=0, chunk_events=7)
        assert _seen(ranged) == _seen(exact)
    # Everything the walk returned agrees lead by lead with the oracle.
    res = run_setbased(paths, old, new, None, end, verify=len(leads))
    assert res.meta["disagreements"] == 0
    assert res.meta["verified_leads"] == len(leads)


def _demo(tmp: Path) -> tuple[tuple[Path, Path, Path], str, str]:
    leads = [
        (i, f"p{i}@acme.io", '{"size": 500}', T0, None, None, None, None, None)
        for i in range(1, 41)
    ]
    events = [
        (f"e{i}.{k}", i, "download", T0 + k * (i % 5 + 1) * DAY, "{}")
        for i in range(1, 41)
        for k in range(8)
    ]
    pb = {
        "name": "t",
        "engagement": {"half_life_days": 10, "rules": [{"event": "download", "points": 10}]},
        "stages": {"mql": {"when": {"score": "engagement", "op": "gte", "value": 25}}},
    }
    strict = json.loads(json.dumps(pb))
    strict["stages"]["mql"]["when"]["value"] = 35
    return _write(tmp, leads, events, []), json.dumps(pb), json.dumps(strict)


def test_verification_counts_a_disagreement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, old, new = _demo(tmp_path)
    res = run_setbased(paths, old, new, None, T0 + 100 * DAY, verify=40)
    assert res.meta["disagreements"] == 0 and res.totals["mqls_old"] > 0
    real = setbased.walk

    def late(*a: Any) -> list[float]:  # a walk that finds each MQL a second late
        return [t + 1 for t in real(*a)]

    monkeypatch.setattr(setbased, "walk", late)
    bad = run_setbased(paths, old, new, None, T0 + 100 * DAY, verify=40)
    assert bad.meta["disagreements"] > 0
    assert verify_sample(paths, old, new, {}, 0, T0 + 100 * DAY) == (0, 0)


@pytest.mark.parametrize("arrival", [False, True])
def test_lead_ranges_split_by_events_and_keep_leads_whole(tmp_path: Path, arrival: bool) -> None:
    # Lead 3 alone has more events than a range holds; leads 5 and 9 have only moves.
    counts = {1: 2, 2: 2, 3: 9, 4: 1, 6: 3, 7: 1, 8: 2}
    events = [
        (f"e{lid}.{k}", lid, "download", T0 + k * DAY, "{}")
        for lid, n in counts.items()
        for k in range(n)
    ]
    leads = [(i, f"p{i}@acme.io", "{}", T0, None, None, None, None, None) for i in range(1, 10)]
    moves = [(5, "x", "mql", T0, "rep@x.io"), (9, "x", "mql", T0, "rep@x.io")]
    if arrival:  # the store's export: in time order, row groups across all leads
        events.sort(key=lambda e: (e[3], e[0]))
    paths = _write(tmp_path, leads, events, moves, row_group=3)
    con = duckdb.connect()
    assert setbased._in_lead_order(con, paths[1]) is not arrival
    ranges = setbased.lead_ranges(con, paths[1], 1e300, 4, tmp_path / "r")
    assert all(("lg_range=" in src) is arrival for src, _, _ in ranges)
    assert [(lo, hi) for _, lo, hi in ranges] == [(None, 3), (3, 4), (4, 7), (7, None)]
    got = []
    for source, lo, hi in ranges:
        rows = con.execute(f"SELECT * FROM {source} ORDER BY id").fetchall()
        assert [c[0] for c in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()] == [
            f.name for f in EVENT_SCHEMA
        ]
        assert all((lo is None or r[1] >= lo) and (hi is None or r[1] < hi) for r in rows)
        got += rows
    assert sorted(got) == sorted(
        con.execute(f"SELECT * FROM read_parquet('{paths[1]}')").fetchall()
    )
    # Enough room for everything: the exported file itself, not a copy.
    assert setbased.lead_ranges(con, paths[1], 1e300, 20, tmp_path / "s") == [
        (f"read_parquet('{paths[1]}')", None, None)
    ]
    # People's moves of leads with no events are walked in their range too.
    pb: dict[str, Any] = {
        "name": "t",
        "engagement": {"rules": [{"event": "download", "points": 10}]},
        "stages": {"mql": {"when": {"score": "engagement", "op": "gte", "value": 30}}},
    }
    old = json.dumps(pb)
    pb["engagement"]["rules"][0]["points"] = 15
    new = json.dumps(pb)
    end = T0 + 100 * DAY
    seen: list[tuple[int, int]] = []
    ranged = run_setbased(
        paths, old, new, None, end, verify=9, chunk_events=4,
        progress=lambda d, t: seen.append((d, t)),
    )  # fmt: skip
    assert _seen(ranged) == _seen(run_backtest(paths, old, new, None, end, workers=1))
    assert ranged.meta["disagreements"] == 0 and ranged.totals["mqls_old"] >= 2
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_forked_walkers_give_what_one_process_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, old, new = _demo(tmp_path)
    one = run_setbased(paths, old, new, None, T0 + 100 * DAY, verify=0, workers=1)
    monkeypatch.setattr(setbased, "_FORK_MIN", 0)
    two = run_setbased(paths, old, new, None, T0 + 100 * DAY, verify=0, workers=2)
    assert _seen(two) == _seen(one) and one.totals["mqls_old"] > 0


@pytest.mark.parametrize(
    ("change", "queries"),
    [
        ({"points": 4}, 1),  # points and thresholds: the same pairs, matched once
        ({"max_per_lead": 3}, 2),  # other caps: other pairs
        ({"max_per_days": {"count": 1, "days": 7}}, 2),
    ],
)
def test_two_playbooks_share_pairs_only_when_they_match_and_cap_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], queries: int
) -> None:
    paths, old, _ = _demo(tmp_path)
    pb = json.loads(old)
    pb["engagement"]["rules"][0]["max_per_lead"] = 4
    old = json.dumps(pb)
    pb["engagement"]["rules"][0].update(change)
    pb["stages"]["mql"]["when"]["value"] = 30
    new = json.dumps(pb)
    real = setpairs._capped
    calls: list[int] = []

    def counted(*a: Any) -> Any:
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(setpairs, "_capped", counted)
    end = T0 + 100 * DAY
    fast = run_setbased(paths, old, new, None, end, verify=0)
    assert len(calls) == queries
    exact = run_backtest(paths, old, new, None, end, workers=1)
    assert _seen(fast) == _seen(exact)
    assert fast.totals["mqls_old"] != fast.totals["mqls_new"]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
)
@given(case=cases(), factor=st.sampled_from([0.5, 2.0, -1.0]), hands=st.booleans())
def test_a_points_change_shares_the_columns_and_still_equals_exact(
    case: Any, factor: float, hands: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The usual what-if: the same rules with other points (and hand-raisers), so both
    # playbooks share pairs and running sums (`setmoments._Base`) over the leads either
    # keeps, while each walks its own.
    old, _, leads, events, moves = case
    pb = json.loads(old)
    for r in pb["engagement"]["rules"]:
        r["points"] = r["points"] * factor
    if hands:
        pb["stages"]["mql"]["hand_raisers"] = (
            [] if pb["stages"]["mql"]["hand_raisers"] else ["demo"]
        )
    new = json.dumps(pb)
    paths = _write(tmp_path_factory.mktemp("bt"), leads, events, moves)
    end = T0 + 400 * DAY
    exact = run_backtest(paths, old, new, None, end, workers=1)
    fast = run_setbased(paths, old, new, None, end, verify=len(leads))
    assert _seen(fast) == _seen(exact)
    assert fast.meta["disagreements"] == 0
