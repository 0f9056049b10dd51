"""Retention of anonymous browser events: the page views and clicks `/t.js` posts for a
visitor nobody has identified (`visitor_events`) are deleted once older than the
playbook's `retention.anonymous_events_days` (90 days when it says nothing).

    purge_visitor_events(engine, dry_run=True)
    # {"days": 90, "cutoff": "2026-03-01T...", "dry_run": True, "events": 412, "visitors": 57}

An event's age is counted from when leadgate received it. Only events of visitors never
identified go: a visitor in `visitors` is a lead's (its events are stitched onto the lead
when it is identified; one that slipped in during that instant waits for the next
identified event), and `events`, a lead's own, are never touched here. The scheduler runs
the purge at most once an hour (`PURGE_EVERY`) and `leadgate person purge-visitors` at
once. Nothing is audited per row: no person is named by a visitor id.
"""

from __future__ import annotations

from typing import Any

from leadgate.engine.engine import Engine
from leadgate.engine.errors import NoPlaybook
from leadgate.ingest.validate import iso
from leadgate.playbook.model import ANONYMOUS_EVENTS_DAYS
from leadgate.store.repository import Repository

DAY = 86_400.0
PURGE_EVERY = 3_600.0
# Rows deleted per write transaction: a first purge of a large backlog does not hold the
# write lock (SQLite) for long at a time.
BATCH = 5_000
_ANONYMOUS = (
    "FROM visitor_events WHERE received_at < ? AND NOT EXISTS "
    "(SELECT 1 FROM visitors v WHERE v.id = visitor_events.visitor_id)"
)


def anonymous_days(engine: Engine) -> int:
    """Days anonymous events are kept under the active playbook."""
    try:
        policy = engine.processor().playbook.retention
    except NoPlaybook:
        return ANONYMOUS_EVENTS_DAYS
    return ANONYMOUS_EVENTS_DAYS if policy is None else policy.anonymous_events_days


def purge_visitor_events(
    engine: Engine, dry_run: bool = False, now: float | None = None
) -> dict[str, Any]:
    """Delete (or with `dry_run` only count) the anonymous events older than the policy's
    days at `now` (the engine's clock). Returns the days, the cutoff, and how many events
    of how many visitors."""
    days = anonymous_days(engine)
    cutoff = (engine.clock() if now is None else now) - days * DAY
    report: dict[str, Any] = {"days": days, "cutoff": iso(cutoff), "dry_run": dry_run}
    if dry_run:
        with engine.db.read() as conn:
            row = (
                Repository(engine.db, conn)
                .execute(f"SELECT COUNT(*), COUNT(DISTINCT visitor_id) {_ANONYMOUS}", [cutoff])
                .fetchone()
            )
        return {**report, "events": int(row[0]), "visitors": int(row[1])}
    with engine.db.read() as conn:
        # The scheduler asks every hour; nothing to purge is the common case, and a
        # write transaction would still commit (and drop the engine's lead cache).
        some = Repository(engine.db, conn).execute(f"SELECT 1 {_ANONYMOUS} LIMIT 1", [cutoff])
        if some.fetchone() is None:
            return {**report, "events": 0, "visitors": 0}
    events = 0
    visitors: set[str] = set()
    while True:
        with engine.db.write() as conn:
            repo = Repository(engine.db, conn)
            rows = repo.execute(f"SELECT id, visitor_id {_ANONYMOUS} LIMIT ?", [cutoff, BATCH])
            found = [(str(r[0]), str(r[1])) for r in rows.fetchall()]
            if found:
                marks = ",".join("?" * len(found))
                # Stitching in another transaction between the select and here moved
                # them onto a lead: the id no longer exists and nothing is deleted.
                gone = repo.execute(
                    f"DELETE FROM visitor_events WHERE id IN ({marks}) AND NOT EXISTS "
                    "(SELECT 1 FROM visitors v WHERE v.id = visitor_events.visitor_id) "
                    "RETURNING visitor_id",
                    [i for i, _ in found],
                ).fetchall()
                events += len(gone)
                visitors.update(str(r[0]) for r in gone)
        if len(found) < BATCH:
            break
    return {**report, "events": events, "visitors": len(visitors)}
