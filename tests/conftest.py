"""Shared fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL is a private throwaway cluster started once per run (tests/pgcluster.py).
Under CI (CI=true) it is mandatory: failing to start it fails the run. Elsewhere
the PostgreSQL half is skipped with a notice when no server can be started.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _same_terminal_as_the_controller() -> None:
    """A pytest-xdist worker starts with COLUMNS=80 and LINES=24 set, and the CLI fits its
    tables to COLUMNS when set (a pipe gets them whole: tests/cli/test_first_hour.py), at
    import. The controller passes its own values (or none) down; a worker restores them
    before anything imports the CLI."""
    names = ("COLUMNS", "LINES")
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["LEADGATE_TEST_TERMINAL"] = json.dumps({n: os.environ.get(n) for n in names})
        return
    saved = json.loads(os.environ.get("LEADGATE_TEST_TERMINAL") or "{}")
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


_same_terminal_as_the_controller()

# No Spark web UI: parallel workers would race for port 4040. (C1-only JIT was tried:
# it halves a 60 s Spark test but makes the 2-minute ones slower.) A PYSPARK_SUBMIT_ARGS
# set by the caller wins.
os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--conf spark.ui.enabled=false pyspark-shell")

# Files that take minutes (Spark, demo stores of 4,000-8,000 leads, fuzzing, servers), the
# longest first. `make test` hands whole files to pytest-xdist workers in collection order
# (--dist loadfile --no-loadscope-reorder): these start first so that none of them starts
# last and keeps one worker busy alone at the end. Only the order of a parallel run.
SLOW_FILES_FIRST = (
    "tests/predictive/test_store.py",
    "tests/analytics/test_sql_equivalence.py",
    "tests/analytics/test_score_batch.py",
    "tests/api/test_fuzz.py",
    "tests/analytics/test_regex_equivalence.py",
    "tests/analytics/test_setbased.py",
    "tests/predictive/test_honest.py",
    "tests/predictive/test_cli_predictive.py",
    "tests/predictive/test_library.py",
    "tests/api/test_scheduler.py",
    "tests/api/test_server.py",
    "tests/predictive/test_real_datasets.py",
    "tests/analytics/test_sql_semantics.py",
    "tests/web/test_browser.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the files of SLOW_FILES_FIRST first, the rest as collected."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {path: i for i, path in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


# After the worker's terminal is set right: importing the engine may import the CLI.
from leadgate.engine.engine import Engine  # noqa: E402
from leadgate.store.database import Database  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parent.parent

# No Hypothesis deadline anywhere: `make test` runs the suite on parallel workers
# (pytest-xdist) on a machine other jobs share, where one example's time says nothing
# about the code (house rule: no timing assertions). Example counts are untouched.
hypothesis_settings.register_profile("leadgate", deadline=None)
hypothesis_settings.load_profile("leadgate")


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_780_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def datasets_dir() -> Path | None:
    """../shared/datasets (or $LEADGATE_DATASETS); None when absent (a user's fresh clone)."""
    path = Path(os.environ.get("LEADGATE_DATASETS") or REPO.parent / "shared" / "datasets")
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The real data sets; skipped when absent, except in CI where they must exist."""
    path = datasets_dir()
    if path is None:
        if IN_CI:
            pytest.fail("CI=true but ../shared/datasets is missing")
        pytest.skip("real data sets not found (../shared/datasets or $LEADGATE_DATASETS)")
    return path


_pg_state: dict[str, object] = {}


def _pg_cluster() -> object:
    if "cluster" in _pg_state:
        return _pg_state["cluster"]
    if "error" in _pg_state:
        return None
    from pgcluster import PgCluster, pg_available

    ok, why = pg_available()
    if not ok:
        if IN_CI:
            raise RuntimeError(f"CI=true but PostgreSQL cannot be started: {why}")
        _pg_state["error"] = why
        return None
    cluster = PgCluster()
    try:
        cluster.start()
    except Exception as exc:
        if IN_CI:
            raise
        _pg_state["error"] = str(exc)
        return None
    _pg_state["cluster"] = cluster
    template = cluster.create_database("lg_template")
    tdb = Database(template)
    tdb.migrate()
    tdb.dispose()
    _pg_state["template"] = template
    return cluster


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    cluster = _pg_state.get("cluster")
    if cluster is not None:
        cluster.stop()  # type: ignore[attr-defined]
    # Under pytest-xdist (`make test` runs `-n`) each worker starts its own cluster and
    # the controller, which prints the summary, runs no test: hand it the reason.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and "error" in _pg_state:
        workeroutput["pg_error"] = str(_pg_state["error"])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """xdist controller: keep a worker's "PostgreSQL unavailable" reason for the notice."""
    why = getattr(node, "workeroutput", {}).get("pg_error")
    if why:
        _pg_state.setdefault("error", why)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if "error" in _pg_state:
        terminalreporter.write_line(
            f"NOTICE: PostgreSQL tests skipped: {_pg_state['error']}", yellow=True
        )


_counter = itertools.count()


def _postgres_url(template: str | None = None) -> str:
    """A new database, migrated (or a copy of database `template`)."""
    server = os.environ.get("LEADGATE_TEST_PG")
    if server:
        # An existing server (e.g. `postgresql://postgres@/?host=/tmp/pg&port=5432`):
        # each test gets its own database on it.
        import psycopg

        name = f"lg_test_{os.getpid()}_{next(_counter)}"
        conninfo = server.replace("postgresql+psycopg://", "postgresql://")
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        base, _, query = server.partition("?")
        url = base.rstrip("/").rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")
        if template is None:
            Database(url).migrate()
        return url
    cluster = _pg_cluster()
    if cluster is None:
        pytest.skip(f"PostgreSQL not available: {_pg_state.get('error')}")
    name = f"lg_test_{os.getpid()}_{next(_counter)}"
    return cluster.create_database(name, template=template or "lg_template")  # type: ignore[attr-defined, no-any-return]


def copy_store(url: str, to: Path) -> str:
    """A new database holding what `url` holds (a store built once, reused by many tests):
    SQLite copies the file into `to`; PostgreSQL creates a database from it as a template
    (nothing may be connected to it: dispose its engines first)."""
    from leadgate.store.database import sqlite_path

    path = sqlite_path(url)
    if path is not None:
        target = to / "leadgate.db"
        with sqlite3.connect(path) as src, sqlite3.connect(target) as dst:
            src.backup(dst)  # the WAL's pages too, unlike a copy of the file alone
        return f"sqlite:///{target}"
    from sqlalchemy.engine import make_url

    return _postgres_url(template=make_url(url).database)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database URL: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'leadgate.db'}"
        Database(url).migrate()
        return url
    return _postgres_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database URL (for tests that only need one backend)."""
    url = f"sqlite:///{tmp_path / 'leadgate.db'}"
    Database(url).migrate()
    return url


@pytest.fixture
def postgres_url() -> str:
    """A fresh PostgreSQL database URL (skipped outside CI when unavailable)."""
    return _postgres_url()


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock starting 2026-05-28."""
    return FakeClock()


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    """An engine with the bundled playbook active, on SQLite and on PostgreSQL."""
    db = Database(db_url)
    eng = Engine(db, clock=clock)
    eng.ensure_playbook()
    yield eng
    db.dispose()
