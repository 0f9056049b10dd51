"""Webhook targets (issue 13): private, loopback, link-local, metadata... addresses are
refused when the subscription is made and again at each delivery (after resolving the
name, so DNS rebinding is caught), unless LEADGATE_ALLOW_PRIVATE_WEBHOOKS=1.

No test resolves a real name: a fake resolver stands in for DNS."""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app as cli
from leadgate.webhooks import add_subscription, list_deliveries, list_subscriptions
from leadgate.webhooks.delivery import Deliverer, DeliverySettings
from leadgate.webhooks.targets import ALLOW_ENV, ip_literal, refusal, resolve_target

from .conftest import Api
from .receiver import Receiver

V1 = "/api/v1"
REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8080/hook",
    "http://[::1]/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://127.1/hook",
    "http://0177.0.0.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[fd00:ec2::254]/hook",
    "http://[64:ff9b::7f00:1]/hook",
    "http://[2002:7f00:1::]/hook",
    "https://localhost/hook",
]


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)


@pytest.mark.parametrize("url", REFUSED)
def test_post_webhooks_refuses_private_targets(api: Api, strict: None, url: str) -> None:
    r = api.post(f"{V1}/webhooks", json={"url": url, "events": ["lead.created"]})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert ALLOW_ENV in r.json()["detail"]
    assert r.json()["errors"][0]["pointer"] == "#/url"
    assert api.get(f"{V1}/webhooks").json()["items"] == []


def test_a_public_address_is_accepted_and_the_env_lifts_the_rule(
    api: Api, monkeypatch: pytest.MonkeyPatch, strict: None
) -> None:
    ok = api.post(
        f"{V1}/webhooks", json={"url": "https://93.184.216.34/hook", "events": ["lead.created"]}
    )
    assert ok.status_code == 201, ok.text
    monkeypatch.setenv(ALLOW_ENV, "1")
    lan = api.post(f"{V1}/webhooks", json={"url": "http://10.1.2.3/h", "events": ["lead.created"]})
    assert lan.status_code == 201, lan.text


def test_cli_webhooks_add_refuses_with_exit_2(
    api: Api, monkeypatch: pytest.MonkeyPatch, strict: None
) -> None:
    db = api.engine.db.url
    args = ["webhooks", "add", "http://169.254.169.254/", "--events", "lead.created", "--db", db]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert "169.254.169.254" in r.output and "metadata" in r.output
    assert list_subscriptions(api.engine.db) == []
    monkeypatch.setenv(ALLOW_ENV, "1")
    assert CliRunner().invoke(cli, args).exit_code == 0


def test_every_spelling_of_a_private_address_is_classified() -> None:
    for url in REFUSED:
        host = urlsplit(url).hostname or ""
        ip = ip_literal(host)
        if host == "localhost":
            continue
        assert ip is not None, url
        assert refusal(ip) is not None, url
    assert refusal(ipaddress.ip_address("8.8.8.8")) is None
    assert refusal(ipaddress.ip_address("2606:4700:4700::1111")) is None
    assert ip_literal("hooks.example.com") is None


# -- at delivery: resolve, check every address, connect to the checked one -------------------


def _deliver(api: Api, resolver: object) -> int:
    d = Deliverer(api.engine.db, DeliverySettings(timeout=5), resolver=resolver)  # type: ignore[arg-type]

    async def go() -> int:
        async with httpx.AsyncClient(timeout=5) as client:
            return await d.run_once(client)

    return asyncio.run(go())


def _fake_dns(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


def _subscribe_unchecked(api: Api, url: str) -> None:
    # As if the name had resolved to a public address when the subscription was made.
    add_subscription(api.engine.db, url, ["lead.created"], None, "t", allow_private=True)


@pytest.mark.parametrize(
    "addresses", [["127.0.0.1"], ["93.184.216.34", "10.0.0.7"], ["::ffff:169.254.169.254"]]
)
def test_a_name_that_rebinds_to_a_private_address_is_refused_at_delivery(
    api: Api, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, addresses: list[str]
) -> None:
    port = receiver.server.server_address[1]
    _subscribe_unchecked(api, f"http://hooks.example.test:{port}/hook")
    monkeypatch.delenv(ALLOW_ENV)
    api.post(f"{V1}/events", json={"email": "dns@acme.com", "type": "page_view"})
    assert _deliver(api, _fake_dns({"hooks.example.test": addresses})) == 1
    assert receiver.snapshot() == []
    (row,) = list_deliveries(api.engine.db)
    assert row["status"] == "pending" and row["last_status"] is None
    assert row["last_error"].startswith("refused: ")
    assert ALLOW_ENV in row["last_error"]


def test_delivery_goes_to_the_checked_address_with_the_name_in_host(
    api: Api, receiver: Receiver
) -> None:
    port = receiver.server.server_address[1]
    _subscribe_unchecked(api, f"http://hooks.example.test:{port}/hook")
    api.post(f"{V1}/events", json={"email": "host@acme.com", "type": "page_view"})
    # The env (set by the receiver fixture) allows 127.0.0.1; the name is never looked up
    # anywhere but in the fake table.
    assert _deliver(api, _fake_dns({"hooks.example.test": ["127.0.0.1"]})) == 1
    (got,) = receiver.snapshot()
    assert got.headers["host"] == f"hooks.example.test:{port}"
    assert list_deliveries(api.engine.db)[0]["status"] == "delivered"


def test_resolve_target_keeps_the_name_for_tls() -> None:
    async def go() -> None:
        dns = _fake_dns({"hooks.example.com": ["93.184.216.34"]})
        t = await resolve_target("https://hooks.example.com/a?b=1", dns, allow_private=False)
        assert t.url == "https://93.184.216.34/a?b=1"
        assert t.host_header == "hooks.example.com" and t.sni_hostname == "hooks.example.com"
        v6 = await resolve_target(
            "http://hooks.example.com:8080/x",
            _fake_dns({"hooks.example.com": ["2606:4700::1"]}),
            allow_private=False,
        )
        assert v6.url == "http://[2606:4700::1]:8080/x" and v6.sni_hostname is None

    asyncio.run(go())


def test_delivery_errors_never_carry_the_targets_answer(api: Api, receiver: Receiver) -> None:
    receiver.failing = True
    receiver.fail_body = b'{"AccessKeyId": "ASIA-SECRET-FROM-METADATA"}'
    api.post(f"{V1}/webhooks", json={"url": receiver.url, "events": ["lead.created"]})
    api.post(f"{V1}/events", json={"email": "body@acme.com", "type": "page_view"})
    assert _deliver(api, _fake_dns({})) == 1
    listed = api.get(f"{V1}/webhooks/deliveries")
    assert listed.status_code == 200
    assert "ASIA-SECRET" not in listed.text
    assert listed.json()["items"][0]["last_error"] == "HTTP 503"
