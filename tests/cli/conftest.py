"""CLI test fixtures: `db`, a fresh initialised SQLite store as `--db URL` (test_cli.py
keeps its own, on both backends)."""

from __future__ import annotations

import pytest

from .firsthour import runner


@pytest.fixture
def db(sqlite_url: str) -> list[str]:
    """A fresh, initialised SQLite store as `--db URL`."""
    from leadgate.cli.main import app

    assert runner.invoke(app, ["init", "--db", sqlite_url]).exit_code == 0
    return ["--db", sqlite_url]
