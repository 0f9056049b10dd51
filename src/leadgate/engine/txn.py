"""The engine's write transactions and the leads it keeps in memory between them.

A write transaction (`Engine._write`) reads the store revision first; when it is one
past the revision the cache was made at, nobody else wrote in between and the leads the
engine's last transaction saved are exactly what the store holds, so they are reused
instead of read and decoded again (see `_LeadCache`). `gc_paused` keeps the cyclic
garbage collector out of a batch's way.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

from leadgate.store.repository import Repository, StoredLead


class _GcPause:
    """No cyclic garbage collection while a batch runs (`with gc_paused:`).

    A batch allocates hundreds of thousands of small objects, and every allocation burst
    made the collector walk all the cached lead states again: ~40% of bulk ingest's CPU.
    What a batch leaves behind is freed by reference counting; anything cyclic waits
    for the next collection after the batch. Counted, so overlapping batches in other
    threads re-enable it only when the last one ends (and only if it was enabled).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            self._holders += 1
            if self._holders == 1:
                self._was_enabled = gc.isenabled()
                gc.disable()

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._was_enabled:
                gc.enable()


gc_paused = _GcPause()


@dataclass(slots=True)
class _Txn:
    """One write transaction of the engine, and what it leaves for the lead cache."""

    repo: Repository
    rev: int | None
    # True when nobody wrote since the engine's last committed transaction.
    chained: bool
    keep: list[StoredLead] = field(default_factory=list)
    evict: list[str] = field(default_factory=list)


class _LeadCache:
    """Leads as the engine's last committed write transaction left them.

    Reading a lead row and decoding its state costs more than scoring its events, and a
    bulk ingest touches most leads in every batch. Every write transaction, in any
    process, bumps the store revision first (`Database.write`); a transaction that finds
    it one past the revision the cache was made at knows no one else wrote in between,
    so the cached leads are exactly what the store holds. Anything else drops them.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.lock = threading.Lock()
        self.rev: int | None = None
        self.leads: dict[str, StoredLead] = {}

    def chained(self, rev: int | None) -> bool:
        """Whether the cache is valid inside the transaction that made revision `rev`."""
        with self.lock:
            return rev is not None and self.rev is not None and rev == self.rev + 1

    def take(self, emails: Iterable[str]) -> dict[str, StoredLead]:
        """The cached leads among `emails`, ready for a new transaction."""
        out: dict[str, StoredLead] = {}
        with self.lock:
            leads = self.leads
            for email in emails:
                s = leads.get(email)
                if s is not None:
                    # What the row holds: the card the lead was saved with (`save_leads`
                    # keeps it), or the row it was read from.
                    scores = s.row_scores
                    if scores is not None:
                        s.score_before, s.grade_before = scores
                    out[email] = s
        return out

    def clear(self) -> None:
        """Forget everything (a transaction failed: its leads were changed in memory)."""
        with self.lock:
            self.leads.clear()
            self.rev = None

    def committed(self, txn: _Txn) -> None:
        """Record what a committed transaction left in the store."""
        with self.lock:
            if txn.rev is None or (self.rev is not None and txn.rev <= self.rev):
                # No counter, or a late report of an older transaction: trust nothing.
                self.leads.clear()
                self.rev = None
                return
            leads = self.leads
            if self.rev is None or txn.rev != self.rev + 1:
                leads.clear()
            pop = leads.pop
            for s in txn.keep:
                email = s.state.email
                pop(email, None)  # re-inserted last: the dict's order is recency
                leads[email] = s
            for email in txn.evict:
                leads.pop(email, None)
            excess = len(leads) - self.limit
            if excess > 0:
                for email in list(islice(leads, excess)):
                    del leads[email]
            self.rev = txn.rev
