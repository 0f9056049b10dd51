"""The API's writer process (issue 17): `leadgate serve` on SQLite stores event batches in a
process of its own. What a user sees must not depend on it: the answers, the leads, their
stage history and webhooks are the same as with the writer in the server's own threads,
and a writer that dies costs the requests it was storing a 503, not the server."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.api.context import ApiContext
from leadgate.api.writer_process import WriterGone, WriterProcess
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import EventIn, parse_event
from leadgate.keys import create_key
from leadgate.store.database import Database
from leadgate.store.trouble import StoreTrouble, Trouble, trouble

DAY = 86400.0
# Reps at work whenever the test clock says (it starts on a Thursday morning).
ALWAYS = {"hours": "00:00-24:00", "days": "mon-sun"}


def _engine(url: str, clock: Any) -> Engine:
    eng = Engine(Database(url), clock=clock)
    eng.ensure_playbook()
    return eng


@pytest.fixture
def writer(sqlite_url: str, clock: Any) -> Iterator[WriterProcess]:
    _engine(sqlite_url, clock)
    w = WriterProcess(sqlite_url, server_gc=False)
    w.start()
    yield w
    w.stop()


def _script(now: float) -> list[dict[str, Any]]:
    """Batches a user might send: an MQL by a hand-raiser, scores building up to the rule,
    a repeated id, an invalid item, an event older than what the lead has seen (its
    history is derived again), and a lead the decay takes back out of MQL."""
    ev = lambda i, email, typ, at: {  # noqa: E731
        "id": f"e{i}",
        "email": email,
        "type": typ,
        "occurred_at": at,
    }
    return [
        {"events": [ev(1, "ann@acme.com", "demo_request", now - 5 * DAY)]},
        {
            "events": [
                ev(2, "bob@acme.com", "whitepaper_download", now - 4 * DAY),
                ev(3, "bob@acme.com", "trial_signup", now - 4 * DAY + 60),
                ev(4, "bob@acme.com", "webinar_attended", now - 3 * DAY),
                {"id": "bad", "email": "not an address", "type": "page_view"},
            ]
        },
        {"events": [ev(3, "bob@acme.com", "trial_signup", now - 4 * DAY + 60)]},
        {"events": [ev(5, "bob@acme.com", "webinar_attended", now - 6 * DAY)]},
        {"events": [ev(6, "cy@acme.com", "demo_request", now - 120 * DAY)]},
        {"events": [ev(7, "cy@acme.com", "email_click", now - 1 * DAY)]},
    ]


def _what_users_see(engine: Engine) -> dict[str, Any]:
    with engine.db.read() as conn:
        leads = conn.exec_driver_sql(
            "SELECT email, stage, stage_at, fit, engagement, score, fit_grade, "
            "engagement_grade, next_due_at, owner FROM leads ORDER BY email"
        ).fetchall()
        history = conn.exec_driver_sql(
            "SELECT l.email, t.from_stage, t.to_stage, t.at, t.actor, t.reason "
            "FROM transitions t JOIN leads l ON l.id = t.lead_id ORDER BY l.email, t.id"
        ).fetchall()
        events = conn.exec_driver_sql(
            "SELECT id, lead_id, type, occurred_at FROM events ORDER BY id"
        ).fetchall()
        webhooks = []
        for typ, lead, payload, created in conn.exec_driver_sql(
            "SELECT event_type, lead_id, payload, created_at FROM webhook_outbox"
        ):
            body = orjson.loads(payload)
            body.pop("id")  # a delivery id is random
            webhooks.append((typ, lead, created, orjson.dumps(body, option=orjson.OPT_SORT_KEYS)))
    return {"leads": leads, "history": history, "events": events, "webhooks": sorted(webhooks)}


class _Wakes:
    """Stands in for the delivery loop: counts the times it is woken."""

    def __init__(self) -> None:
        self.n = 0

    def wake(self) -> None:
        self.n += 1


def _writer_ready(ctx: ApiContext) -> WriterProcess:
    """The app's writer once it has started beside the server (batches meanwhile are
    stored in the server's threads)."""
    deadline = time.time() + 60
    while ctx.writer is None:
        assert time.time() < deadline, "the writer process did not start"
        time.sleep(0.02)
    return ctx.writer


