"""Reading leads: one lead with its explanation and history, lists, the funnel.

Reads fire due timers first (`tick`), so what is shown is the state as of now; they
never take the write lock otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leadgate.engine.errors import NotFound
from leadgate.ingest.validate import check_email, iso
from leadgate.leads.processor import LeadProcessor
from leadgate.leads.record import normalize_email
from leadgate.lifecycle.stages import FUNNEL, STAGES, allowed_targets
from leadgate.store.repository import Repository, StoredLead

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine


def show(engine: Engine, email: str) -> dict[str, Any]:
    """Everything about one lead, scored as of now, with its explanation and history.

    One read transaction, unless a timer of the lead is due: then `tick` fires it
    first and the lead is read again.
    """
    raw = email
    # A stored address was checked when it was stored: the syntax check (and its
    # library's import, most of a `lead show`'s own time) is for addresses not found.
    email = normalize_email(raw)
    now = engine.clock()
    for attempt in range(2):
        # The driver's connection: on an SQLite file a one-shot `lead show` then never
        # imports SQLAlchemy (issue 17); a server reads through its pool as before.
        with engine.db.read_raw() as dbapi:
            repo = Repository(engine.db, None, dbapi)
            proc = engine._active(repo)
            s = repo.lead_by_email(email) if email else None
            if s is None:
                checked = check_email(raw)
                # The library may spell the domain otherwise (`x@xn--bcher-kva.de` is
                # stored as `x@bücher.de`): the stored spelling is the checked one.
                s = repo.lead_by_email(checked) if checked != email else None
                if s is None:
                    raise NotFound(f"no lead with email {checked}")
                email = checked
            lead = s.state
            due = lead.next_due_at is not None and lead.next_due_at <= now
            if not due or attempt:
                return show_lead(engine, repo, proc, s, now)
        engine.tick(now)
    raise AssertionError("unreachable")


def show_lead(
    engine: Engine, repo: Repository, proc: LeadProcessor, s: StoredLead, now: float
) -> dict[str, Any]:
    lead = s.state
    assert lead.id is not None
    if lead.playbook_version != proc.version:
        lead.engagement_state = proc.rules.replay(repo.events_of(lead.id))
    history, corrections = repo.history_with_corrections(lead.id)
    recent = repo.recent_events(lead.id, 10)
    attrs = dict(lead.attributes)
    attrs.setdefault("email", lead.email)
    card = proc.scorer.card(attrs, lead.engagement_state, max(now, lead.engagement_state.last_at))
    out = _show_dict(engine, s, proc, card, history, recent)
    # What re-derivations took back (late events, late moves): the history says so.
    out["corrections"] = [
        {
            "voided": {"from": c[1], "to": c[2], "at": iso(c[3])},
            "at": iso(c[6]),
            "actor": c[4],
            "reason": c[5],
        }
        for c in corrections
    ]
    for extra in engine.show_extras:
        extra(repo, out)
    return out


def _show_dict(
    engine: Engine,
    s: StoredLead,
    proc: LeadProcessor,
    card: Any,
    history: list[tuple[Any, ...]],
    recent: list[tuple[Any, ...]],
) -> dict[str, Any]:
    lead = s.state
    return {
        "id": lead.id,
        "email": lead.email,
        "stage": lead.stage,
        "stage_since": iso(lead.stage_at),
        "stage_reason": lead.stage_reason,
        "owner": s.owner,
        "sla_due_at": None,
        "fit": card.fit,
        "engagement": card.engagement,
        "score": card.total,
        "fit_grade": card.fit_grade,
        "engagement_grade": card.engagement_grade,
        "grade": card.grade,
        "as_of": iso(card.as_of),
        "playbook_version": proc.version,
        "explanation": [
            {"score": c.score, "rule": c.rule, "points": c.points} for c in card.explanation
        ],
        "history": [
            {"from": h[0], "to": h[1], "at": iso(h[2]), "actor": h[3], "reason": h[4]}
            for h in history
        ],
        "allowed_stages": allowed_targets(lead.stage, proc.playbook),
        "next_due_at": iso(lead.next_due_at),
        "attributes": lead.attributes,
        "created_at": iso(lead.created_at),
        "updated_at": iso(s.updated_at),
        "recent_events": [
            {"id": e[0], "type": e[1], "occurred_at": iso(e[2]), "properties": e[3]} for e in recent
        ],
    }


def funnel(engine: Engine, segment: str | None = None) -> dict[str, Any]:
    """Leads per stage now, leads that ever reached each funnel stage, and step conversion.

    With `segment` (a name in the playbook's `segments:`), only the leads in that segment
    now count, selected in SQL (`leadgate.analytics.sqlsegments`)."""
    # The tables' definitions (SQLAlchemy Table objects) are for migrations and a few
    # reports: `lead show`, which imports this module, reads none (issue 17).
    from leadgate.store.schema import EFFECTIVE_TRANSITIONS

    engine.tick()
    seg, in_seg = "", ""
    if segment is not None:
        from leadgate.analytics.sqlsegments import segment_where
        from leadgate.engine.listing import segment_condition

        where = segment_where(
            segment_condition(engine, segment), "sqlite" if engine.db.is_sqlite else "postgres"
        )
        seg = f" WHERE {where}"
        in_seg = f" WHERE lead_id IN (SELECT l.id FROM leads l WHERE {where})"
    with engine.db.read() as conn:
        # Raw driver SQL: a segment's literals may hold a `?` (no parameters here).
        def q(sql: str) -> list[Any]:
            return list(conn.exec_driver_sql(sql, ()).fetchall())

        now_counts = dict(q(f"SELECT l.stage, COUNT(*) FROM leads l{seg} GROUP BY l.stage"))
        reached = dict(
            q(
                "SELECT to_stage, COUNT(DISTINCT lead_id) FROM "
                + EFFECTIVE_TRANSITIONS
                + in_seg
                + " GROUP BY to_stage"
            )
        )
        total = q(f"SELECT COUNT(*) FROM leads l{seg}")[0][0]
    reached["lead"] = total
    steps = []
    for a, b in zip(FUNNEL, FUNNEL[1:], strict=False):
        na, nb = reached.get(a, 0), reached.get(b, 0)
        steps.append(
            {
                "from": a,
                "to": b,
                "from_count": na,
                "to_count": nb,
                "rate": round(nb / na, 4) if na else None,
            }
        )
    out: dict[str, Any] = {"segment": segment} if segment is not None else {}
    return {
        **out,
        "total_leads": total,
        "current": {s: now_counts.get(s, 0) for s in STAGES},
        "reached": {s: reached.get(s, 0) for s in (*FUNNEL, "nurture", "disqualified")},
        "conversion": steps,
    }
