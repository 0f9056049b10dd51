"""The in-memory rate limit of the anonymous routes, as an adversary meets it.

- An IPv6 client usually holds a whole /64 (often a /56 or /48): counting each
  address alone lets one visitor rotate through 2^64 fresh limits. Addresses are
  counted by their /64; an IPv4-mapped IPv6 address is its IPv4 address.
- A flood of distinct names (addresses, visitor ids) must not grow the table without
  bound, nor make each new name cost a scan of the whole table.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadgate import ratelimit
from leadgate.ratelimit import RateLimit, client_key


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def test_one_ipv6_64_shares_one_limit() -> None:
    limit = RateLimit(3, 60.0, Clock())
    hosts = [f"2001:db8:1:2::{i:x}" for i in range(1, 10)]
    verdicts = [limit.retry_after(client_key(h)) for h in hosts]
    assert verdicts[:3] == [None, None, None]
    assert all(v is not None for v in verdicts[3:]), "rotating inside a /64 escaped the limit"
    # The next /64 is someone else.
    assert limit.retry_after(client_key("2001:db8:1:3::1")) is None


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("2001:DB8:0:0:1::7", "2001:db8::/64"),
        ("2001:db8::1%eth0", "2001:db8::/64"),
        ("unknown", "unknown"),
        ("testclient", "testclient"),
        ("", ""),
    ],
)
def test_client_key(host: str, key: str) -> None:
    assert client_key(host) == key


@given(st.text(max_size=300))
def test_client_key_takes_anything(host: str) -> None:
    key = client_key(host)
    assert isinstance(key, str) and len(key) <= 100


@given(st.ip_addresses(v=6))
def test_every_ipv6_address_counts_as_its_64(addr: object) -> None:
    import ipaddress

    a = ipaddress.IPv6Address(str(addr))
    if a.ipv4_mapped is not None:
        assert client_key(str(a)) == str(a.ipv4_mapped)
    else:
        assert client_key(str(a)) == str(ipaddress.IPv6Network((int(a) >> 64 << 64, 64)))


def test_a_flood_of_names_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_NAMES", 1_000)
    clock = Clock()
    limit = RateLimit(5, 60.0, clock)
    for i in range(10_000):
        clock.t += 0.001  # all of them active inside the window: nothing is idle
        limit.retry_after(f"visitor-{i}")
    assert len(limit._hits) <= 1_000
    # The newest names are still counted.
    for _ in range(4):
        assert limit.retry_after("visitor-9999") is None
    assert limit.retry_after("visitor-9999") is not None
