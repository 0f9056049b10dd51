"""End to end: a real `leadgate serve` (uvicorn) on 127.0.0.1 and a real webhook receiver.

The crash test kills the server with SIGKILL in the middle of a batch load, restarts it,
and checks that every event it had answered `accepted` is stored and that every stage
change is delivered under exactly one delivery id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leadgate.keys import create_key
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.webhooks import add_subscription, verify

from .receiver import Receiver

pytestmark = pytest.mark.slow
LEADGATE = str(Path(sys.executable).parent / "leadgate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`leadgate serve` in its own process group, so SIGKILL takes every worker with it."""

    def __init__(self, db_url: str, workers: int = 1, extra: tuple[str, ...] = ()):
        self.db_url = db_url
        self.workers = workers
        self.extra = extra
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {
            **os.environ,
            "LEADGATE_WEBHOOK_TIMEOUT": "2",
            "LEADGATE_WEBHOOK_BACKOFF_BASE": "0.2",
            "LEADGATE_WEBHOOK_BACKOFF_CAP": "1",
            "LEADGATE_WEBHOOK_POLL": "0.2",
            # The test receiver listens on 127.0.0.1.
            "LEADGATE_ALLOW_PRIVATE_WEBHOOKS": "1",
        }
        self.proc = subprocess.Popen(
            [LEADGATE, "serve", "--db", self.db_url, "--port", str(self.port),
             "--workers", str(self.workers), *self.extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "leadgate serve exited at start-up"
            time.sleep(0.1)
        raise AssertionError("leadgate serve did not become ready in 30 s")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture
def setup(db_url: str, receiver: Receiver) -> Iterator[tuple[str, dict[str, str], str]]:
    db = Database(db_url)
    _, key = create_key(db, "admin", "e2e")
    _, secret = add_subscription(db, receiver.url, ["lead.stage_changed"], None, "test")
    db.dispose()
    yield db_url, {"Authorization": f"Bearer {key}"}, secret


def stored(db_url: str) -> tuple[set[str], list[tuple[int, str, str]]]:
    db = Database(db_url)
    with db.read() as conn:
        repo = Repository(db, conn)
        ids = {r[0] for r in repo.execute("SELECT id FROM events").fetchall()}
        trans = [
            (int(r[0]), r[1], r[2])
            for r in repo.execute(
                "SELECT lead_id, from_stage, to_stage FROM transitions"
            ).fetchall()
        ]
    db.dispose()
    return ids, trans


def wait_delivered(receiver: Receiver, want: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len({r.headers["x-leadgate-delivery"] for r in receiver.snapshot()}) >= want:
            return
        time.sleep(0.2)


def check_deliveries(
    receiver: Receiver, secret: str, transitions: list[tuple[int, str, str]]
) -> None:
    by_id: dict[str, tuple[int, str, str]] = {}
    for r in receiver.snapshot():
        assert verify(secret, r.body, r.headers["x-leadgate-signature"])
        d = r.json["data"]
        by_id[r.headers["x-leadgate-delivery"]] = (d["lead_id"], d["from"], d["to"])
    # One delivery id per stored stage change, and every stored stage change delivered.
    assert Counter(by_id.values()) == Counter(transitions)


def test_crash_loses_no_accepted_event_and_no_stage_change(
    setup: tuple[str, dict[str, str], str], receiver: Receiver
) -> None:
    db_url, auth, secret = setup
    server = Server(db_url).start()
    accepted: set[str] = set()
    moved: list[int] = []
    stop = threading.Event()

    def load() -> None:
        n = 0
        with httpx.Client(base_url=server.base, headers=auth, timeout=10) as c:
            while not stop.is_set():
                batch = [
                    {"id": f"ev-{n}-{i}", "email": f"u{n}-{i}@corp{i % 7}.com",
                     "type": "demo_request" if i % 10 == 0 else "page_view"}
                    for i in range(200)
                ]  # fmt: skip
                n += 1
                try:
                    r = c.post("/api/v1/events", json={"events": batch})
                except httpx.HTTPError:
                    return
                if r.status_code != 200:
                    continue
                items = r.json()["items"]
                accepted.update(x["id"] for x in items if x["status"] == "accepted")
                if n % 3 == 0:  # a person moves one of the new MQLs: an acknowledged change
                    lid = items[0]["lead_id"]
                    try:
                        if (
                            c.post(f"/api/v1/leads/{lid}/stage", json={"to": "sal"}).status_code
                            == 200
                        ):
                            moved.append(lid)
                    except httpx.HTTPError:
                        return

    t = threading.Thread(target=load)
    try:
        t.start()
        time.sleep(2.0)
        server.kill9()
        stop.set()
        t.join(30)
        assert accepted and moved
        ids, _ = stored(db_url)
        assert accepted <= ids, f"{len(accepted - ids)} accepted events lost"
        server = Server(db_url).start()
        _, transitions = stored(db_url)
        assert {(lid, "mql", "sal") for lid in moved} <= set(transitions)
        wait_delivered(receiver, len(transitions))
        check_deliveries(receiver, secret, transitions)
    finally:
        stop.set()
        server.stop()


def test_two_workers_send_each_delivery_once(
    setup: tuple[str, dict[str, str], str], receiver: Receiver
) -> None:
    db_url, auth, secret = setup
    server = Server(db_url, workers=2).start()
    try:
        with httpx.Client(base_url=server.base, headers=auth, timeout=10) as c:
            for i in range(40):
                r = c.post(
                    "/api/v1/events", json={"email": f"w{i}@corp.com", "type": "demo_request"}
                )
                assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
            lead = c.get("/api/v1/leads", params={"limit": 1}).json()["items"][0]
            assert c.get(f"/api/v1/leads/{lead['id']}").json()["stage"] == "mql"
            bad = c.post(f"/api/v1/leads/{lead['id']}/stage", json={"to": "sqo"})
            assert bad.status_code == 409
            assert bad.headers["content-type"] == "application/problem+json"
        _, transitions = stored(db_url)
        assert len(transitions) == 40
        wait_delivered(receiver, 40)
        time.sleep(1.0)  # a double send would show up here
        got = [r.headers["x-leadgate-delivery"] for r in receiver.snapshot()]
        assert len(got) == len(set(got)) == 40
        check_deliveries(receiver, secret, transitions)
    finally:
        server.stop()
