"""Backtests, reports, threshold advice and their CLI, on SQLite and PostgreSQL stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from leadgate.analytics import service
from leadgate.analytics.backtest import _run_range, run_backtest
from leadgate.analytics.batch import connect, export_store, rescore
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import EventIn
from leadgate.playbook.loader import bundled_playbook
from leadgate.store.repository import Repository
from leadgate.store.schema import EFFECTIVE_TRANSITIONS

DAY = 86400.0
runner = CliRunner()


def _ev(eid: str, email: str, typ: str, at: float, props: dict[str, Any] | None = None) -> EventIn:
    p = props or {}
    return EventIn(eid, email, typ, at, p, orjson.dumps(p).decode())


def _history(engine: Engine, clock: Any) -> dict[str, float]:
    """A small history, ingested in time order as production would see it."""
    t0 = clock()
    engine.upsert_leads(
        [
            (
                "ann@acme.io",
                {
                    "job_title": "VP Sales",
                    "company_size": 200,
                    "country": "DE",
                    "source": "webinar",
                },
                t0,
            ),
            ("bob@acme.io", {"job_title": "Head of IT", "company_size": 80, "source": "ads"}, t0),
            ("cy@gmail.com", {"job_title": "student", "source": "ads"}, t0),
            (
                "dee@acme.io",
                {
                    "job_title": "Director",
                    "company_size": 500,
                    "country": "US",
                    "source": "webinar",
                },
                t0,
            ),
        ]
    )
    plan = [
        (1 * DAY, _ev("a1", "ann@acme.io", "webinar_attended", 0)),
        (2 * DAY, _ev("a2", "ann@acme.io", "demo_request", 0)),
        (3 * DAY, _ev("b1", "bob@acme.io", "whitepaper_download", 0)),
        (3.5 * DAY, _ev("c1", "cy@gmail.com", "demo_request", 0)),
        (4 * DAY, _ev("b2", "bob@acme.io", "webinar_attended", 0)),
        (4.5 * DAY, _ev("b3", "bob@acme.io", "trial_signup", 0)),
        (5 * DAY, _ev("d1", "dee@acme.io", "webinar_attended", 0)),
        (40 * DAY, _ev("d2", "dee@acme.io", "whitepaper_download", 0)),
        (41 * DAY, _ev("d3", "dee@acme.io", "webinar_attended", 0)),
    ]
    for offset, ev in plan:
        at = t0 + offset
        clock.advance(at - clock())
        ev.at = at
        engine.ingest([ev])
        if ev.id == "a2":
            clock.advance(1800)
            engine.set_stage("ann@acme.io", "sal", None, "user:rep")
            clock.advance(DAY)
            engine.set_stage("ann@acme.io", "sql", None, "user:rep")
        if ev.id == "b3":
            clock.advance(5 * 3600)
            engine.set_stage("bob@acme.io", "sal", None, "user:rep")
    clock.advance(60 * DAY)
    engine.tick()
    return {"t0": t0}


def _stored_mqls(engine: Engine) -> dict[int, list[float]]:
    with engine.db.read() as conn:
        rows = (
            Repository(engine.db, conn)
            .execute(
                f"SELECT lead_id, at FROM {EFFECTIVE_TRANSITIONS} WHERE to_stage = 'mql' "
                "ORDER BY lead_id, at"
            )
            .fetchall()
        )
    out: dict[int, list[float]] = {}
    for lid, at in rows:
        out.setdefault(lid, []).append(at)
    return out


def test_replay_agrees_with_the_real_time_engine(
    engine: Engine, clock: Any, tmp_path: Path
) -> None:
    """Replaying the store's history reproduces every MQL moment the engine recorded."""
    _history(engine, clock)
    exp = export_store(engine.db, tmp_path)
    _, text = bundled_playbook()
    got = _run_range(
        ((str(exp.leads), str(exp.events), str(exp.transitions)), text, text, 0, 10**9, clock())
    )
    stored = _stored_mqls(engine)
    assert stored, "the history makes MQLs"
    assert {lid: old for lid, (old, _, _) in got.items()} == stored
    assert all(old == new for old, new, _ in got.values())


