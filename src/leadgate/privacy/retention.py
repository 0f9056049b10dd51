"""Retention: the playbook's `retention:` section erases leads nobody heard from for
too long, in the stages it names, through the same erasure as a person's request.

    retention:
      erase_inactive_after_days: 730
      stages: [lead, nurture, disqualified]

A lead is inactive since the latest of: its creation, its last stage move, its last
event. The scheduler applies the policy (at most once an hour, `RETENTION_EVERY`);
`leadgate person retention --dry-run` lists who would go without changing anything.
(The section's `anonymous_events_days`, for anonymous browser events, is
`leadgate.privacy.visitors`.) Each erasure is audited with action `retention` and
actor `retention:scheduler`.
"""

from __future__ import annotations

from typing import Any

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import iso
from leadgate.store.repository import Repository

DAY = 86_400.0
RETENTION_EVERY = 3_600.0


def due(
    engine: Engine, limit: int = 500
) -> tuple[dict[str, Any] | None, float, list[dict[str, Any]]]:
    """(policy, cutoff, leads the policy would erase now), oldest activity first."""
    policy = engine.processor().playbook.retention
    if policy is None or policy.erase_inactive_after_days is None:
        # No lead part (a playbook may set only `anonymous_events_days`).
        return None, 0.0, []
    cutoff = engine.clock() - policy.erase_inactive_after_days * DAY
    marks = ",".join("?" * len(policy.stages))
    with engine.db.read() as conn:
        rows = (
            Repository(engine.db, conn)
            .execute(
                "SELECT l.id, l.email, l.stage, l.created_at, l.stage_at, "
                "(SELECT MAX(e.occurred_at) FROM events e WHERE e.lead_id = l.id) "
                f"FROM leads l WHERE l.stage IN ({marks}) AND l.created_at < ? "
                "AND l.stage_at < ? AND l.email NOT LIKE ? AND NOT EXISTS "
                "(SELECT 1 FROM events e WHERE e.lead_id = l.id AND e.occurred_at >= ?) "
                "ORDER BY l.stage_at LIMIT ?",
                [*policy.stages, cutoff, cutoff, "%@erased.invalid", cutoff, limit],
            )
            .fetchall()
        )
    leads = [
        {
            "id": r[0],
            "email": r[1],
            "stage": r[2],
            "last_active": iso(max(x for x in (r[3], r[4], r[5]) if x is not None)),
        }
        for r in rows
    ]
    return policy.model_dump(), cutoff, leads


def apply_retention(
    engine: Engine, dry_run: bool = False, actor: str = "retention:scheduler", limit: int = 500
) -> dict[str, Any]:
    """Erase (or with `dry_run` only list) the leads the playbook's retention takes now."""
    from leadgate.privacy.erase import erase_person

    policy, cutoff, leads = due(engine, limit)
    report: dict[str, Any] = {
        "policy": policy,
        "dry_run": dry_run,
        "cutoff": iso(cutoff) if policy else None,
        "count": len(leads),
        "leads": leads,
    }
    if policy is None or dry_run:
        return report
    for lead in leads:
        erase_person(
            engine,
            lead["email"],
            f"retention: inactive over {policy['erase_inactive_after_days']} days "
            f"in stage {lead['stage']}",
            actor,
            action="retention",
        )
        lead.pop("email")  # the report of a real run names no one
    return report
