"""`lead show` on an SQLite file reads through the driver's own connection, without
SQLAlchemy (issue 17): the plain-URL parse must agree with SQLAlchemy's, and a lead read
that way must be the lead read through the pool."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import EventIn
from leadgate.store.database import Database, plain_sqlite_path, resolve_url
from leadgate.store.repository import dumps

# Characters a path may hold, with the ones SQLAlchemy's URL parser treats specially.
_PATH = st.text(alphabet="ab/._- :é~?%@#=&+20", min_size=1, max_size=24)


@settings(max_examples=300, deadline=None)
@given(_PATH)
def test_a_plain_sqlite_url_names_the_file_sqlalchemy_names(path: str) -> None:
    url = f"sqlite:///{path}"
    plain = plain_sqlite_path(url)
    parsed = make_url(url)
    if plain is not None:
        assert parsed.get_backend_name() == "sqlite"
        assert str(plain) == str(Path(parsed.database or ""))
        assert not parsed.query
        assert resolve_url(url) == url
    else:
        # Whatever the fast path leaves to SQLAlchemy is one of its special cases.
        assert any(c in path for c in "?%@#") or path == ":memory:"


def test_memory_and_postgres_urls_are_not_plain() -> None:
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@h/db"):
        assert plain_sqlite_path(url) is None


def _store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    db.migrate()
    engine = Engine(db, clock=lambda: 1_790_000_000.0)
    engine.ensure_playbook()
    engine.upsert_leads([("ann@acme.com", {"job_title": "VP Marketing", "country": "DE"}, None)])
    props = {"url": "/pricing"}
    engine.ingest(
        [
            EventIn(f"e{i}", "ann@acme.com", typ, 1_789_000_000.0 + i, props, dumps(props))
            for i, typ in enumerate(["webinar_attended", "page_view", "demo_request"])
        ]
    )
    db.dispose()
    return url


def test_a_lead_read_without_sqlalchemy_is_the_lead_read_through_the_pool(
    tmp_path: Path,
) -> None:
    url = _store(tmp_path)
    clock = lambda: 1_790_000_100.0  # noqa: E731
    raw_db = Database(url)
    raw = Engine(raw_db, clock=clock).show("ann@acme.com")
    # No write was needed, so no SQLAlchemy engine (pool) was made for the read.
    assert "engine" not in raw_db.__dict__
    pooled_db = Database(url)
    _ = pooled_db.engine  # a server's: the pool exists, reads go through it
    pooled = Engine(pooled_db, clock=clock).show("ann@acme.com")
    assert raw == pooled
    assert raw["history"] and raw["explanation"]


def test_a_raw_read_leaves_no_transaction_open(tmp_path: Path) -> None:
    url = _store(tmp_path)
    db = Database(url)
    with db.read_raw() as con:
        assert con.in_transaction
        held = con
    # Closed after the read: a later writer is not kept waiting by a reader left behind.
    try:
        held.execute("SELECT 1")
        raise AssertionError("the connection should be closed")
    except Exception as exc:  # sqlite3.ProgrammingError
        assert "closed" in str(exc)
    with db.write() as conn:
        conn.exec_driver_sql("UPDATE leads SET stage_reason = 'x'")