def test_backtest_higher_threshold_loses_mqls(engine: Engine, clock: Any) -> None:
    _history(engine, clock)
    _, text = bundled_playbook()
    strict = text.replace(
        "{score: engagement, op: gte, value: 30}", "{score: engagement, op: gte, value: 45}"
    )
    assert strict != text
    res = service.backtest(engine, strict, workers=1)
    assert res.totals["mqls_old"] > res.totals["mqls_new"]
    lost = [r for r in res.changed if r["change"] == "lost"]
    assert lost and all(r["email"] for r in lost)
    assert res.months and {"mqls_old", "mql_to_sql_new", "median_days_to_mql_old"} <= set(
        res.months[0]
    )
    same = service.backtest(engine, text, workers=1)
    assert same.changed == [] and same.totals["mqls_old"] == same.totals["mqls_new"]


def test_backtest_two_workers_equal_one(engine: Engine, clock: Any, tmp_path: Path) -> None:
    _history(engine, clock)
    exp = export_store(engine.db, tmp_path)
    _, text = bundled_playbook()
    lax = text.replace(
        "{score: engagement, op: gte, value: 30}", "{score: engagement, op: gte, value: 15}"
    )
    paths = (exp.leads, exp.events, exp.transitions)
    one = run_backtest(paths, text, lax, workers=1, end=clock())
    two = run_backtest(paths, text, lax, workers=2, chunks=3, end=clock())
    assert one.to_dict() == two.to_dict()
    assert one.totals["leads_changed"]["earlier"] >= 1


def test_reports_on_known_data(engine: Engine, clock: Any) -> None:
    _history(engine, clock)
    vel = {r["stage"]: r for r in service.report(engine, "velocity").records()}
    # ann: mql -> sal 30 minutes later; bob: 5 hours later.
    assert vel["mql"]["completed"] >= 2
    sla = service.report(engine, "sla")
    assert sla.notes["accept_within_hours"] == 1
    assert sla.notes["sla_share"] is not None and 0 < sla.notes["sla_share"] < 1
    src = {r["source"]: r for r in service.report(engine, "sources", by="source").records()}
    assert src["webinar"]["leads"] == 2 and src["ads"]["leads"] == 2
    assert src["webinar"]["sql"] == 1
    coh = service.report(engine, "cohorts").records()
    assert sum(r["leads"] for r in coh) == 4
    dec = service.report(engine, "deciles").records()
    assert sum(r["leads"] for r in dec) == 4
    adv = service.report(engine, "advice", mqls_per_month=1)
    assert adv.notes["advice"]["met"] is True


def test_batch_rescore_matches_stored_scores(engine: Engine, clock: Any, tmp_path: Path) -> None:
    """The compiled SQL over the Parquet export gives the scores the store holds."""
    _history(engine, clock)
    engine.rescore_all()
    exp = export_store(engine.db, tmp_path)
    con = connect(exp.leads, exp.events, exp.transitions)
    pb, _ = bundled_playbook()
    got = {r["lead_id"]: (r["fit"], r["engagement"]) for r in rescore(con, pb, clock()).to_pylist()}
    with engine.db.read() as conn:
        rows = (
            Repository(engine.db, conn).execute("SELECT id, fit, engagement FROM leads").fetchall()
        )
    assert got == {r[0]: (r[1], r[2]) for r in rows}


