"""The Leads list's source and predicted filters on the columns the store keeps (migration
0015_lead_filters), on SQLite and PostgreSQL: every page, by seek, lists exactly what a
plain Python filter over all leads admits (and what the old JSON expressions selected),
in the sort's order, while sources change and predictions are updated or removed; the
migration fills the columns of existing leads; the plans start from the new indexes."""

from __future__ import annotations

import importlib.util
import random
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import inspect

from leadgate.analytics.sqlsegments import predicted_expr, segment_where
from leadgate.engine import listing
from leadgate.engine.engine import Engine
from leadgate.engine.listing import (
    BANDS,
    SORTS,
    SOURCE_KEY_CHARS,
    LeadQuery,
    iter_pages,
    list_page,
    statement,
)
from leadgate.ingest.validate import parse_event
from leadgate.playbook.conditions import compile_field
from leadgate.playbook.model import FieldCondition
from leadgate.store.database import Database

_MISSING = object()
LONG = "a" * (SOURCE_KEY_CHARS + 50)
# Sources: case, blanks (U+00A0 and tabs too), non-text values, keys at and past the
# column's length, sharing their first SOURCE_KEY_CHARS characters.
SOURCES: list[Any] = [
    "web", " Web ", "WEB\t", "\u00a0web", "Events", "events ", "", "   ", None, _MISSING,
    1, 0, True, ["web"], {"s": "web"}, "1", "a" * (SOURCE_KEY_CHARS - 1),
    "A" * SOURCE_KEY_CHARS, LONG, LONG + "b", LONG.upper() + " ",
]  # fmt: skip
# Case folding beyond ASCII: SQLite folds as str.casefold; PostgreSQL's LOWER (what the
# filter compared before, too) depends on the server's locale, so only SQLite checks them.
UNICODE_SOURCES = ["Straße", "STRASSE", "ÉVÉNEMENT", "événement"]
NEEDLES = [
    "web", "WEB ", "events", "1", " ", "nothing", "a" * (SOURCE_KEY_CHARS - 1),
    "a" * SOURCE_KEY_CHARS, LONG, LONG + "B", "a" * (SOURCE_KEY_CHARS + 10),
]  # fmt: skip
UNICODE_NEEDLES = ["strasse", "Straße", "événement"]
PREDICTED: list[Any] = [
    _MISSING, None, 0.1, 0.2, 0.19999999, 0.5, 0.49999999, 0.9, 1, 0, -0.5, "0.7", True, 2,
]  # fmt: skip


def _attrs(rng: random.Random, unicode: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"country": rng.choice(["DE", "US"])}
    source = rng.choice(SOURCES + (UNICODE_SOURCES if unicode else []))
    if source is not _MISSING:
        out["source"] = source
    predicted = rng.choice(PREDICTED)
    if predicted is not _MISSING:
        out["predicted"] = predicted
    return out


def _prob(attrs: dict[str, Any]) -> float | None:
    p = attrs.get("predicted")
    return float(p) if isinstance(p, int | float) and not isinstance(p, bool) else None


def _band(p: float | None) -> str:
    if p is None:
        return "none"
    for name, (lo, hi) in BANDS.items():
        if (lo is None or p >= lo) and (hi is None or p < hi):
            return name
    raise AssertionError(p)


def _all(engine: Engine, sort: str) -> list[dict[str, Any]]:
    return list_page(engine, LeadQuery(sort=sort, limit=10_000), tick=False).rows


def _paged(engine: Engine, q: LeadQuery, size: int) -> list[int]:
    return [r["id"] for rows in iter_pages(engine, q, size) for r in rows]


def _old_sql_ids(engine: Engine, where: str, params: tuple[Any, ...] = ()) -> set[int]:
    """What the list's JSON expressions before migration 0015 selected."""
    db = engine.db
    with db.read() as conn:
        rows = conn.exec_driver_sql(f"SELECT l.id FROM leads l WHERE {where}", params)
        return {r[0] for r in rows}


