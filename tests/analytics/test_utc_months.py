"""Months are UTC months everywhere: reports, threshold advice and backtests agree.

DuckDB formats a TIMESTAMPTZ in the session's TimeZone, which defaults to the machine's
zone (the TZ variable). A lead created at 2026-03-01T03:00Z is a March lead; on a machine
in Los Angeles it used to land in February (19:00 the day before), and one created at
2026-02-28T12:00Z landed in March on a machine in Kiritimati (UTC+14).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadgate.analytics import advice, reports, service
from leadgate.analytics.backtest import month_of
from leadgate.analytics.batch import LEAD_SCHEMA, connect
from leadgate.engine.engine import Engine

MARCH_EARLY = datetime(2026, 3, 1, 3, 0, tzinfo=UTC).timestamp()  # Feb 28 in Los Angeles
FEB_LATE = datetime(2026, 2, 28, 12, 0, tzinfo=UTC).timestamp()  # Mar 1 in Kiritimati
ZONES = ["America/Los_Angeles", "Pacific/Kiritimati"]


def _con(zone: str) -> duckdb.DuckDBPyConnection:
    """A connection whose session zone is `zone` (as on a machine there), with data."""
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{zone}'")
    con.execute(
        "CREATE TABLE leads(id BIGINT, email VARCHAR, attributes VARCHAR, created_at DOUBLE, "
        "stage VARCHAR, owner VARCHAR, fit DOUBLE, engagement DOUBLE, score DOUBLE)"
    )
    con.execute(
        "CREATE TABLE transitions(lead_id BIGINT, from_stage VARCHAR, to_stage VARCHAR, ts DOUBLE, actor VARCHAR)"
    )
    con.executemany(
        "INSERT INTO leads VALUES (?, ?, '{}', ?, 'mql', NULL, 10, 10, 20)",
        [(1, "a@x.io", MARCH_EARLY), (2, "b@x.io", FEB_LATE)],
    )
    con.executemany(
        "INSERT INTO transitions VALUES (?, 'lead', 'mql', ?, 'engine')",
        [(1, MARCH_EARLY), (2, FEB_LATE)],
    )
    return con


@pytest.mark.parametrize("zone", ZONES)
def test_cohorts_are_utc_months(zone: str) -> None:
    rows = reports.cohorts(_con(zone)).records()
    assert {r["cohort"]: r["leads"] for r in rows} == {"2026-02": 1, "2026-03": 1}


@pytest.mark.parametrize("zone", ZONES)
def test_sla_months_are_utc_months(zone: str) -> None:
    rows = reports.sla(_con(zone), 1.0, MARCH_EARLY + 10 * 86400).records()
    assert {r["month"]: r["mqls"] for r in rows} == {"2026-02": 1, "2026-03": 1}


@pytest.mark.parametrize("zone", ZONES)
def test_advice_counts_utc_months(zone: str) -> None:
    """Two leads in two UTC months: one MQL a month at the lowest threshold."""
    # Both leads in one local month (February in Los Angeles, March in Kiritimati) gave
    # 2 MQLs a month.
    rows = advice.tradeoff(_con(zone)).records()
    assert rows[0]["mqls"] == 2 and rows[0]["mqls_per_month"] == 1.0


def test_backtest_month_is_utc() -> None:
    assert month_of(MARCH_EARLY) == "2026-03" and month_of(FEB_LATE) == "2026-02"


@pytest.mark.parametrize("zone", ZONES)
def test_connect_sets_utc_whatever_the_machine_zone(zone: str, tmp_path: Path) -> None:
    """batch.connect's session zone is UTC even when the process runs with TZ set."""
    leads = tmp_path / "leads.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [{"id": 1, "email": "a@x.io", "attributes": "{}", "created_at": MARCH_EARLY}],
            schema=LEAD_SCHEMA,
        ),
        leads,
    )
    code = (
        "import sys; from leadgate.analytics.batch import connect; "
        "c = connect(sys.argv[1], sys.argv[1]); "
        "print(c.execute(\"SELECT current_setting('TimeZone'), "
        "STRFTIME(TO_TIMESTAMP(created_at), '%Y-%m') FROM leads\").fetchone())"
    )
    env = {**os.environ, "TZ": zone}
    out = subprocess.run(
        [sys.executable, "-c", code, str(leads)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('UTC', '2026-03')"
    assert connect is not None


@pytest.fixture
def machine_in_los_angeles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test process runs with TZ=America/Los_Angeles (new DuckDB sessions follow it)."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_store_reports_are_utc_months_on_a_machine_in_los_angeles(
    machine_in_los_angeles: None, engine: Engine, clock: Any
) -> None:
    """Through the service (what the CLI and HTTP call): a March lead is a March lead."""
    assert duckdb.connect().execute("SELECT current_setting('TimeZone')").fetchone() == (
        "America/Los_Angeles",
    )
    clock.now = MARCH_EARLY
    engine.upsert_leads([("a@x.io", {"job_title": "VP Sales"}, MARCH_EARLY)])
    clock.now = MARCH_EARLY + 3600
    rows = service.report(engine, "cohorts").records()
    assert [(r["cohort"], r["leads"]) for r in rows] == [("2026-03", 1)]
    advice_rows = service.report(engine, "advice").records()
    assert advice_rows and advice_rows[0]["mqls_per_month"] == 1.0
