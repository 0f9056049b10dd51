"""A sliding-window rate limit per name (a client address, a visitor id), in memory.

Per process: each server process counts its own requests, so N workers allow up to N
times the limit (docs/security.md). No I/O and no framework: the HTTP adapters (the
tracker, the forms) ask it before they do any work for an anonymous caller.

    limit = RateLimit(60, 60.0, clock)
    wait = limit.retry_after("203.0.113.9")   # None: go on; else seconds to wait
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

# Names remembered before the idle ones are dropped: bounds the memory a flood of
# distinct addresses can take.
MAX_NAMES = 100_000


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
        hits = self._hits.get(name)
        if hits is None:
            if len(self._hits) > MAX_NAMES:
                self._prune(now)
            hits = self._hits[name] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1.0, hits[0] + self.window - now)
        hits.append(now)
        return None

    def _prune(self, now: float) -> None:
        for name in [n for n, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[name]