def _check(engine: Engine, unicode: bool, rng: random.Random) -> None:
    dialect = "sqlite" if engine.db.is_sqlite else "postgres"
    everyone = _all(engine, "priority")
    attrs = {r["id"]: r["attributes"] for r in everyone}
    probs = {i: _prob(a) for i, a in attrs.items()}
    # The predicted sort: highest first, leads without one last, ties by id.
    by_pred = sorted(attrs, key=lambda i: (-probs[i] if probs[i] is not None else 1e300, i))
    assert [r["id"] for r in _all(engine, "predicted")] == by_pred
    orders = {sort: [r["id"] for r in _all(engine, sort)] for sort in SORTS}
    pred = predicted_expr(dialect).replace("%%", "%")

    def same(q: LeadQuery, admits: set[int]) -> None:
        sort = rng.choice(list(SORTS))
        size = rng.choice([1, 3, 7, 1000])
        got = _paged(engine, replace(q, sort=sort), size)
        want = [i for i in orders[sort] if i in admits]
        assert got == want, (q, sort, size)

    for needle in NEEDLES + (UNICODE_NEEDLES if unicode else []):
        cond = FieldCondition(field="source", op="eq", value=needle)
        test = compile_field(cond)
        admits = {i for i, a in attrs.items() if test(a)}
        where = segment_where(cond, dialect).replace("%%", "%")
        assert _old_sql_ids(engine, where) == admits, needle
        same(LeadQuery(source=needle), admits)
        grade = rng.choice(["D", "C", "D4"])
        graded = {r["id"] for r in everyone if grade in (r["fit_grade"], r["grade"])}
        same(LeadQuery(source=needle, grade=grade), admits & graded)
    for band in [*BANDS, "none", " HIGH "]:
        admits = {i for i, p in probs.items() if _band(p) == band.strip().lower()}
        lo, hi = BANDS.get(band.strip().lower(), (None, None))
        where = f"{pred} IS NULL" if band == "none" else "1 = 1"
        where += f" AND {pred} >= {lo!r}" if lo is not None else ""
        where += f" AND {pred} < {hi!r}" if hi is not None else ""
        if band.strip().lower() in BANDS or band == "none":
            assert _old_sql_ids(engine, where) == admits, band
        same(LeadQuery(predicted=band), admits)
        same(LeadQuery(predicted=band, source="web"), admits & _admits(attrs, "web"))
    for x in (-1.0, 0.0, 0.2, 0.5, 0.95, 5.0):
        same(LeadQuery(min_predicted=x), {i for i, p in probs.items() if p is not None and p >= x})


def _admits(attrs: dict[int, dict[str, Any]], needle: str) -> set[int]:
    test = compile_field(FieldCondition(field="source", op="eq", value=needle))
    return {i for i, a in attrs.items() if test(a)}


