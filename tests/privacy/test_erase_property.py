"""Property: erasing any set of people from a demo store changes no number a report or a
backtest gives, and leaves none of their data in the database file (SQLite, after the
checkpoint erasure runs) or in a dump (PostgreSQL, pg_dump).

What is searched for: each erased person's address, the values of their attributes
that erasure removes (names, company, phone ...) and of their events' removed
properties, except strings that some other, not erased, person also has (those stay
rightly: they are that person's data too).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgate.analytics import service
from leadgate.analytics.backtest import month_of
from leadgate.demo.loader import load_demo
from leadgate.engine.engine import Engine
from leadgate.privacy.erase import erase_person, kept_fields
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.store.schema import EFFECTIVE_TRANSITIONS
from tests.conftest import FakeClock

LEADS, EVENTS, SEED, DAYS = 120, 2_400, 11, 60
START = 1_780_000_000.0


def _engine(url: str) -> Engine:
    eng = Engine(Database(url), clock=FakeClock(START))
    eng.ensure_playbook()
    return eng


def _build(url: str) -> None:
    eng = _engine(url)
    load_demo(eng, n_leads=LEADS, n_events=EVENTS, seed=SEED, days=DAYS)
    eng.db.dispose()


def _numbers(eng: Engine) -> dict[str, Any]:
    """The funnel report, stage counts per month, and a backtest against a variant."""
    with eng.db.read() as conn:
        rows = (
            Repository(eng.db, conn)
            .execute(f"SELECT to_stage, at FROM {EFFECTIVE_TRANSITIONS}")
            .fetchall()
        )
    per_month = Counter((stage, month_of(at)) for stage, at in rows)
    active = service.active_text(eng)
    variant = active.replace("points: 20}", "points: 12}")
    assert variant != active
    bt = service.backtest(eng, variant, workers=1).to_dict()
    bt.pop("meta")  # timings and paths
    for row in bt["changed"]:
        row.pop("email", None)  # a pseudonym now: the lead is the same (its id)
    return {
        "funnel": service.report(eng, "funnel").to_dict(),
        "sources": service.report(eng, "sources").to_dict(),
        "per_month": sorted(per_month.items()),
        "backtest": bt,
    }


def _people(eng: Engine) -> list[tuple[int, str, dict[str, Any], list[dict[str, Any]]]]:
    with eng.db.read() as conn:
        repo = Repository(eng.db, conn)
        leads = repo.execute("SELECT id, email, attributes FROM leads ORDER BY id").fetchall()
        props: dict[int, list[dict[str, Any]]] = {}
        for lid, text in repo.execute("SELECT lead_id, properties FROM events").fetchall():
            props.setdefault(lid, []).append(orjson.loads(text))
    return [(lid, e, orjson.loads(a), props.get(lid, [])) for lid, e, a in leads]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _secrets(eng: Engine, people: list[Any], chosen: set[int]) -> tuple[list[str], list[str]]:
    """(what must be gone, what must be gone only from the text columns we own)."""
    with eng.db.read() as conn:
        repo = Repository(eng.db, conn)
        kept = kept_fields(repo)
        # The sales team (a rep may share a surname with a lead: it is the rep's name).
        team = repr(repo.execute("SELECT name, email FROM sales_reps").fetchall())
        # What every store holds whoever is in it: the schema in an SQLite file, the
        # tables' and columns' names in a dump ("Mary" is in "PRIMARY KEY").
        if eng.db.is_sqlite:
            schema = repr(repo.execute("SELECT sql FROM sqlite_master").fetchall())
        else:
            schema = repr(
                repo.execute(
                    "SELECT table_name, column_name FROM information_schema.columns"
                ).fetchall()
            )
    others = (
        team.lower()
        + schema.lower()
        + " ".join(
            e + " " + orjson.dumps(a).decode() + " " + orjson.dumps(p).decode()
            for i, (_, e, a, p) in enumerate(people)
            if i not in chosen
        ).lower()
    )
    must: list[str] = []
    for i in chosen:
        _, email, attrs, props = people[i]
        must.append(email)
        removed = [v for k, v in attrs.items() if k not in kept]
        removed += [v for doc in props for k, v in doc.items() if k not in kept]
        must += [s for s in _strings(removed) if len(s) >= 4 and s.lower() not in others]
    return sorted(set(must)), []


def _check_erasure(url: str, chosen_ids: list[int], dump: Any) -> None:
    eng = _engine(url)
    people = _people(eng)
    chosen = {i % len(people) for i in chosen_ids}
    before = _numbers(eng)
    must, _ = _secrets(eng, people, chosen)
    assert must
    text = dump(eng).lower()
    assert all(s.lower() in text for s in must[:3]), "the search finds them before"
    for i in sorted(chosen):
        erase_person(eng, people[i][1], "property test", "test")
    after = _numbers(eng)
    assert after == before
    text = dump(eng).lower()
    left = [s for s in must if s.lower() in text]
    assert not left, f"still in the store: {left[:10]} after erasing {sorted(chosen)}"
    eng.db.dispose()


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    url = f"sqlite:///{path}"
    Database(url).migrate()
    _build(url)
    import sqlite3

    with sqlite3.connect(path) as con:  # the whole store in the one file we copy
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _sqlite_bytes(path: Path) -> Any:
    def dump(eng: Engine) -> str:
        # The file and its WAL, as bytes: free pages and log frames included.
        data = path.read_bytes()
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            data += wal.read_bytes()
        return data.decode("utf-8", errors="replace")

    return dump


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12))
def test_erasing_anyone_changes_no_number_and_leaves_no_trace_sqlite(
    demo_file: Path, tmp_path_factory: pytest.TempPathFactory, chosen: list[int]
) -> None:
    path = tmp_path_factory.mktemp("erase") / "store.db"
    shutil.copy(demo_file, path)
    _check_erasure(f"sqlite:///{path}", chosen, _sqlite_bytes(path))


def _pg_dump(url: str) -> Any:
    from pgcluster import find_bindir

    parts = urlsplit(url)
    q = parse_qs(parts.query)
    bindir = find_bindir()
    assert bindir is not None
    argv = [
        str(bindir / "pg_dump"),
        "-h",
        q["host"][0],
        "-p",
        q["port"][0],
        "-U",
        parts.netloc.split("@")[0],
        "--data-only",
        parts.path.lstrip("/"),
    ]

    def dump(eng: Engine) -> str:
        return subprocess.run(argv, capture_output=True, check=True, text=True).stdout

    return dump


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=8))
def test_erasing_anyone_leaves_no_trace_in_a_postgres_dump(chosen: list[int]) -> None:
    from tests.conftest import _postgres_url

    url = _postgres_url()
    _build(url)
    _check_erasure(url, chosen, _pg_dump(url))
