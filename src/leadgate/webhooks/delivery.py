"""The delivery loop: claim due outbox rows, send them signed, record the outcome.

Several processes (uvicorn workers, `leadgate worker`) may run it on one store: a row
is only sent by the process that claimed it. A claim is a lease (`claimed_until`), so
the rows of a process that died are picked up by another once the lease runs out.
Failures retry with exponential backoff (base * 2^(attempt-1), capped, with jitter)
until `max_attempts`, then the row is dead-lettered until `leadgate webhooks replay`.
With the defaults (10 s doubling to a 1 h cap, 12 attempts) a receiver may be down for
more than four hours without losing anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread
import httpx

from leadgate import __version__
from leadgate.ingest.validate import InputError
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign
from leadgate.webhooks.targets import Resolver, resolve_target, system_resolver

log = logging.getLogger("leadgate.webhooks")
T = TypeVar("T")
RunWrite = Callable[[Callable[[], T]], Awaitable[T]]


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass
class DeliverySettings:
    """Tunables; each can be set by an environment variable (see docs/api.md)."""

    timeout: float = field(default_factory=lambda: _env_float("LEADGATE_WEBHOOK_TIMEOUT", 10.0))
    backoff_base: float = field(
        default_factory=lambda: _env_float("LEADGATE_WEBHOOK_BACKOFF_BASE", 10.0)
    )
    backoff_cap: float = field(
        default_factory=lambda: _env_float("LEADGATE_WEBHOOK_BACKOFF_CAP", 3600.0)
    )
    max_attempts: int = field(
        default_factory=lambda: int(_env_float("LEADGATE_WEBHOOK_MAX_ATTEMPTS", 12))
    )
    poll_interval: float = field(default_factory=lambda: _env_float("LEADGATE_WEBHOOK_POLL", 1.0))
    batch: int = 100
    concurrency: int = 16

    @property
    def lease(self) -> float:
        """How long a claim lasts: longer than one send can take."""
        return self.timeout + 5.0

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failure."""
        delay = min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, attempts - 1))
        return float(delay * (1.0 + random.random() * 0.1))


@dataclass(slots=True)
class Claimed:
    """One outbox row this process may send."""

    id: str
    event_type: str
    payload: bytes
    attempts: int
    url: str
    secret: str


_DUE = (
    "SELECT o.id FROM webhook_outbox o JOIN webhook_subscriptions s "
    "ON s.id = o.subscription_id WHERE o.status = 'pending' AND o.next_attempt_at <= ? "
    "AND (o.claimed_until IS NULL OR o.claimed_until < ?) AND s.active = ? "
    "ORDER BY o.next_attempt_at, o.created_at LIMIT ?"
)


def claim(db: Database, worker: str, now: float, limit: int, lease: float) -> list[Claimed]:
    """Take up to `limit` due rows for `worker` (one transaction; no other worker gets them).

    Nothing due (the usual poll) is found in a read transaction: a write transaction
    every poll would bump the store revision each second, and the engine would then read
    every lead of the next event batch from the store instead of its cache (issue 17).
    The write transaction looks again, so a row claimed meanwhile is not taken twice."""
    with db.read() as conn:
        if not Repository(db, conn).execute(_DUE, [now, now, True, 1]).fetchall():
            return []
    with db.write() as conn:
        repo = Repository(db, conn)
        due = _DUE
        if not db.is_sqlite:
            # Concurrent claimers skip each other's rows instead of waiting on them.
            due += " FOR UPDATE OF o SKIP LOCKED"
        ids = [r[0] for r in repo.execute(due, [now, now, True, limit]).fetchall()]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        repo.execute(
            f"UPDATE webhook_outbox SET claimed_by = ?, claimed_until = ? WHERE id IN ({marks})",
            [worker, now + lease, *ids],
        )
        rows = repo.execute(
            "SELECT o.id, o.event_type, o.payload, o.attempts, s.url, s.secret FROM "
            f"webhook_outbox o JOIN webhook_subscriptions s ON s.id = o.subscription_id "
            f"WHERE o.id IN ({marks}) ORDER BY o.next_attempt_at, o.created_at",
            ids,
        ).fetchall()
    return [Claimed(r[0], r[1], r[2].encode(), int(r[3]), r[4], r[5]) for r in rows]


@dataclass(slots=True)
class Outcome:
    """What one send attempt gave."""

    id: str
    ok: bool
    status: int | None
    error: str | None
    attempts: int


