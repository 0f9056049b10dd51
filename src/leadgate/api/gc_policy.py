"""The server process's garbage-collector policy: `tune_gc()` at start, and
`FreezeAfterWrites.after_write()` after each ingest transaction.

    tune_gc()                        # start-up objects to the permanent generation
    policy = FreezeAfterWrites()     # ApiContext.gc_policy in `leadgate serve`
    policy.after_write()             # what the write left alive: frozen too

Why (issue 17, docs/benchmarks-api.md "stop 17"): the engine keeps the leads a batch
saved in memory for the next one, so every batch leaves tens of thousands of new live
objects (lead states) behind, and the engine pauses the collector while a batch runs.
Each young collection afterwards walked them all, promoted them, and freed nothing
(20-90 ms a collection, one every few requests); with 8 requests of 1,000 events in
flight, their parsed bodies (~5,000 tracked containers each) tripped further ones.
Nearly all of it is freed by reference counting: the cyclic collector found ~0 cycles
a request. Freezing what is alive after a write takes it out of every later collection;
the rare cycle that was already garbage is frozen with it, so every `sweep_seconds` a
write unfreezes, collects everything once and freezes again.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

# Young-generation collections run every 100,000 net container allocations instead of
# 700. A 1,000-event request holds ~5,000 tracked containers while it is parsed and
# validated (orjson's dicts, EventIn, results); 8 in flight are ~40,000, all alive, so
# a lower threshold only walks live requests (20,000 did, every second request at 8 in
# flight). The bound on uncollected cyclic garbage between collections is this count.
GC_THRESHOLDS = (100_000, 20, 10)

# How often a write also sweeps the permanent generation for cyclic garbage frozen by
# earlier writes: a full collection of the whole heap (0.2-0.5 s with a warm lead
# cache), so rare; a request that creates a cycle is rare too.
SWEEP_SECONDS = 600.0


def tune_gc() -> None:
    """Server-process GC policy at start: what is alive once the app is built (modules,
    FastAPI and Pydantic internals, ~150,000 objects) moves to the permanent generation,
    so full collections stop rescanning it. Measured in-process on 1,000-event batches:
    GC time per request 17 ms -> 3.5 ms, a full collection 185 ms -> 20 ms (a pause every
    request in flight waits out)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class FreezeAfterWrites:
    """Freeze what is alive after each write; sweep frozen cyclic garbage now and then.

    Call `after_write` from the writing thread once its transaction is over (the API
    does, after each ingest transaction). `gc.freeze()` moves the tracked objects of all
    generations to the permanent one in constant time; objects frozen and later
    released are still freed by reference counting.
    """

    def __init__(
        self, sweep_seconds: float = SWEEP_SECONDS, clock: Callable[[], float] = time.monotonic
    ):
        self.sweep_seconds = sweep_seconds
        self.clock = clock
        self.next_sweep = clock() + sweep_seconds
        self.sweeps = 0

    def after_write(self) -> None:
        now = self.clock()
        if now >= self.next_sweep:
            self.next_sweep = now + self.sweep_seconds
            self.sweeps += 1
            gc.unfreeze()
            gc.collect()
        gc.freeze()
