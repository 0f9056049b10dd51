"""Several requests' event batches stored in one transaction (group commit), each still
answered with its own items: what the API's single SQLite writer does with the batches
that queued while it wrote (`context.py`).

    outcomes, grouped = write_batches(engine, [(events_a, now_a), (events_b, now_b)])
    # outcomes[0]: events_a's items, indexed from 0 (or the exception that refused it)
"""

from __future__ import annotations

from leadgate.engine.engine import Engine, ItemResult
from leadgate.ingest.validate import EventIn


def write_batches(
    engine: Engine, batches: list[tuple[list[EventIn], float]]
) -> tuple[list[list[ItemResult] | BaseException], bool]:
    """Store several requests' batches, in one transaction when there are several: each
    batch's own items (indexed from 0), or the exception that refused it, and whether
    they shared a transaction. If the shared one fails, each batch is written on its
    own, so one request's failure is never another's."""
    if len(batches) > 1:
        combined = [ev for events, _ in batches for ev in events]
        try:
            results = engine.ingest(combined, max(now for _, now in batches))
        except Exception:
            pass  # written one by one below, so the failure lands on its own request
        else:
            out: list[list[ItemResult] | BaseException] = []
            start = 0
            for events, _ in batches:
                mine = results[start : start + len(events)]
                for i, r in enumerate(mine):
                    r.index = i
                out.append(mine)
                start += len(events)
            return out, True
    outcomes: list[list[ItemResult] | BaseException] = []
    for events, now in batches:
        try:
            outcomes.append(engine.ingest(events, now))
        except BaseException as exc:
            outcomes.append(exc)
    return outcomes, False
