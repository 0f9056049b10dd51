"""What every request handler shares: the engine, and how blocking store calls are run.

The engine is synchronous. Handlers are `async def` and run each store call in a worker
thread. On SQLite, writes in one process go through one asyncio lock, taken before a
thread is used: one writer at a time (SQLite allows no more), and writers waiting their
turn hold no thread, so reads keep flowing (PERFORMANCE-NOTES: a shared connection or
many threaded writers fail or stall). PostgreSQL takes concurrent writers; there only
the thread limiter applies, sized below the connection pool.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

from leadgate.api.group_commit import write_batches
from leadgate.api.quick import QuickReads
from leadgate.engine.engine import Engine, ItemResult
from leadgate.ingest.validate import EventIn
from leadgate.store.database import Database
from leadgate.webhooks.delivery import Deliverer

T = TypeVar("T")

# A group commit stops adding batches at this many events: one transaction stays short
# enough that the requests in it are answered promptly.
GROUP_EVENTS = 20_000


class GcPolicy(Protocol):
    """Run by the writing thread after each ingest transaction (api.gc_policy)."""

    def after_write(self) -> None: ...


class _Queued:
    """One request's validated events waiting for the SQLite writer."""

    __slots__ = ("events", "now", "results")

    def __init__(self, events: list[EventIn], now: float):
        self.events = events
        self.now = now
        self.results: list[ItemResult] | BaseException | None = None


class ApiContext:
    """Per-process state of the API (on `app.state.leadgate`)."""

    def __init__(self, engine: Engine, threads: int = 8, single_process: bool = True):
        self.engine = engine
        self.db: Database = engine.db
        self.threads = threads
        # Small calls on the loop: SQLite only (no network waits). Reads always (in WAL
        # mode a reader never waits for a writer); writes only when this is the one
        # process writing: with several workers a write may wait for another process's
        # lock, and the loop must keep serving meanwhile.
        self.inline_reads = self.db.is_sqlite
        self.inline = self.db.is_sqlite and single_process
        self.deliverer: Deliverer | None = None
        self.quick = QuickReads(self.db)
        self.outbox_dirty = False
        # Created lazily, per event loop: tests may drive the app from several loops.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._limiter: CapacityLimiter | None = None
        self._queued: list[_Queued] = []
        self.group_commits = 0  # transactions that carried more than one request's batch
        # `leadgate serve` sets FreezeAfterWrites; off elsewhere (tests, embedding apps),
        # where freezing the host process's objects is not this module's call.
        self.gc_policy: GcPolicy | None = None

    def _prims(self) -> tuple[asyncio.Lock, CapacityLimiter]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._lock is None or self._limiter is None:
            self._loop = loop
            self._lock = asyncio.Lock()
            self._limiter = CapacityLimiter(self.threads)
        return self._lock, self._limiter

    async def read(self, fn: Callable[..., T], *args: Any, small: bool = False, **kwargs: Any) -> T:
        """Run a blocking read in a worker thread (`small`: see `write`)."""
        call = functools.partial(fn, *args, **kwargs)
        if small and self.inline_reads:
            return call()
        _, limiter = self._prims()
        return await anyio.to_thread.run_sync(call, limiter=limiter)

    async def write(
        self, fn: Callable[..., T], *args: Any, small: bool = False, **kwargs: Any
    ) -> T:
        """Run a blocking write in a worker thread, one at a time per process on SQLite.

        `small=True` (one lead, a few rows) runs the call on the event loop itself when
        `inline` is on: it holds the GIL for nearly all of its ~0.3 ms anyway, so the loop
        would mostly wait, while the hop to a thread and back costs as much CPU as the
        write, and on a loaded machine each hop may wait out a scheduler time slice."""
        lock, limiter = self._prims()
        call = functools.partial(fn, *args, **kwargs)
        if self.db.is_sqlite:
            async with lock:
                if small and self.inline and not self.quick.sqlite_writer_elsewhere():
                    out = call()
                else:
                    out = await anyio.to_thread.run_sync(call, limiter=limiter)
        else:
            out = await anyio.to_thread.run_sync(call, limiter=limiter)
        if self.outbox_dirty:
            # Woken after the commit, so the delivery loop finds the rows it is told about.
            self.outbox_dirty = False
            if self.deliverer is not None:
                self.deliverer.wake()
        return out

    async def ingest(self, events: list[EventIn], now: float) -> list[ItemResult]:
        """Store and score one request's events; on SQLite, in a group commit.

        Requests that queue for the single SQLite writer while a transaction runs are
        written together by whichever of them gets the writer next: one transaction, one
        commit (fsync) for all, each request still answered with its own items. The
        commit is the dominant cost of a write, so under load this is the difference
        between the storage floor and a fraction of it (PERFORMANCE-NOTES; bench/
        api_load.py). If the shared transaction fails, each batch is written on its own,
        so one request's failure is never another's.
        """
        if not events:
            return []
        if not self.db.is_sqlite:
            return await self.write(self._ingest_alone, events, now)
        mine = _Queued(events, now)
        self._queued.append(mine)
        lock, limiter = self._prims()
        async with lock:
            if mine.results is None:
                group = self._take_group(mine)
                small = len(group) == 1 and len(events) <= 20
                if small and self.inline and not self.quick.sqlite_writer_elsewhere():
                    self._write_group(group)
                else:
                    await anyio.to_thread.run_sync(self._write_group, group, limiter=limiter)
        if self.outbox_dirty:
            self.outbox_dirty = False
            if self.deliverer is not None:
                self.deliverer.wake()
        if isinstance(mine.results, BaseException):
            raise mine.results
        assert mine.results is not None
        return mine.results

    def _take_group(self, mine: _Queued) -> list[_Queued]:
        """The queued batches to write now, in arrival order, always including `mine`."""
        group: list[_Queued] = []
        size = 0
        for q in self._queued:
            if q is not mine and size + len(q.events) > GROUP_EVENTS:
                break
            group.append(q)
            size += len(q.events)
        if mine not in group:
            group.append(mine)
        for q in group:
            self._queued.remove(q)
        return group

    def _ingest_alone(self, events: list[EventIn], now: float) -> list[ItemResult]:
        try:
            return self.engine.ingest(events, now)
        finally:
            if self.gc_policy is not None:
                self.gc_policy.after_write()

    def _write_group(self, group: list[_Queued]) -> None:
        """Write the group in one transaction and hand each request its own results."""
        try:
            outcomes, grouped = write_batches(self.engine, [(q.events, q.now) for q in group])
        finally:
            if self.gc_policy is not None:
                # In this thread, still holding the write turn: a sweep (a full
                # collection) delays the next write, not a write under way.
                self.gc_policy.after_write()
        self._hand_out(group, outcomes, grouped)

    def _hand_out(
        self, group: list[_Queued], outcomes: list[list[ItemResult] | BaseException], grouped: bool
    ) -> None:
        if grouped:
            self.group_commits += 1
        for q, out in zip(group, outcomes, strict=True):
            q.results = out

    def mark_outbox(self) -> None:
        """Called by the outbox writer (inside a transaction) when it added rows."""
        self.outbox_dirty = True
