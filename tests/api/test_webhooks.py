"""Webhooks: the outbox commits with the change, deliveries are signed, retried with
backoff, dead-lettered, replayed; one delivery id per event per subscription."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app as cli
from leadgate.webhooks import list_deliveries, outbox_counts, replay, sign, verify
from leadgate.webhooks.delivery import Deliverer, DeliverySettings, claim

from .conftest import Api
from .receiver import Receiver

V1 = "/api/v1"


def deliver_once(api: Api, settings: DeliverySettings | None = None) -> int:
    d = Deliverer(api.engine.db, settings or DeliverySettings(timeout=5))

    async def go() -> int:
        async with httpx.AsyncClient(timeout=5) as client:
            return await d.run_once(client)

    return asyncio.run(go())


def subscribe(api: Api, url: str, events: list[str]) -> str:
    r = api.post(f"{V1}/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    return str(r.json()["secret"])


def test_stage_change_is_delivered_signed_with_a_delivery_id(api: Api, receiver: Receiver) -> None:
    secret = subscribe(api, receiver.url, ["lead.stage_changed", "lead.created"])
    assert secret.startswith("whsec_")
    listed = api.get(f"{V1}/webhooks").json()["items"]
    assert listed[0]["url"] == receiver.url and "secret" not in listed[0]
    lid = api.post(f"{V1}/events", json={"email": "ann@acme.com", "type": "demo_request"}).json()[
        "items"
    ][0]["lead_id"]
    api.post(f"{V1}/leads/{lid}/stage", json={"to": "sal"})
    assert deliver_once(api) == 3
    got = receiver.snapshot()
    kinds = sorted((r.json["type"], r.json["data"].get("to")) for r in got)
    assert kinds == [
        ("lead.created", None),
        ("lead.stage_changed", "mql"),
        ("lead.stage_changed", "sal"),
    ]
    for r in got:
        assert verify(secret, r.body, r.headers["x-leadgate-signature"])
        assert not verify("whsec_wrong-secret-000000", r.body, r.headers["x-leadgate-signature"])
        assert r.headers["x-leadgate-delivery"] == r.json["id"]
        assert r.json["data"]["lead_id"] == lid
    assert len({r.headers["x-leadgate-delivery"] for r in got}) == 3
    assert deliver_once(api) == 0  # nothing sent twice
    assert outbox_counts(api.engine.db) == {"pending": 0, "delivered": 3, "dead": 0}


def test_signature_format_and_replay_window() -> None:
    body = b'{"a":1}'
    header = sign("s3cret-s3cret-s3cret", body, 1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000" and v1.startswith("v1=") and len(v1) == 3 + 64
    assert verify("s3cret-s3cret-s3cret", body, header, now=1_700_000_100)
    assert not verify("s3cret-s3cret-s3cret", body, header, now=1_700_001_000)  # too old
    assert not verify("s3cret-s3cret-s3cret", body + b" ", header, now=1_700_000_000)


def test_outbox_rolls_back_with_the_change(api: Api, receiver: Receiver) -> None:
    subscribe(api, receiver.url, ["lead.stage_changed"])

    def fail_after_outbox(repo, changes, now):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    api.engine.listeners.append(fail_after_outbox)
    r = api.post(f"{V1}/events", json={"email": "x@corp.com", "type": "demo_request"})
    assert r.status_code == 500
    api.engine.listeners.remove(fail_after_outbox)
    assert list_deliveries(api.engine.db) == []
    assert api.get(f"{V1}/leads").json()["items"] == []


def test_failures_retry_with_backoff_then_dead_letter_then_replay(
    api: Api, receiver: Receiver
) -> None:
    subscribe(api, receiver.url, ["lead.stage_changed"])
    api.post(f"{V1}/events", json={"email": "y@corp.com", "type": "demo_request"})
    receiver.failing = True
    s = DeliverySettings(timeout=5, backoff_base=0.0, backoff_cap=0.0, max_attempts=3)
    assert deliver_once(api, s) == 1
    d = list_deliveries(api.engine.db)[0]
    assert (d["status"], d["attempts"], d["last_status"]) == ("pending", 1, 503)
    deliver_once(api, s)
    deliver_once(api, s)
    d = list_deliveries(api.engine.db)[0]
    assert (d["status"], d["attempts"]) == ("dead", 3)
    assert deliver_once(api, s) == 0
    receiver.failing = False
    r = api.post(f"{V1}/webhooks/replay", json={"dead": True})
    assert r.json() == {"queued": 1}
    assert deliver_once(api, s) == 1
    got = receiver.snapshot()
    assert len(got) == 1 and got[0].headers["x-leadgate-delivery"] == d["id"]
    assert list_deliveries(api.engine.db)[0]["status"] == "delivered"


def test_backoff_grows_exponentially_and_is_capped() -> None:
    s = DeliverySettings(backoff_base=10, backoff_cap=3600, max_attempts=12)
    delays = [s.backoff(n) for n in range(1, 13)]
    assert 10 <= delays[0] <= 11 and 20 <= delays[1] <= 22 and 80 <= delays[3] <= 88
    assert all(d <= 3600 * 1.1 for d in delays)
    # Twelve attempts span well over an hour: a receiver down for an hour loses nothing.
    assert sum(delays[:-1]) > 3 * 3600


def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(
    api: Api, receiver: Receiver
) -> None:
    subscribe(api, receiver.url, ["lead.created"])
    api.post(f"{V1}/events", json={"email": "z@corp.com", "type": "page_view"})
    now = time.time()
    first = claim(api.engine.db, "w1", now, 10, lease=30)
    assert len(first) == 1
    assert claim(api.engine.db, "w2", now, 10, lease=30) == []
    assert [c.id for c in claim(api.engine.db, "w2", now + 31, 10, lease=30)] == [first[0].id]


def test_score_changes_are_announced_to_subscribers(api: Api, receiver: Receiver) -> None:
    subscribe(api, receiver.url, ["lead.score_changed"])
    api.post(f"{V1}/leads", json={"email": "s@corp.com"})
    api.post(f"{V1}/events", json={"email": "s@corp.com", "type": "webinar_attended"})
    deliver_once(api)
    got = receiver.snapshot()
    assert len(got) == 1
    data = got[0].json["data"]
    assert data["score"] > data["score_before"]


def test_webhook_input_is_validated(api: Api) -> None:
    r = api.post(f"{V1}/webhooks", json={"url": "ftp://x", "events": ["lead.created"]})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/url"
    r = api.post(
        f"{V1}/webhooks", json={"url": "http://93.184.216.34/x", "events": ["lead.deleted"]}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/events"
    assert (
        api.post(
            f"{V1}/webhooks",
            role="marketing",
            json={"url": "http://a.b/", "events": ["lead.created"]},
        ).status_code
        == 403
    )


def test_cli_keys_and_webhooks(db_url: str, receiver: Receiver) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["keys", "create", "--role", "ingest", "--name", "site", "--db", db_url])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    assert key.startswith("lg_")
    r = runner.invoke(cli, ["keys", "list", "--json", "--db", db_url])
    assert r.exit_code == 0 and key not in r.stdout and '"site"' in r.stdout
    r = runner.invoke(cli, ["keys", "create", "--role", "boss", "--name", "x", "--db", db_url])
    assert r.exit_code == 2 and "role" in r.stderr
    r = runner.invoke(cli, ["keys", "revoke", "site", "--db", db_url])
    assert r.exit_code == 0 and "revoked" in r.stdout
    r = runner.invoke(cli, ["keys", "revoke", "nobody", "--db", db_url])
    assert r.exit_code == 2
    r = runner.invoke(
        cli,
        [
            "webhooks",
            "add",
            receiver.url,
            "--events",
            "lead.created,lead.stage_changed",
            "--db",
            db_url,
        ],
    )
    assert r.exit_code == 0 and "whsec_" in r.stdout, r.output
    r = runner.invoke(
        cli, ["webhooks", "add", receiver.url, "--events", "lead.nope", "--db", db_url]
    )
    assert r.exit_code == 2 and "lead.nope" in r.stderr
    r = runner.invoke(cli, ["webhooks", "list", "--json", "--db", db_url])
    assert r.exit_code == 0 and receiver.url in r.stdout
    r = runner.invoke(cli, ["webhooks", "replay", "--db", db_url])
    assert r.exit_code == 2
    r = runner.invoke(cli, ["webhooks", "replay", "--dead", "--db", db_url])
    assert r.exit_code == 0 and "0 deliveries" in r.stdout
    r = runner.invoke(cli, ["webhooks", "replay", "--delivery", "nope", "--db", db_url])
    assert r.exit_code == 2


@pytest.mark.parametrize("bad", ["", "lg_short_x", "x" * 500])
def test_garbage_keys_are_401(api: Api, bad: str) -> None:
    r = api.client.get(f"{V1}/leads", headers={"Authorization": f"Bearer {bad}"})
    assert r.status_code == 401


def test_replay_one_delivery(api: Api, receiver: Receiver) -> None:
    subscribe(api, receiver.url, ["lead.created"])
    api.post(f"{V1}/events", json={"email": "r@corp.com", "type": "page_view"})
    deliver_once(api)
    did = list_deliveries(api.engine.db)[0]["id"]
    assert replay(api.engine.db, did) == 1
    deliver_once(api)
    got = receiver.snapshot()
    assert [g.headers["x-leadgate-delivery"] for g in got] == [did, did]


def _revision(api: Api) -> int:
    with api.engine.db.read() as conn:
        return int(conn.exec_driver_sql("SELECT rev FROM store_revision").scalar_one())


def test_an_idle_delivery_poll_writes_nothing(api: Api, receiver: Receiver) -> None:
    """The delivery loop polls every second; a poll that finds nothing due must not open a
    write transaction: each one bumps the store revision, and the engine then reads every
    lead of the next event batch from the store again instead of from its cache."""
    if not api.engine.db.is_sqlite:
        pytest.skip("PostgreSQL stores keep no revision (and no lead cache)")
    subscribe(api, receiver.url, ["lead.created"])
    api.post(f"{V1}/events", json={"email": "idle@corp.com", "type": "page_view"})
    now = time.time()
    assert len(claim(api.engine.db, "w1", now, 10, lease=30)) == 1
    before = _revision(api)
    assert claim(api.engine.db, "w2", now, 10, lease=30) == []  # leased: nothing due
    assert claim(api.engine.db, "w2", now + 31, 10, lease=30) != []  # lease over: due again
    assert _revision(api) == before + 1
    assert claim(api.engine.db, "w3", now + 31, 10, lease=30) == []
    assert _revision(api) == before + 1