def record(
    db: Database, worker: str, outcomes: list[Outcome], settings: DeliverySettings, now: float
) -> None:
    """Store the outcomes of sends: delivered, retry later, or dead after the last attempt."""
    delivered = [(now, o.attempts + 1, o.status, o.id, worker) for o in outcomes if o.ok]
    failed = []
    for o in outcomes:
        if o.ok:
            continue
        n = o.attempts + 1
        status = "dead" if n >= settings.max_attempts else "pending"
        failed.append((status, n, now + settings.backoff(n), o.status, o.error, o.id, worker))
    with db.write() as conn:
        repo = Repository(db, conn)
        repo.executemany(
            "UPDATE webhook_outbox SET status = 'delivered', delivered_at = ?, attempts = ?, "
            "last_status = ?, last_error = NULL, claimed_by = NULL, claimed_until = NULL "
            "WHERE id = ? AND claimed_by = ?",
            delivered,
        )
        repo.executemany(
            "UPDATE webhook_outbox SET status = ?, attempts = ?, next_attempt_at = ?, "
            "last_status = ?, last_error = ?, claimed_by = NULL, claimed_until = NULL "
            "WHERE id = ? AND claimed_by = ?",
            failed,
        )


async def _default_run(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


class Deliverer:
    """Runs the loop in an asyncio task. `run_write` runs a blocking store call (the API
    passes its own, which serialises SQLite writes with the request handlers)."""

    def __init__(
        self,
        db: Database,
        settings: DeliverySettings | None = None,
        run_write: Callable[[Callable[[], Any]], Awaitable[Any]] | None = None,
        resolver: Resolver = system_resolver,
    ):
        self.db = db
        self.resolver = resolver
        self.settings = settings or DeliverySettings()
        self.run_write = run_write or _default_run
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Thread-safe: there is new work (called after an outbox write in this process)."""
        loop, ev = self._loop, self._wake
        if loop is not None and ev is not None and not loop.is_closed():
            loop.call_soon_threadsafe(ev.set)

    async def _send(self, client: httpx.AsyncClient, c: Claimed) -> Outcome:
        t = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"leadgate-webhooks/{__version__}",
            SIGNATURE_HEADER: sign(c.secret, c.payload, t),
            DELIVERY_HEADER: c.id,
            EVENT_HEADER: c.event_type,
            "X-Leadgate-Attempt": str(c.attempts + 1),
        }
        try:
            # Resolved and checked at each attempt, and sent to the checked address: the
            # name may point somewhere private by now (DNS rebinding).
            target = await resolve_target(c.url, self.resolver)
        except InputError as exc:
            return Outcome(c.id, False, None, f"refused: {exc.message}"[:500], c.attempts)
        headers["Host"] = target.host_header
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            r = await client.post(
                target.url, content=c.payload, headers=headers, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return Outcome(c.id, False, None, f"{type(exc).__name__}: {exc}"[:500], c.attempts)
        # Only the status is kept, never the response body: an admin reading the delivery
        # log must not be able to read what an internal service answered.
        if 200 <= r.status_code < 300:
            return Outcome(c.id, True, r.status_code, None, c.attempts)
        return Outcome(c.id, False, r.status_code, f"HTTP {r.status_code}", c.attempts)

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """Claim one batch of due rows, send them, record the outcomes; how many were sent."""
        s = self.settings
        now = time.time()
        batch = await self.run_write(lambda: claim(self.db, self.worker, now, s.batch, s.lease))
        if not batch:
            return 0
        sem = asyncio.Semaphore(s.concurrency)

        async def one(c: Claimed) -> Outcome:
            async with sem:
                return await self._send(client, c)

        outcomes = list(await asyncio.gather(*(one(c) for c in batch)))
        done = time.time()
        await self.run_write(lambda: record(self.db, self.worker, outcomes, s, done))
        bad = sum(1 for o in outcomes if not o.ok)
        if bad:
            log.warning("webhooks: %d of %d deliveries failed; will retry", bad, len(outcomes))
        return len(outcomes)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until `stop` is set (or the task is cancelled)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        stop = stop or asyncio.Event()
        # No redirects: a 3xx to a private address would get around the target check.
        async with httpx.AsyncClient(
            timeout=self.settings.timeout, follow_redirects=False
        ) as client:
            while not stop.is_set():
                # Cleared before looking, so a wake-up during the look is not lost.
                self._wake.clear()
                try:
                    n = await self.run_once(client)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhooks: delivery loop error; retrying")
                    n = 0
                if n:
                    continue
                waiters = [asyncio.ensure_future(self._wake.wait())]
                waiters.append(asyncio.ensure_future(stop.wait()))
                _, pending = await asyncio.wait(
                    waiters,
                    timeout=self.settings.poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for p in pending:
                    p.cancel()
