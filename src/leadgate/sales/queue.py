"""A rep's work in order, with the reason for each position.

Order: leads with an acceptance deadline first, the least time left first (overdue
ones lead); then by grade (fit A before B, engagement 1 before 2); then by score.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from leadgate.ingest.validate import iso


def _span(seconds: float) -> str:
    s = abs(seconds)
    if s < 3600:
        return f"{max(1, round(s / 60))} min"
    if s < 86400 * 2:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def rank(
    rows: Sequence[Sequence[Any]], now: float, limit: int | None = None
) -> list[dict[str, Any]]:
    """Rows (id, email, stage, owner, grade, fit_grade, engagement_grade, score, stage_at,
    sla_due_at) → the queue, best first, each with its position and reason; the first
    `limit` (None: all). Only those are described: the whole team's queue holds thousands
    of open leads and a page shows 200."""

    def key(r: Sequence[Any]) -> tuple[Any, ...]:
        due = r[9] if r[2] == "mql" else None
        return (
            0 if due is not None else 1,
            (due - now) if due is not None else 0.0,
            r[5],
            r[6],
            -r[7],
            r[8],
            r[0],
        )

    ranked = heapq.nsmallest(limit, rows, key=key) if limit is not None else sorted(rows, key=key)
    out = []
    for pos, r in enumerate(ranked, 1):
        due = r[9] if r[2] == "mql" else None
        grade = f"grade {r[4]}, score {r[7]:g}"
        if due is not None:
            left = due - now
            if left < 0:
                why = f"SLA overdue by {_span(left)}: accept or reject this MQL now; {grade}"
            else:
                why = f"SLA due in {_span(left)} (accept or reject this MQL); {grade}"
        else:
            why = f"{r[2].upper()} without a deadline, ranked by {grade}"
        out.append(
            {
                "position": pos,
                "id": r[0],
                "email": r[1],
                "stage": r[2],
                "owner": r[3],
                "grade": r[4],
                "score": r[7],
                "sla_due_at": iso(due),
                "sla_overdue": due is not None and due < now,
                "reason": why,
            }
        )
    return out