def _run(url: str, clock: Any, writer_process: bool) -> tuple[list[Any], dict[str, Any], int]:
    engine = _engine(url, clock)
    _, key = create_key(engine.db, "admin", "t")
    auth = {"Authorization": f"Bearer {key}"}
    app = create_app(engine=engine, writer_process=writer_process)
    answers = []
    with TestClient(app, raise_server_exceptions=False) as client:
        ctx: ApiContext = app.state.leadgate
        pid = _writer_ready(ctx).pid if writer_process else os.getpid()
        assert (ctx.writer is not None) is writer_process
        wakes = _Wakes()
        ctx.deliverer = wakes  # type: ignore[assignment]
        # MQLs are routed to reps (in the transaction that makes them) and announced.
        for rep in ("anna", "bo"):
            r = client.post(
                "/api/v1/reps", json={"name": rep, "role": "bdr", **ALWAYS}, headers=auth
            )
            assert r.status_code == 201, r.text
        r = client.post(
            "/api/v1/webhooks",
            json={"url": "http://127.0.0.1:9/leadgate", "events": ["lead.created",
                  "lead.stage_changed", "lead.stage_corrected", "lead.assigned"]},
            headers=auth,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        for body in _script(clock()):
            r = client.post("/api/v1/events", json=body, headers=auth)
            answers.append((r.status_code, r.json()))
        # The delivery loop was woken after each batch that queued webhooks.
        assert wakes.n >= 3
        # The scheduler's tick runs in the server's process, after the writer's writes.
        clock.advance(30 * DAY)
        engine.tick()
    return answers, _what_users_see(engine), pid


def test_the_writer_process_changes_nothing_a_user_sees(
    tmp_path: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The subscription's receiver is never called (no delivery loop): an address that
    # needs no name lookup.
    monkeypatch.setenv("LEADGATE_ALLOW_PRIVATE_WEBHOOKS", "1")
    urls = [f"sqlite:///{tmp_path / name}.db" for name in ("thread", "process")]
    for url in urls:
        Database(url).migrate()
    start = clock()
    by_thread = _run(urls[0], clock, writer_process=False)
    clock.now = start
    by_process = _run(urls[1], clock, writer_process=True)

    assert by_process[2] != os.getpid()  # stored elsewhere
    assert by_process[0] == by_thread[0]  # every answer, item by item
    assert by_process[1] == by_thread[1]  # leads, stage history, events
    seen = by_thread[1]
    assert {r[2] for r in seen["history"]} >= {"mql", "nurture"}  # the script moves leads
    assert "anna" in {r[9] for r in seen["leads"]}  # and routes them
    assert {w[0] for w in seen["webhooks"]} >= {"lead.created", "lead.stage_changed"}
    assert by_thread[0][2][1]["items"][0]["status"] == "duplicate"
    assert by_thread[0][1][1]["items"][3]["status"] == "rejected"


def test_queued_batches_share_a_transaction_in_the_writer(
    sqlite_url: str, clock: Any, writer: WriterProcess
) -> None:
    engine = _engine(sqlite_url, clock)
    ctx = ApiContext(engine)
    ctx.writer = writer
    now = clock()
    batches = [
        [
            parse_event(
                {"id": f"{t}{i}", "email": f"{t}{i % 3}@acme.com", "type": "page_view",
                 "occurred_at": now - 3600 + i},
                now,
            )
            for i in range(30)
        ]
        for t in "abcd"
    ]  # fmt: skip
    batches[2][:2] = batches[1][:2]  # a duplicate across requests stays one

    async def run() -> list[Any]:
        return await asyncio.gather(*(ctx.ingest(b, now) for b in batches))

    results = asyncio.run(run())
    assert ctx.group_commits == 1
    for batch, items in zip(batches, results, strict=True):
        assert [r.index for r in items] == list(range(len(batch)))
        assert [r.id for r in items] == [ev.id for ev in batch]
    assert [r.status for r in results[2][:2]] == ["duplicate", "duplicate"]
    with engine.db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 4 * 30 - 2


def test_a_writer_that_dies_mid_write_costs_that_write_a_503(
    sqlite_url: str, clock: Any, writer: WriterProcess
) -> None:
    now = clock()
    ev = EventIn("x1", "dee@acme.com", "page_view", now - 60)
    pid = writer.pid
    assert pid is not None
    with open(f"/proc/{pid}/comm") as fh:  # what `ps` and `top` call it
        assert fh.read().strip() == "leadgate-writer"
    os.kill(pid, signal.SIGSTOP)  # the writer takes the batch but never answers
    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(WriterGone) as err:
        writer.write([([ev], now)])
    found = trouble(err.value)
    assert found is not None and found.status == 503 and found.kind == "writer-restarted"
    assert "send it again" in found.message
    # The next write starts a new writer, and the batch sent again is stored once.
    outcomes, _, _ = writer.write([([ev], now)])
    assert writer.pid != pid and writer.starts == 2
    assert [r.status for r in outcomes[0]] == ["accepted"]  # type: ignore[union-attr]


def test_over_http_a_dead_writer_is_a_503_then_the_server_goes_on(
    sqlite_url: str, clock: Any
) -> None:
    engine = _engine(sqlite_url, clock)
    _, key = create_key(engine.db, "admin", "t")
    auth = {"Authorization": f"Bearer {key}"}
    app = create_app(engine=engine, writer_process=True)
    body = {"id": "y1", "email": "eve@acme.com", "type": "page_view", "occurred_at": clock()}
    with TestClient(app, raise_server_exceptions=False) as client:
        writer = _writer_ready(app.state.leadgate)
        pid = writer.pid
        os.kill(pid, signal.SIGSTOP)
        threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
        r = client.post("/api/v1/events", json=body, headers=auth)
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"].endswith("writer-restarted")
        assert r.headers["retry-after"] == "1"
        r = client.post("/api/v1/events", json=body, headers=auth)
        assert r.status_code == 200 and r.json()["accepted"] == 1
    # The app's end stops its writer.
    assert writer.pid is None
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)


def test_a_playbook_activated_by_the_server_is_the_writers_too(
    sqlite_url: str, clock: Any, writer: WriterProcess
) -> None:
    engine = _engine(sqlite_url, clock)
    now = clock()
    writer.write([([EventIn("p1", "fay@acme.com", "page_view", now - 60)], now)])
    from leadgate.playbook.loader import bundled_playbook

    _, text = bundled_playbook()
    old = "{event: webinar_attended, points: 20}"
    assert old in text
    version, _, _ = engine.activate_playbook(
        text.replace(old, "{event: webinar_attended, points: 45}"), "test"
    )
    writer.write([([EventIn("p2", "fay@acme.com", "webinar_attended", now - 30)], now)])
    with engine.db.read() as conn:
        got = conn.exec_driver_sql(
            "SELECT playbook_version, engagement FROM leads WHERE email = 'fay@acme.com'"
        ).fetchone()
    assert tuple(got) == (version, 45.0)


def test_store_trouble_keeps_its_meaning_across_the_pipe() -> None:
    import pickle

    found = Trouble(507, "store-full", "the store's disk is full", None)
    back = pickle.loads(pickle.dumps(StoreTrouble(found)))
    assert trouble(back) == found
    assert str(back) == "the store's disk is full"


def test_a_writer_that_cannot_start_says_why(tmp_path: Any) -> None:
    w = WriterProcess(f"sqlite:///{tmp_path}/no/such/folder/leadgate.db", server_gc=False)
    with pytest.raises(Exception) as err:
        w.start()
    assert "no/such/folder" in str(err.value) or "unable to open" in str(err.value)
    assert w.pid is None  # nothing left running


def test_the_server_still_serves_when_its_writer_cannot_start(
    sqlite_url: str, clock: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    engine = _engine(sqlite_url, clock)
    _, key = create_key(engine.db, "admin", "t")

    def refuse(self: WriterProcess) -> None:
        raise RuntimeError("the writer process did not start in 60 s")

    monkeypatch.setattr(WriterProcess, "start", refuse)
    app = create_app(engine=engine, writer_process=True)
    body = {"id": "z1", "email": "gus@acme.com", "type": "page_view", "occurred_at": clock()}
    with TestClient(app, raise_server_exceptions=False) as client:
        deadline = time.time() + 10
        while "writing in this process" not in caplog.text and time.time() < deadline:
            time.sleep(0.02)
        assert app.state.leadgate.writer is None
        r = client.post("/api/v1/events", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["accepted"] == 1
    assert "writing in this process" in caplog.text