def test_cli_backtest_reports_and_advice(sqlite_url: str, tmp_path: Path, clock: Any) -> None:
    from leadgate.cli.main import app
    from leadgate.store.database import Database

    engine = Engine(Database(sqlite_url), clock)
    engine.ensure_playbook()
    _history(engine, clock)
    _, text = bundled_playbook()
    new = tmp_path / "new.yaml"
    new.write_text(text.replace("value: 30}]}", "value: 45}]}"), encoding="utf-8")
    out = tmp_path / "bt"
    r = runner.invoke(
        app,
        ["backtest", str(new), "--db", sqlite_url, "--out", str(out), "--json", "--workers", "1"],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["totals"]["mqls_old"] >= data["totals"]["mqls_new"]
    assert {"summary.json", "monthly.csv", "changed.csv", "mqls.png"} <= {
        p.name for p in out.iterdir()
    }
    r = runner.invoke(app, ["backtest", str(new), "--db", sqlite_url, "--from", "2026-13-01"])
    assert r.exit_code == 2 and "from" in r.output
    csv_file, chart = tmp_path / "v.csv", tmp_path / "v.svg"
    r = runner.invoke(
        app,
        ["report", "velocity", "--db", sqlite_url, "--csv", str(csv_file), "--chart", str(chart)],
    )
    assert r.exit_code == 0, r.output
    assert "Time in stage" in r.output and csv_file.read_text().startswith("stage,")
    assert chart.read_text().lstrip().startswith("<?xml")
    for cmd in (
        ["report", "cohorts"],
        ["report", "sla"],
        ["report", "sources", "--by", "rep"],
        ["report", "deciles"],
        ["report", "funnel"],
    ):
        r = runner.invoke(app, [*cmd, "--db", sqlite_url, "--json"])
        assert r.exit_code == 0, (cmd, r.output)
        json.loads(r.output)
    png = tmp_path / "a.png"
    r = runner.invoke(
        app, ["advise-threshold", "--mqls-per-month", "2", "--db", sqlite_url, "--chart", str(png)]
    )
    assert r.exit_code == 0, r.output
    assert png.read_bytes().startswith(b"\x89PNG")
    r = runner.invoke(app, ["report", "deciles", "--score", "nope", "--db", sqlite_url])
    assert r.exit_code == 2 and "score" in r.output
    r = runner.invoke(app, ["report", "velocity", "--db", sqlite_url, "--chart", "x.gif"])
    assert r.exit_code == 2


def test_http_router(sqlite_url: str, clock: Any) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from leadgate.analytics import http
    from leadgate.store.database import Database

    engine = Engine(Database(sqlite_url), clock)
    engine.ensure_playbook()
    _history(engine, clock)
    app = FastAPI()
    app.include_router(http.router, prefix="/api/v1")
    http.set_engine_provider(lambda: engine)
    try:
        c = TestClient(app)
        for name in ("velocity", "cohorts", "sources", "deciles", "sla", "advice"):
            r = c.get(f"/api/v1/reports/{name}")
            assert r.status_code == 200, (name, r.text)
            assert r.json()["report"] == name
        r = c.get("/api/v1/reports/sources", params={"by": "nope"})
        assert r.status_code == 422
        _, text = bundled_playbook()
        r = c.post("/api/v1/backtest", json={"playbook": text})
        assert r.status_code == 200 and r.json()["changed"] == []
        # The default is the verified set-based path (issue 17); `exact` asks for the replay.
        assert r.json()["meta"]["method"] == "set-based"
        assert r.json()["meta"]["disagreements"] == 0
        r = c.post("/api/v1/backtest", json={"playbook": text, "exact": False})
        assert r.status_code == 200 and r.json()["changed"] == []
        meta = r.json()["meta"]
        assert meta["method"] == "set-based" and meta["disagreements"] == 0
        assert meta["verified_leads"] > 0
        r = c.post("/api/v1/backtest", json={"playbook": text, "exact": True})
        assert r.status_code == 200 and r.json()["meta"]["method"] == "exact"
        r = c.post("/api/v1/backtest", json={"playbook": text, "exact": False, "verify": -1})
        assert r.status_code == 422
        from leadgate.analytics import setbased

        real = setbased.walk
        setbased.walk = lambda *a: [t + 1 for t in real(*a)]  # type: ignore[assignment]
        try:
            r = c.post("/api/v1/backtest", json={"playbook": text, "exact": False})
            assert r.status_code == 500 and "verification failed" in r.text
            r = c.post("/api/v1/backtest", json={"playbook": text})
            assert r.status_code == 500 and "verification failed" in r.text  # the default
            r = c.post("/api/v1/backtest", json={"playbook": text, "exact": True})
            assert r.status_code == 200  # the exact replay does not walk
        finally:
            setbased.walk = real
        r = c.post("/api/v1/backtest", json={"playbook": "name: x\nfit: {rules: 3}\n"})
        assert r.status_code == 422 and "fit" in r.text
        r = c.post("/api/v1/backtest", json={"playbook": text, "from": "nope"})
        assert r.status_code == 422 and "from" in r.text
    finally:
        http.set_engine_provider(None)


@pytest.mark.parametrize("bad", ["2026-02-30", "soon"])
def test_parse_day_names_the_field(bad: str) -> None:
    from leadgate.ingest.validate import InputError

    with pytest.raises(InputError, match="to"):
        service.parse_day(bad, "to")


def test_pruned_leads_would_not_have_made_mqls(
    engine: Engine, clock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipping leads by the engagement bound gives what replaying every lead gives."""
    from leadgate.analytics import backtest as bt

    _history(engine, clock)
    t = clock()
    engine.upsert_leads(
        [("eve@acme.io", {"job_title": "VP Sales", "company_size": 300, "country": "US"}, t)]
    )
    for i in range(3):
        clock.advance(3600)
        engine.ingest([_ev(f"e{i}", "eve@acme.io", "email_click", clock())])
    clock.advance(3600)
    exp = export_store(engine.db, tmp_path)
    _, text = bundled_playbook()
    args = ((str(exp.leads), str(exp.events), str(exp.transitions)), text, text, 0, 10**9, clock())
    skipped: list[str] = []
    real = bt.can_move

    def spy(*a: Any) -> bool:
        out = real(*a)
        if not out:
            skipped.append(a[1].email)
        return out

    monkeypatch.setattr(bt, "can_move", spy)
    pruned = bt._run_range(args)
    assert "eve@acme.io" in skipped, "eve (fit 45, engagement at most 6) is not replayed"
    monkeypatch.setattr(bt, "can_move", lambda *a: True)
    assert bt._run_range(args) == pruned


def test_engagement_bound() -> None:
    from leadgate.analytics.backtest import engagement_bound

    pb, _ = bundled_playbook()
    # whitepaper (10, max 3 per lead) x5, unsubscribe (-20) ignored, webinar (20) x1.
    got = engagement_bound(pb, {"whitepaper_download": 5, "unsubscribe": 2, "webinar_attended": 1})
    assert 50 <= got < 50.2
    assert engagement_bound(pb, {}) < 0.2


def test_the_mql_rule_with_unknowns_is_false_only_when_it_must_be() -> None:
    from leadgate.playbook.conditions import compile_tri
    from leadgate.playbook.loader import load_playbook

    _, text = bundled_playbook()
    rule = "{any: [{field: country, op: eq, value: DE}, {score: total, op: gte, value: 80}]}"
    pb = load_playbook(
        text.replace(
            "when: {all: [{score: fit, op: gte, value: 30}, {score: engagement, op: gte, value: 30}]}",
            f"when: {{all: [{{score: engagement, op: gte, value: 30}}, {{not: {rule}}}]}}",
        ),
        "t.yaml",
    )
    assert "not" in str(pb.stages.mql.when)
    tri = compile_tri(pb.stages.mql.when)  # type: ignore[arg-type]
    assert tri(None, None, 10.0) is False  # the bound alone decides
    assert tri(None, None, 50.0) is None  # fields and fit unknown
    assert tri({"country": "DE"}, 0.0, 50.0) is False  # not(any(true, ...))
    assert tri({"country": "US"}, 10.0, 50.0) is None  # total may reach 80 or not
    assert tri({"country": "US"}, 10.0, 69.0) is None  # total < 80 for sure: not(...) holds
    assert tri({"country": "US"}, 10.0, 20.0) is False  # engagement never reaches 30


def test_cli_backtest_verifies_and_fails_on_a_disagreement(
    sqlite_url: str, tmp_path: Path, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadgate.analytics import setbased
    from leadgate.cli.main import app
    from leadgate.store.database import Database

    engine = Engine(Database(sqlite_url), clock)
    engine.ensure_playbook()
    _history(engine, clock)
    _, text = bundled_playbook()
    new = tmp_path / "new.yaml"
    new.write_text(text.replace("value: 30}]}", "value: 45}]}"), encoding="utf-8")
    base = ["backtest", str(new), "--db", sqlite_url, "--out", str(tmp_path / "bt")]
    r = runner.invoke(app, [*base, "--json"])
    # The default is the verified set-based path; --set-based says so explicitly.
    assert r.exit_code == 0 and json.loads(r.output)["meta"]["method"] == "set-based"
    default = json.loads(r.output)
    base.append("--set-based")
    r = runner.invoke(app, [*base, "--verify", "50", "--json"])
    assert r.exit_code == 0, r.output
    fast = json.loads(r.output)
    assert fast["meta"]["method"] == "set-based" and fast["meta"]["disagreements"] == 0
    assert fast["meta"]["verified_leads"] > 0
    r = runner.invoke(app, [*base, "--exact", "--workers", "1", "--json"])
    exact = json.loads(r.output)
    assert exact["meta"]["method"] == "exact"
    assert (exact["months"], exact["totals"], exact["changed"]) == (
        fast["months"],
        fast["totals"],
        fast["changed"],
    )
    assert (default["months"], default["totals"], default["changed"]) == (
        fast["months"],
        fast["totals"],
        fast["changed"],
    )
    r = runner.invoke(app, [*base, "--verify", "50"])
    assert r.exit_code == 0 and "0 disagreements" in r.output
    real = setbased.walk
    monkeypatch.setattr(setbased, "walk", lambda *a: [t + 1 for t in real(*a)])
    r = runner.invoke(app, [*base, "--verify", "1000"])
    assert r.exit_code == 1 and "verification failed" in r.output
    r = runner.invoke(app, [*base, "--verify", "-1"])
    assert r.exit_code == 2 and "verify" in r.output
