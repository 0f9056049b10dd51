"""`leadgate score-batch`: every engine writes the scores the Python engine gives."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from leadgate.playbook.loader import bundled_playbook

sys.path.insert(0, str(Path(__file__).parent))
from _reference import as_rows, engine_scores

runner = CliRunner()
T0 = 1_780_000_000.0
AS_OF = "2026-06-10"  # after every event below
AS_OF_T = 1_781_049_600.0

LEADS = [
    (1, "ann@acme.io", {"job_title": "VP of Sales", "company_size": "120", "country": "US"}),
    (2, "bo@gmail.com", {"job_title": "Student", "company_size": 5000}),
    (3, "cy@corp.example", {"job_title": "Marketing Manager", "country": "us"}),
    (4, "di@it.example", {}),
]
EVENTS = [(f"v{i}", 1, "page_view", T0 + i * 7200, {"url": "/pricing"}) for i in range(30)]
EVENTS += [(f"c{i}", 2, "email_click", T0 + i * 20_000, {}) for i in range(12)]
EVENTS += [(f"w{i}", 3, "whitepaper_download", T0 + i * 86400, {}) for i in range(5)]
EVENTS += [("d1", 1, "demo_request", T0 + 5 * 86400, {}), ("u1", 2, "unsubscribe", T0, {})]
EVENTS += [("x1", 3, "webinar_attended", T0 + 9 * 86400, {})]  # Cy passes 30 here


def _files(tmp: Path) -> tuple[Path, Path]:
    lr, er = as_rows(LEADS, EVENTS)
    leads, events = tmp / "leads.parquet", tmp / "events.parquet"
    pq.write_table(
        pa.table({k: [r[i] for r in lr] for i, k in enumerate(["id", "email", "attributes"])}),
        leads,
    )
    cols = ["id", "lead_id", "type", "occurred_at", "properties"]
    pq.write_table(pa.table({k: [r[i] for r in er] for i, k in enumerate(cols)}), events)
    return leads, events


def _expected() -> dict[int, tuple[Any, ...]]:
    return engine_scores(bundled_playbook()[0], LEADS, EVENTS, AS_OF_T)


def _got(rows: list[dict[str, Any]]) -> dict[int, tuple[Any, ...]]:
    return {r["lead_id"]: (r["fit"], r["engagement"], r["total"], r["grade"]) for r in rows}


def _cli(*args: str) -> Any:
    from leadgate.cli.main import app

    return runner.invoke(app, ["score-batch", *args, "--as-of", AS_OF])


def test_duckdb_scores_and_candidates(tmp_path: Path) -> None:
    leads, events = _files(tmp_path)
    out, cand = tmp_path / "scores.parquet", tmp_path / "cand.parquet"
    r = _cli(
        "--engine", "duckdb", "--leads", str(leads), "--events", str(events),
        "--out", str(out), "--candidates", str(cand), "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["leads"] == 4
    assert _got(pq.read_table(out).to_pylist()) == _expected()
    moments = pq.read_table(cand).to_pylist()
    # Ann raised her hand; Cy's engagement passed the rule's 30 at the webinar.
    assert {
        "lead_id": 1,
        "at": T0 + 5 * 86400,
        "event_type": "demo_request",
        "why": "hand_raiser",
    } in moments
    assert {m["lead_id"] for m in moments if m["why"] == "mql_rule"} == {3}


def test_bad_input_is_exit_2(tmp_path: Path) -> None:
    leads, _ = _files(tmp_path)
    r = _cli("--leads", str(leads), "--events", str(tmp_path / "nope.parquet"), "--out", "x")
    assert r.exit_code == 2 and "events" in r.output
    r = _cli("--engine", "oracle", "--leads", str(leads), "--events", str(leads), "--out", "x")
    assert r.exit_code == 2 and "engine" in r.output
    r = _cli("--engine", "postgres", "--leads", "leads", "--events", "events", "--out", "x")
    assert r.exit_code == 2 and "source" in r.output


def test_postgres_in_place_and_to_parquet(postgres_url: str, tmp_path: Path) -> None:
    import psycopg

    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    lr, er = as_rows(LEADS, EVENTS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS w_leads, w_events")
        conn.execute("CREATE TABLE w_leads(id BIGINT, email TEXT, attributes TEXT)")
        conn.execute(
            "CREATE TABLE w_events(id TEXT, lead_id BIGINT, type TEXT, occurred_at FLOAT8, "
            "properties TEXT)"
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO w_leads VALUES (%s, %s, %s)", lr)
            cur.executemany("INSERT INTO w_events VALUES (%s, %s, %s, %s, %s)", er)
    base = ["--engine", "postgres", "--source", url, "--leads", "w_leads", "--events", "w_events"]
    r = _cli(*base, "--out", url, "--out-table", "w_scores")
    assert r.exit_code == 0, r.output
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT lead_id, fit, engagement, total, grade FROM w_scores")
        got = {row[0]: tuple(row[1:]) for row in cur.fetchall()}
    assert got == _expected()
    out = tmp_path / "pg.parquet"
    r = _cli(*base, "--out", str(out))
    assert r.exit_code == 0, r.output
    assert _got(pq.read_table(out).to_pylist()) == _expected()


def test_spark_local_mode(tmp_path: Path) -> None:
    """Spark in local mode (a cluster: `spark-submit`, docs/analytics.md)."""
    if shutil.which("java") is None:
        pytest.skip("no Java runtime")
    if os.environ.get("CI") == "true":
        import pyspark  # noqa: F401  `make test` installs it: missing in CI is a failure
    else:
        pytest.importorskip("pyspark", reason="pyspark not installed (make test does)")
    leads, events = _files(tmp_path)
    out = tmp_path / "spark-out"
    r = _cli("--engine", "spark", "--leads", str(leads), "--events", str(events), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert _got(pq.read_table(out).to_pylist()) == _expected()
