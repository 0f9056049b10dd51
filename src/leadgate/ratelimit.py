"""A sliding-window rate limit per name (a client address, a visitor id), in memory.

Per process: each server process counts its own requests, so N workers allow up to N
times the limit (docs/security.md). No I/O and no framework: the HTTP adapters (the
tracker, the forms) ask it before they do any work for an anonymous caller.

    limit = RateLimit(60, 60.0, clock)
    wait = limit.retry_after(client_key("203.0.113.9"))   # None: go on; else seconds to wait

`client_key` is what an address is counted as: an IPv6 client is counted by its /64,
the block one subscriber line or host usually holds (counting each address alone would let
one visitor rotate through 2^64 fresh limits); an IPv4-mapped address by its IPv4 address.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable

# Names remembered before the idle ones are dropped: bounds the memory a flood of
# distinct addresses can take. When none is idle, the least recently seen tenth go
# (their counts restart): a flood of this many live names costs the attacker that many
# addresses, and each new name never costs a scan of the whole table.
MAX_NAMES = 100_000
# What a name that is not an address (a visitor id, a test client's "testclient") is cut to.
MAX_NAME_LENGTH = 100


def client_key(host: str) -> str:
    """What the client address `host` is counted as: an IPv4 address as it is, an IPv6
    one as its /64 network (`2001:db8::/64`), an IPv4-mapped IPv6 one as its IPv4
    address; anything else (no address: "unknown") cut to MAX_NAME_LENGTH characters."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_NAME_LENGTH]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(addr) >> 64 << 64, 64)))
    return str(addr)


class RateLimit:
    """At most `limit` hits per `window` seconds per name (a sliding log), on `clock`."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.time):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}

    def retry_after(self, name: str) -> float | None:
        """Record a hit; None if it is allowed, else the seconds until one would be."""
        now = self.clock()
        hits = self._hits.pop(name, None)
        if hits is None:
            if len(self._hits) >= MAX_NAMES:
                self._prune(now)
            hits = deque()
        # Re-inserted on every hit: the dict's order is then least recently seen first.
        self._hits[name] = hits
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1.0, hits[0] + self.window - now)
        hits.append(now)
        return None

    def _prune(self, now: float) -> None:
        for name in [n for n, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[name]
        over = len(self._hits) - MAX_NAMES * 9 // 10
        if over > 0:
            for name in list(self._hits)[:over]:
                del self._hits[name]
