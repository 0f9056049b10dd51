"""The DuckDB query's own shortcuts give the engine's scores where they could go wrong.

`leadgate.analytics.sqlduckdb` orders each rolling rule's events by (lead, time) in one
window over all leads, so a neighbour from another lead must count as no neighbour; it
evaluates property conditions once per distinct properties text and joins the verdicts
back, so a NULL text, a text shared by several event types and two rules with different
conditions on one type must each keep their own answer. The random playbooks of
`test_sql_equivalence` rarely hit these (a broken lead boundary passed 80 examples), so
each is written out here, next to empty inputs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import duckdb

from leadgate.analytics.sqlcompile import compile_scoring
from leadgate.playbook.model import Playbook

sys.path.insert(0, str(Path(__file__).parent))
from _reference import as_rows, duckdb_scores, duckdb_tables, engine_scores

T0 = 1_700_000_000.0
H, D = 3600.0, 86400.0


def _playbook(rules: list[dict[str, Any]], half_life: float | None = 7) -> Playbook:
    return Playbook.model_validate(
        {
            "name": "paths",
            "fit": {
                "rules": [
                    {
                        "name": "vp",
                        "if": {"field": "title", "op": "eq", "value": "VP"},
                        "points": 10,
                    }
                ]
            },
            "engagement": {"half_life_days": half_life, "rules": rules},
            "stages": {"mql": {"hand_raisers": ["demo"]}},
        }
    )


def _rows(
    leads: list[tuple[int, str, dict[str, Any]]],
    events: list[tuple[str, int, str, float, dict[str, Any] | None]],
) -> tuple[list[Any], list[Any]]:
    """Table rows; an event whose properties are None gets a SQL NULL text."""
    lr, er = as_rows(leads, [(e, lid, t, at, p or {}) for e, lid, t, at, p in events])
    er = [(*row[:4], None) if ev[4] is None else row for row, ev in zip(er, events, strict=True)]
    return lr, er


def _engine(
    pb: Playbook,
    leads: list[tuple[int, str, dict[str, Any]]],
    events: list[tuple[str, int, str, float, dict[str, Any] | None]],
    as_of: float,
) -> dict[int, Any]:
    # The engine reads a missing properties document as an empty one.
    return engine_scores(
        pb, leads, [(e, lid, t, at, p or {}) for e, lid, t, at, p in events], as_of
    )


def test_rolling_windows_do_not_cross_leads() -> None:
    """Lead 2's clicks come before lead 1's last ones in time but after them in the
    window's order: each lead's first click still starts its own segment, and the walk
    through a dense segment stops at its last click (the next one, of the same lead or
    the next, starts a walk of its own)."""
    pb = _playbook(
        [
            {"event": "click", "points": 3, "max_per_days": {"count": 1, "days": 1}},
            {"event": "view", "points": 2, "max_per_days": {"count": 2, "days": 7}},
            {"event": "demo", "points": 30},
        ]
    )
    leads = [(i, f"p{i}@acme.io", {"title": "VP" if i % 2 else "x"}) for i in range(1, 8)]
    events: list[tuple[str, int, str, float, dict[str, Any] | None]] = []
    # Lead 1: a dense run of clicks and views late in time.
    events += [(f"c1.{k}", 1, "click", T0 + 10 * D + k * 5 * H, {}) for k in range(9)]
    events += [(f"v1.{k}", 1, "view", T0 + 10 * D + k * D, {}) for k in range(6)]
    # Lead 2: early, also dense; its first click is within a day of nothing of its own.
    events += [(f"c2.{k}", 2, "click", T0 + k * 2 * H, {}) for k in range(5)]
    events += [(f"v2.{k}", 2, "view", T0 + k * H, {}) for k in range(4)]
    # Lead 3: one click and one view, right between lead 1's events in time.
    events += [("c3", 3, "click", T0 + 10 * D + 7 * H, {}), ("v3", 3, "view", T0 + 11 * D, {})]
    # Lead 1 again: a second dense run, more than a day after the first.
    events += [(f"c1.b{k}", 1, "click", T0 + 13 * D + k * 2 * H, {}) for k in range(3)]
    # Lead 4: ties in time with lead 1; lead 5: nothing.
    events += [(f"c4.{k}", 4, "click", T0 + 10 * D, {}) for k in range(3)]
    events += [("d4", 4, "demo", T0 + 10 * D, {})]
    # Leads 6 and 7: dense runs next to each other in the window, 6's days before 7's.
    events += [(f"c6.{k}", 6, "click", T0 + k * 3 * H, {}) for k in range(4)]
    events += [(f"c7.{k}", 7, "click", T0 + 5 * D + k * 3 * H, {}) for k in range(4)]
    as_of = T0 + 14 * D
    ref = _engine(pb, leads, events, as_of)
    lr, er = _rows(leads, events)
    assert duckdb_scores(compile_scoring(pb, as_of, "duckdb"), lr, er) == ref
    # The case is the one meant: every lead with clicks scores some, not all of them.
    assert all(ref[i][1] > 0 for i in (1, 2, 3, 4, 6, 7)) and ref[5][1] == 0


def test_property_conditions_per_text() -> None:
    """Conditions read once per distinct text: a NULL text reads as no fields, a text
    shared by event types and two rules on one type keep their own answers, and a type
    no rule scores scores nothing."""
    pb = _playbook(
        [
            {
                "event": "view",
                "points": 5,
                "if": {"field": "url", "op": "contains", "value": "/pricing"},
            },
            {"event": "view", "points": 1, "if": {"field": "url", "op": "exists", "value": False}},
            {"event": "view", "points": 0.5},
            {
                "event": "click",
                "points": 2,
                "if": {"field": "url", "op": "ne", "value": "/pricing"},
            },
            {
                "event": "download",
                "points": 3,
                "if": {"field": "url", "op": "contains", "value": "/pricing"},
                "max_per_days": {"count": 1, "days": 1},
            },
        ]
    )
    leads = [(i, f"p{i}@acme.io", {}) for i in range(1, 5)]
    pricing, blog = {"url": "/pricing"}, {"url": "/blog"}
    events: list[tuple[str, int, str, float, dict[str, Any] | None]] = [
        ("a1", 1, "view", T0, pricing),
        ("a2", 1, "view", T0 + H, None),
        ("a3", 1, "view", T0 + 2 * H, {}),
        ("a4", 1, "click", T0, pricing),
        ("a5", 1, "click", T0 + H, None),
        ("a6", 1, "download", T0, pricing),
        ("a7", 1, "download", T0 + H, pricing),
        ("a8", 1, "download", T0 + 2 * D, None),
        ("b1", 2, "click", T0, blog),
        ("b2", 2, "view", T0, blog),
        ("b3", 2, "other", T0, pricing),
        ("b4", 2, "other", T0, None),
        ("c1", 3, "other", T0, pricing),
        ("d1", 4, "view", T0, {"url": ["/pricing", "/x"]}),
        ("d2", 4, "click", T0, {"url": "/PRICING"}),
    ]
    as_of = T0 + 3 * D
    ref = _engine(pb, leads, events, as_of)
    lr, er = _rows(leads, events)
    assert any(row[4] is None for row in er)
    assert duckdb_scores(compile_scoring(pb, as_of, "duckdb"), lr, er) == ref
    assert ref[3][1] == 0 and ref[1][1] > ref[2][1] > 0


def test_empty_inputs() -> None:
    """No events, only events no rule scores, no leads: every lead 0 engagement, no rows."""
    pb = _playbook(
        [
            {"event": "view", "points": 5, "if": {"field": "url", "op": "contains", "value": "x"}},
            {"event": "click", "points": 2, "max_per_days": {"count": 2, "days": 1}},
            {"event": "demo", "points": 30, "max_per_lead": 1},
        ]
    )
    sql = compile_scoring(pb, T0 + D, "duckdb")
    leads = [(1, "a@acme.io", {"title": "VP"}), (2, "b@acme.io", {})]
    lr, _ = as_rows(leads, [])
    want = {1: (10.0, 0.0, 10.0, "C4"), 2: (0.0, 0.0, 0.0, "D4")}
    assert duckdb_scores(sql, lr, []) == want == engine_scores(pb, leads, [], T0 + D)
    others = [("o1", 1, "other", T0, {"url": "x"}), ("o2", 2, "signup", T0, {})]
    _, er = as_rows(leads, others)
    assert duckdb_scores(sql, lr, er) == want
    con = duckdb.connect()
    con.execute("CREATE TABLE leads(id BIGINT, email VARCHAR, attributes VARCHAR)")
    con.execute(
        "CREATE TABLE events(id VARCHAR, lead_id BIGINT, type VARCHAR, occurred_at DOUBLE, "
        "properties VARCHAR)"
    )
    con.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?)", [r for r in as_rows([], others)[1]]
    )
    assert con.execute(sql).fetchall() == []


def test_run_arrow_is_the_query_once_without_a_warning() -> None:
    """`batch.run_arrow` (the rescore's DB-API path, one bind instead of `con.sql`'s two)
    gives the relation API's table column for column, and its copy warning stays inside."""
    import warnings

    from leadgate.analytics.batch import rescore, run_arrow

    pb = _playbook(
        [
            {"event": "click", "points": 3, "max_per_days": {"count": 1, "days": 1}},
            {"event": "demo", "points": 30},
        ]
    )
    leads = [(i, f"p{i}@acme.io", {"title": "VP" if i % 2 else "x"}) for i in range(1, 5)]
    events: list[tuple[str, int, str, float, dict[str, Any] | None]] = [
        (f"c{i}.{k}", i, "click", T0 + k * 5 * H, {}) for i in (1, 2, 3) for k in range(6)
    ] + [("d2", 2, "demo", T0 + D, {})]
    lr, er = _rows(leads, events)
    con = duckdb_tables(lr, er)
    as_of = T0 + 2 * D
    sql = compile_scoring(pb, as_of, "duckdb")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = run_arrow(con, sql)
        scored = rescore(con, pb, as_of)
    want = con.sql(sql).to_arrow_table()
    assert got.sort_by("lead_id").equals(want.sort_by("lead_id"))
    assert scored.sort_by("lead_id").equals(want.sort_by("lead_id"))
    ref = _engine(pb, leads, events, as_of)
    assert {r["lead_id"]: (r["fit"], r["engagement"]) for r in got.to_pylist()} == {
        k: v[:2] for k, v in ref.items()
    }