# With each seed a threshold for SQLite's plan: every filter rare (read from its own
# index), some, none (tested along the sort's index).
@pytest.mark.parametrize(("seed", "rare"), [(1, 10**9), (2, 8), (3, 0)])
def test_filtered_pages_list_what_a_python_filter_admits(
    engine: Engine, seed: int, rare: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "RARE", rare)
    rng = random.Random(seed)
    unicode = engine.db.is_sqlite
    n = 70
    emails = [f"f{seed}-{i:03d}@acme.io" for i in range(n)]
    # Created in two batches: some with their attributes at once, some bare then filled.
    engine.upsert_leads([(e, _attrs(rng, unicode), None) for e in emails[: n // 2]])
    engine.upsert_leads([(e, {}, None) for e in emails[n // 2 :]])
    engine.upsert_leads([(e, _attrs(rng, unicode), None) for e in emails[n // 2 :]])
    _check(engine, unicode, rng)
    # Sources change, predictions are updated, set to null, or made non-numbers.
    changes = []
    for e in rng.sample(emails, n // 2):
        change: dict[str, Any] = {}
        if rng.random() < 0.7:
            change["source"] = rng.choice(["web", "EVENTS", "", None, 3, LONG + "c", "Web "])
        if rng.random() < 0.7:
            change["predicted"] = rng.choice([None, 0.05, 0.3, 0.75, "high", False, 0.5])
        changes.append((e, change, None))
    engine.upsert_leads(changes)
    # Events rewrite lead rows (scores) without touching the attributes.
    now = engine.clock()
    engine.ingest(
        [parse_event({"email": e, "type": "demo_request", "id": f"x{e}"}, now) for e in emails[::4]]
    )
    _check(engine, unicode, rng)


def _migration(name: str) -> ModuleType:
    import leadgate.store.migrations as migrations

    path = Path(migrations.__path__[0]) / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"m_{name}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_migration_keeps_what_the_list_reads() -> None:
    mod = _migration("0015_lead_filters")
    assert mod.SOURCE_KEY_CHARS == SOURCE_KEY_CHARS
    # Bands from the top, each down to its bound; below the last: low.
    bounds = dict(mod.BAND_BOUNDS)
    assert set(BANDS) == {*bounds, "low"}
    assert BANDS["low"] == (None, min(bounds.values()))
    for name, lo in bounds.items():
        above = [b for b in bounds.values() if b > lo]
        assert BANDS[name] == (lo, min(above) if above else None)


def _columns(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, source_key, predicted, predicted_band FROM leads ORDER BY id"
        )
        return [tuple(r) for r in rows]


def test_the_migration_fills_the_columns_of_existing_leads(engine: Engine) -> None:
    from alembic import command

    rng = random.Random(5)
    engine.upsert_leads([(f"m{i}@acme.io", _attrs(rng, False), None) for i in range(40)])
    before = _columns(engine)
    pages = {s: _paged(engine, LeadQuery(sort=s, source="web"), 4) for s in SORTS}
    assert any(b[1] is not None for b in before) and any(b[2] is not None for b in before)
    db = engine.db
    with db.engine.begin() as conn:
        command.downgrade(db._alembic(conn), "0014_lead_search")
    with db.read() as conn:
        cols = {c["name"] for c in inspect(conn).get_columns("leads")}
    assert "source_key" not in cols and "predicted_band" not in cols
    db.migrate()
    assert _columns(engine) == before
    assert {s: _paged(engine, LeadQuery(sort=s, source="web"), 4) for s in SORTS} == pages


def test_schema_py_and_a_migrated_store_have_the_same_lead_columns(db_url: str) -> None:
    from leadgate.store.schema import leads

    db = Database(db_url)
    try:
        with db.read() as conn:
            stored = {c["name"]: c for c in inspect(conn).get_columns("leads")}
    finally:
        db.dispose()
    assert set(stored) == {c.name for c in leads.columns}
    for c in leads.columns:
        assert stored[c.name]["nullable"] == c.nullable, c.name
    assert "none" in str(stored["predicted_band"]["default"])


def test_the_plans_start_from_a_rare_filters_index(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's plans (PostgreSQL's planner chooses by its statistics: see the report in
    docs/benchmarks.md). A rare value is read from its index, a common one is not."""
    engine = Engine(Database(sqlite_url))
    engine.ensure_playbook()
    engine.upsert_leads([(f"p{i}@acme.io", {"source": "web"}, None) for i in range(5)])
    page = list_page(engine, LeadQuery(source="web", limit=2))
    rare = {
        "ix_leads_source_key": [
            LeadQuery(source="Web", grade="B"),
            LeadQuery(source="web", after=page.next, limit=2),
            LeadQuery(source="web", sort="score"),
        ],
        "ix_leads_predicted_band": [LeadQuery(predicted="high"), LeadQuery(predicted="none")],
        "ix_leads_predicted_seek": [
            LeadQuery(sort="predicted"),
            LeadQuery(sort="predicted", min_predicted=0.9),
        ],
    }
    common = {
        "ix_leads_priority": [LeadQuery(source="web"), LeadQuery(predicted="none", grade="D")],
        "ix_leads_score_seek": [LeadQuery(source="web", sort="score")],
    }

    def plan(q: LeadQuery) -> list[str]:
        sql, params = statement(engine, q)
        with engine.db.read() as conn:
            return [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(params))]

    for index, queries in rare.items():
        for q in queries:
            assert any(index in d for d in plan(q)), (q, plan(q))
    monkeypatch.setattr(listing, "RARE", 5)  # 5 leads have each: now common
    for index, queries in common.items():
        for q in queries:
            details = plan(q)
            assert any(index in d for d in details), (q, details)
            assert not any("ix_leads_source_key" in d or "band" in d for d in details)
    engine.db.dispose()
