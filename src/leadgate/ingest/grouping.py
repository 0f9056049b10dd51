"""Bulk files: a window of events regrouped so each lead is stored once per window.

A transaction saves every lead it touches once, whatever the number of its events, and
a lead save (read, score, one UPDATE) costs about as much as ten events. A file in time
order spreads each lead over every batch: 1M demo events in 100,000-event transactions
touched 700,000 leads, where 90,000 leads have events. Regrouping a window of the file
by lead, then packing whole leads into transactions of about the same size, stores each
lead once per window: the same transactions, a fraction of the lead saves.

What stays as it was: each lead's events are scored in time order (as they would be in
any batch: scoring sorts them); a repeated event id counts once, the copy that comes
first in the file (the later copies are reported as duplicates); a file's batches are
still committed one at a time, so an interrupted import keeps what it committed, and a
re-run skips what is stored. What changes: the order in which *different* leads are
stored inside a window (first appearance in the file), so round-robin routing may hand
them out in another order; and timers. A batch ends by running its leads' timers (decay
exits, cooldowns) up to the import's "now"; a lead spread over several batches had them
run before its later events were read, so its stage history depended on where the batch
boundaries fell. Within a window each lead's events are now scored together, in time
order, as they would be in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from leadgate.ingest.validate import EventIn


def group_by_lead(events: Sequence[EventIn], batch_size: int) -> tuple[list[list[EventIn]], int]:
    """`events` as batches of whole leads, about `batch_size` events each, leads in order
    of first appearance; and how many events repeated an earlier id of the window (left
    out: the store would count them as duplicates anyway, and the first copy must win).

    A lead with more than `batch_size` events gets a batch of its own, so no lead is
    split across transactions.
    """
    seen: set[str] = set()
    per_lead: dict[str, list[EventIn]] = {}
    repeated = 0
    for ev in events:
        if ev.id in seen:
            repeated += 1
            continue
        seen.add(ev.id)
        group = per_lead.get(ev.email)
        if group is None:
            per_lead[ev.email] = [ev]
        else:
            group.append(ev)
    batches: list[list[EventIn]] = []
    batch: list[EventIn] = []
    for group in per_lead.values():
        if batch and len(batch) + len(group) > batch_size:
            batches.append(batch)
            batch = []
        batch.extend(group)
    if batch:
        batches.append(batch)
    return batches, repeated
