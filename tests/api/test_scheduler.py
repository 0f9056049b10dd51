"""The scheduler tick inside `leadgate serve` and `leadgate worker`: an MQL whose acceptance
SLA runs out while only the server (or only the worker) runs is escalated, and its
`lead.sla_breached` webhook reaches a real receiver, once.

The end-to-end tests use a real clock: an SLA of 0.0005 business hours (1.8 s) for reps
who work round the clock, and a tick every 0.3 s. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.api.background import DEFAULT_TICK_SECONDS, Ticker, stop_task
from leadgate.cli import api as cli_api
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.keys import create_key
from leadgate.playbook.loader import bundled_playbook
from leadgate.sales import install
from leadgate.store.database import Database
from leadgate.webhooks import add_subscription, verify
from tests.sales.conftest import overdue_mqls, race_ticks

from .receiver import Receiver
from .test_server import LEADGATE, Server, free_port

ALWAYS = {"hours": "00:00-24:00", "days": "mon-sun"}
SLA_HOURS = 0.0005  # 1.8 s
TICK = "0.3"


def short_sla_playbook() -> str:
    _, text = bundled_playbook()
    out, n = re.subn(r"accept_within_hours: *[0-9.]+", f"accept_within_hours: {SLA_HOURS}", text)
    assert n == 1, "the bundled playbook no longer sets stages.sal.accept_within_hours"
    return out


@pytest.fixture
def team(db_url: str, receiver: Receiver) -> Iterator[tuple[str, str, str]]:
    """A store with a short SLA, two BDRs, a `lead.sla_breached` subscription and an admin
    key: (url, signing secret, key)."""
    db = Database(db_url)
    engine = Engine(db)
    engine.activate_playbook(short_sla_playbook(), "test", "test")
    sales = install(engine)
    sales.add_rep("anna", "bdr", **ALWAYS)
    sales.add_rep("bo", "bdr", **ALWAYS)
    _, secret = add_subscription(db, receiver.url, ["lead.sla_breached"], None, "test")
    _, key = create_key(db, "admin", "e2e")
    db.dispose()
    yield db_url, secret, key


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def breaches(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    out = []
    for r in receiver.snapshot():
        assert verify(secret, r.body, r.headers["x-leadgate-signature"])
        assert r.json["type"] == "lead.sla_breached"
        out.append({"delivery": r.headers["x-leadgate-delivery"], **r.json["data"]})
    return out


def check_escalation(receiver: Receiver, secret: str, lead_id: int, db_url: str) -> None:
    """anna misses the SLA → reassigned to bo; bo misses it → nobody left, stays overdue.
    Exactly those two breaches, each sent once (no worker fired a job twice)."""
    wait_for(lambda: len(breaches(receiver, secret)) >= 2, 60, "two lead.sla_breached webhooks")
    time.sleep(1.5)  # five more ticks: a second firing of either job would show up here
    got = breaches(receiver, secret)
    assert len({g["delivery"] for g in got}) == len(got) == 2, got
    first, second = sorted(got, key=lambda g: g["breached_at"])
    assert first["lead_id"] == second["lead_id"] == lead_id
    assert (first["owner"], first["reassigned_to"]) == ("anna", "bo")
    assert (second["owner"], second["reassigned_to"]) == ("bo", None)
    db = Database(db_url)
    try:
        lead = install(Engine(db)).engine.show(first["email"])
    finally:
        db.dispose()
    assert lead["owner"] == "bo" and lead["sla_overdue"] is True
    assert [a["actor"] for a in lead["assignments"]][-1] == "rule:sla"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_fires_an_sla_breach_and_delivers_its_webhook(
    team: tuple[str, str, str], receiver: Receiver, workers: int
) -> None:
    db_url, secret, key = team
    server = Server(db_url, workers=workers, extra=("--tick-seconds", TICK)).start()
    try:
        with httpx.Client(
            base_url=server.base, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as c:
            r = c.post("/api/v1/events", json={"email": "late@acme.com", "type": "demo_request"})
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
            lead_id = r.json()["items"][0]["lead_id"]
            lead = c.get(f"/api/v1/leads/{lead_id}").json()
            assert lead["stage"] == "mql" and lead["owner"] == "anna", lead
        check_escalation(receiver, secret, lead_id, db_url)
    finally:
        server.stop()


@pytest.mark.slow
def test_serve_without_the_tick_fires_nothing(
    team: tuple[str, str, str], receiver: Receiver
) -> None:
    db_url, _, key = team
    server = Server(db_url, extra=("--tick-seconds", TICK, "--no-tick")).start()
    try:
        with httpx.Client(
            base_url=server.base, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as c:
            r = c.post("/api/v1/events", json={"email": "late@acme.com", "type": "demo_request"})
            assert r.status_code == 200, r.text
        time.sleep(3.0)  # the SLA (1.8 s) has run out: only a tick would announce it
        assert receiver.snapshot() == []
    finally:
        server.stop()


@pytest.mark.slow
def test_worker_alone_fires_an_sla_breach_and_delivers_its_webhook(
    team: tuple[str, str, str], receiver: Receiver
) -> None:
    db_url, secret, _ = team
    db = Database(db_url)
    engine = Engine(db)
    install(engine)
    now = engine.clock()
    engine.ingest(
        [parse_event({"email": "late@acme.com", "type": "demo_request", "id": "d-1"}, now)]
    )
    lead = engine.show("late@acme.com")
    db.dispose()
    assert lead["stage"] == "mql" and lead["owner"] == "anna"
    env = {**os.environ, "LEADGATE_WEBHOOK_POLL": "0.2", "LEADGATE_WEBHOOK_TIMEOUT": "2"}
    proc = subprocess.Popen(
        [LEADGATE, "worker", "--db", db_url, "--tick-seconds", TICK],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        check_escalation(receiver, secret, lead["id"], db_url)
        assert proc.poll() is None, "the worker exited"
        # SIGTERM stops it cleanly: the loops end, exit status 0.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()


def test_worker_refuses_to_run_nothing(sqlite_url: str) -> None:
    r = subprocess.run(
        [LEADGATE, "worker", "--db", sqlite_url, "--no-deliver", "--no-tick"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "nothing left to run" in r.stderr


def test_cli_default_interval_matches_the_loop() -> None:
    assert cli_api.DEFAULT_TICK_SECONDS == DEFAULT_TICK_SECONDS


# -- in process, on the hand-moved clock -------------------------------------------


def test_the_app_ticks_in_its_lifespan_and_stops_with_it(engine: Engine, clock: Any) -> None:
    sales = install(engine)
    sales.add_rep("anna", "bdr", **ALWAYS)
    app = create_app(engine=engine, tick=True, tick_seconds=0.05)
    ticker = app.state.ticker
    assert isinstance(ticker, Ticker)
    with TestClient(app):
        now = clock()
        engine.ingest(
            [parse_event({"email": "x@acme.com", "type": "demo_request", "id": "d"}, now)]
        )
        assert engine.show("x@acme.com")["sla_overdue"] is False
        clock.advance(2 * 3600)  # the bundled playbook's SLA is one hour
        wait_for(lambda: engine.show("x@acme.com")["sla_overdue"] is True, 20, "the breach")
        wait_for(lambda: ticker.ticks >= 2, 20, "two ticks")
    n = ticker.ticks
    time.sleep(0.3)
    assert ticker.ticks == n, "the tick loop outlived the app"
    assert ticker.failures == 0


def test_the_app_does_not_tick_unless_told(engine: Engine) -> None:
    assert create_app(engine=engine).state.ticker is None


def test_a_failing_tick_is_logged_and_retried(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def flaky(fn: Callable[[], Any]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        return await asyncio.to_thread(fn)

    ticker = Ticker(engine, 0.02, run_write=flaky)

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(ticker.run(stop))
        for _ in range(500):
            if ticker.ticks >= 2:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await stop_task(task, grace=10)
        assert task.done() and not task.cancelled()

    asyncio.run(go())
    assert ticker.failures == 1 and ticker.ticks >= 2
    assert "tick failed" in caplog.text and "database went away" in caplog.text


def test_two_processes_ticking_one_sqlite_file_fire_each_job_once(
    sqlite_url: str, clock: Any
) -> None:
    """Why `serve --workers N` on SQLite needs no elected ticker: each claim is one
    BEGIN IMMEDIATE transaction, so two stores on one file take turns, and the second
    finds the jobs already fired."""
    n_leads = 60
    setup = overdue_mqls(sqlite_url, clock, n_leads)
    results = race_ticks(sqlite_url, clock, passes=3, limit=7)
    assert sum(r["sla_breached"] for r in results) == n_leads
    with setup.db.read() as conn:
        per_lead = conn.exec_driver_sql(
            "SELECT lead_id, COUNT(*) FROM sales_notices GROUP BY lead_id"
        ).fetchall()
    assert len(per_lead) == n_leads and all(c == 1 for _, c in per_lead)
    setup.db.dispose()


def test_a_tick_sends_the_nurture_mail_over_smtp(engine: Engine, clock: Any) -> None:
    """The tick's mail half (claim, SMTP send in a thread, record) against a real local
    SMTP server: a lead sent to nurture gets its first e-mail at the next tick."""
    from tests.sales.test_nurture import SmtpServer, sections

    server = SmtpServer(free_port())
    server.start()
    try:
        s = install(engine, sections=sections(server.port))
        s.add_rep("anna", "bdr", **ALWAYS)
        now = clock()
        engine.upsert_leads([("ann@acme.com", {"first_name": "Ann", "company": "Acme"}, None)])
        engine.ingest(
            [parse_event({"email": "ann@acme.com", "type": "demo_request", "id": "a"}, now)]
        )
        engine.set_stage("ann@acme.com", "nurture", "not now", "user:anna")
        out = asyncio.run(Ticker(engine, 1.0).tick())
        assert out["messages_queued"] == 1 and out["messages_sent"] == 1, out
        assert server.subjects == ["Hi Ann"]
        again = asyncio.run(Ticker(engine, 1.0).tick())
        assert again["messages_sent"] == 0 and server.subjects == ["Hi Ann"]  # sent once
    finally:
        server.stop()
