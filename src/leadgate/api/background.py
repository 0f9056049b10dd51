"""The scheduler tick loop that `leadgate serve` and `leadgate worker` run in the background.

A tick fires what has fallen due — the engine's timers (decay exits, cooldown ends), the
sales workflow's SLA jobs and nurture steps — then sends the due nurture mail. The engine
is synchronous, so each tick runs in a worker thread and the event loop keeps serving;
the loop awaits one tick before it sleeps, so a process never runs two at once. A tick
that fails (a database restarting, a bug) is logged and the next one tries again: what
was due is still due, since every step commits in its own transaction.

Several processes may tick one store, with no lease and no elected ticker:

- PostgreSQL: due SLA jobs, nurture enrolments and outbox mail are claimed with `FOR
  UPDATE SKIP LOCKED`, the leads they touch with `SKIP LOCKED` too, and the engine's
  timers re-read each due lead under `FOR UPDATE`, so a lead another worker just moved is
  no longer due. Each job fires once.
- SQLite: every claim (select what is due, mark it fired or claimed) runs inside one
  write transaction, and SQLite write transactions start with `BEGIN IMMEDIATE`, so they
  are strictly serialised across processes: the second process to look finds the job
  already fired. Electing one ticker (a lease row, or "worker 0") would only save the
  other workers' idle ticks — two short write transactions per interval each — and
  would add a failover delay when the ticker dies; with every worker ticking, a dead
  worker costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio.to_thread

from leadgate.engine.engine import Engine

log = logging.getLogger("leadgate.scheduler")
T = TypeVar("T")
RunCall = Callable[[Callable[[], Any]], Awaitable[Any]]
DEFAULT_TICK_SECONDS = 15.0


async def in_thread(fn: Callable[[], T]) -> T:
    """Run a blocking call in a worker thread. Not abandoned on cancellation: a tick
    that has started ends (and commits or rolls back) before the task stops."""
    return await anyio.to_thread.run_sync(fn)


def serialised_writes(is_sqlite: bool) -> RunCall:
    """A `run_write` for a process without the API's context (`leadgate worker`): on
    SQLite, the delivery loop and the tick take turns in this process instead of waiting
    for each other's lock in SQLite's busy handler (sleeps of up to 100 ms)."""
    lock: asyncio.Lock | None = None

    async def run(fn: Callable[[], Any]) -> Any:
        nonlocal lock
        if not is_sqlite:
            return await in_thread(fn)
        if lock is None:
            lock = asyncio.Lock()
        async with lock:
            return await in_thread(fn)

    return run


def _sales_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("leadgate.sales") is not None


class Ticker:
    """Calls the scheduler tick every `interval` seconds until stopped.

    `run_write` runs a blocking store call that writes (the API passes its own, which
    serialises SQLite writes with the request handlers); `on_work` is called on the
    event loop after a tick that changed something (the API wakes its delivery loop:
    breaches and stage changes queue webhooks)."""

    def __init__(
        self,
        engine: Engine,
        interval: float = DEFAULT_TICK_SECONDS,
        run_write: RunCall | None = None,
        on_work: Callable[[], None] | None = None,
        worker: str | None = None,
    ):
        if interval <= 0:
            raise ValueError("the tick interval must be more than 0 seconds")
        self.engine = engine
        self.interval = interval
        self.run_write: RunCall = run_write or in_thread
        self.on_work = on_work
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.ticks = 0
        self.failures = 0
        self.last: dict[str, int] = {}
        # Installed here, before any thread runs a tick: installing adds engine hooks.
        self.sales: Any = None
        if _sales_available():
            from leadgate.sales import sales_of

            self.sales = sales_of(engine)

    async def tick(self) -> dict[str, int]:
        """One tick: fire what is due, then send due nurture mail; the counts."""
        sales = self.sales
        if sales is None:
            moved = await self.run_write(self.engine.tick)
            return {"transitions": int(moved)}
        out: dict[str, int] = await self.run_write(
            lambda: sales.tick(worker=self.worker, deliver=False)
        )
        sent, failed = await self._mail(sales)
        out["messages_sent"] = sent
        out["messages_failed"] = failed
        return out

    async def _mail(self, sales: Any) -> tuple[int, int]:
        """The nurture mail outbox, as `nurture_mail.deliver_mail` sends it, but with the claim
        and the record as writes of their own and the SMTP conversation in a plain
        thread: a slow mail server must not hold the API's SQLite write turn."""
        from leadgate.sales import nurture_mail
        from leadgate.sales.mail import send_all

        tracks = (await in_thread(sales.config)).tracks
        settings = tracks.mail_settings()
        if not settings.configured:
            return 0, 0
        stop_events = tracks.section.stop_on_events
        now = self.engine.clock()
        sent = failed = 0
        batch = 50
        while True:
            claimed = await self.run_write(
                functools.partial(
                    nurture_mail.claim_mail,
                    self.engine.db,
                    self.worker,
                    now,
                    batch,
                    settings.lease,
                    stop_events,
                )
            )
            if not claimed:
                break
            results = await in_thread(functools.partial(send_all, settings, claimed))
            c = await self.run_write(
                functools.partial(
                    nurture_mail.record_mail, self.engine.db, self.worker, results, settings, now
                )
            )
            sent += c.sent
            failed += c.failed + c.dead
            if c.sent == 0 or len(claimed) < batch:
                break
        return sent, failed

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Tick now, then every `interval` seconds after the previous tick ended, until
        `stop` is set (a tick under way is finished first)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                out = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("scheduler: tick failed; retrying in %g s", self.interval)
            else:
                self.ticks += 1
                self.last = out
                if any(out.values()):
                    log.info(
                        "scheduler: %s",
                        ", ".join(f"{k} {v}" for k, v in out.items() if v),
                    )
                    if self.on_work is not None:
                        self.on_work()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)


async def stop_task(task: asyncio.Task[Any] | None, grace: float = 30.0) -> None:
    """Wait up to `grace` seconds for a background loop told to stop, then cancel it."""
    if task is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=grace)
    except TimeoutError:
        task.cancel()
    except Exception:
        log.exception("background loop ended with an error")
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
