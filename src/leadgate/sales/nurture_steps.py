"""Nurture's timed steps: a tick runs the steps of the enrolments that are due (wait,
send, branch) until one has to wait, writing each step with the message it made in one
transaction.

    counts, full = fire_due(repo, tracks, now, limit=500)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadgate.sales.mail import header_text
from leadgate.sales.nurture import (
    _ENR_COLS,
    DAY,
    WEBHOOK_EVENT,
    Tracks,
    _cancel_mail,
    _Lead,
    _leads,
    _log,
    _stopped,
)
from leadgate.sales.playbook_sections import (
    MessageTemplate,
    NurtureTrack,
    SendStep,
)
from leadgate.store.repository import Repository
from leadgate.webhooks import enqueue as enqueue_webhook


@dataclass
class StepCounts:
    """What one pass over due enrolments did."""

    steps: int = 0
    queued: int = 0
    completed: int = 0
    fired: int = 0
    # Rows for the mail outbox, written in one statement with the steps that made them.
    mail: list[tuple[Any, ...]] = field(default_factory=list)
    hooks: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


def fire_due(repo: Repository, tracks: Tracks, now: float, limit: int) -> tuple[StepCounts, bool]:
    """Run the steps of up to `limit` due enrolments; (counts, whether the batch was full)."""
    skip = "" if repo.db.is_sqlite else " FOR UPDATE SKIP LOCKED"
    # `status = 'active'` is written literally so the partial index applies.
    due = repo.execute(
        f"SELECT {_ENR_COLS} FROM sales_nurture_enrolments WHERE status = 'active' "
        f"AND next_due_at <= ? ORDER BY next_due_at LIMIT ?{skip}",
        [now, limit],
    ).fetchall()
    counts = StepCounts()
    if not due:
        return counts, False
    # A lead someone else is moving waits for the next tick (never block on it).
    leads = _leads(repo, sorted({r[1] for r in due}), skip_locked=True)
    stop_events = tracks.section.stop_on_events
    stopped = _stopped(repo, list(leads), stop_events)
    logs: list[tuple[int, int, str, int | None, str, str, float]] = []
    updates: list[tuple[Any, ...]] = []
    ends: list[tuple[Any, ...]] = []
    for eid, lid, track_name, step, seq, since, _due_at, reason, _entered in due:
        lead = leads.get(lid)
        if lead is None:
            continue
        counts.fired += 1
        track = tracks.by_name.get(track_name)
        if lead.stage != "nurture":
            ends.append(("ended", f"left nurture: {lead.stage}", now, now, eid))
            logs.append((lid, eid, track_name, step, "ended", f"left nurture: {lead.stage}", now))
            continue
        if track is None:
            why = f"track '{track_name}' is no longer in the playbook"
            ends.append(("ended", why, now, now, eid))
            logs.append((lid, eid, track_name, step, "ended", why, now))
            continue
        if lid in stopped:
            why = "stopped: the lead unsubscribed (" + ", ".join(stop_events) + ")"
            ends.append(("ended", why, now, now, eid))
            logs.append((lid, eid, track_name, step, "ended", why, now))
            continue
        r = _run(
            repo,
            tracks.section.templates,
            track,
            eid,
            lead,
            reason,
            step,
            seq,
            since,
            now,
            logs,
            counts,
        )
        if r is None:
            counts.completed += 1
            ends.append(("completed", "track finished", now, now, eid))
            logs.append((lid, eid, track_name, None, "completed", "track finished", now))
        else:
            updates.append((*r, now, eid))
    repo.executemany(
        "INSERT INTO sales_mail_outbox (id, lead_id, enrolment_id, seq, track, step, to_addr, "
        "subject, body, status, attempts, next_attempt_at, created_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,'pending',0,?,?)",
        counts.mail,
    )
    enqueue_webhook(repo, counts.hooks, now)
    repo.executemany(
        "UPDATE sales_nurture_enrolments SET step = ?, seq = ?, step_since = ?, "
        "next_due_at = ?, updated_at = ? WHERE id = ?",
        updates,
    )
    repo.executemany(
        "UPDATE sales_nurture_enrolments SET status = ?, end_reason = ?, next_due_at = NULL, "
        "ended_at = ?, updated_at = ? WHERE id = ?",
        ends,
    )
    _cancel_mail(repo, [(e[1], e[4]) for e in ends if e[0] == "ended"])
    _log(repo, logs)
    return counts, len(due) == limit


def _run(
    repo: Repository,
    templates: Mapping[str, MessageTemplate],
    track: NurtureTrack,
    eid: int,
    lead: _Lead,
    reason: str | None,
    i: int,
    seq: int,
    t: float,
    now: float,
    logs: list[tuple[int, int, str, int | None, str, str, float]],
    counts: StepCounts,
) -> tuple[int, int, float, float] | None:
    """Run steps from `i` (reached at moment `t`) until one has to wait.

    Returns (step, seq, step_since, next_due_at) to store, or None when the track is done.
    """
    steps = track.steps
    # Loops are only allowed through a waiting step (checked at load), so this bound is a
    # safety net, not a limit a valid track can reach in one pass.
    for _ in range(4 * len(steps) + 4):
        if i >= len(steps):
            return None
        st = steps[i]
        if st.wait_days is not None:
            end = t + st.wait_days * DAY
            if now < end:
                return i, seq, t, end
            counts.steps += 1
            i, t = i + 1, end
        elif st.send is not None:
            counts.steps += 1
            seq += 1
            _send(repo, templates, track, st.send, eid, seq, i, lead, reason, now, logs, counts)
            i += 1
        else:
            b = st.branch
            assert b is not None
            seen = repo.execute(
                "SELECT 1 FROM events WHERE lead_id = ? AND type = ? AND occurred_at >= ? LIMIT 1",
                [lead.id, b.on_event, t],
            ).fetchone()
            if seen is None and b.within_days is not None and now < t + b.within_days * DAY:
                return i, seq, t, t + b.within_days * DAY
            counts.steps += 1
            target = b.goto if seen is not None else b.else_
            if seen is not None:
                detail = f"{b.on_event} seen"
            elif b.within_days is not None:
                detail = f"no {b.on_event} within {b.within_days:g} days"
                t = t + b.within_days * DAY
            else:
                detail = f"no {b.on_event}"
            nxt = i + 1 if target is None else (len(steps) if target == "end" else int(target))
            logs.append(
                (
                    lead.id,
                    eid,
                    track.name,
                    i,
                    "branch",
                    f"{detail}: " + ("end" if nxt >= len(steps) else f"step {nxt}"),
                    now,
                )
            )
            i = nxt
    return i, seq, t, now + DAY


def _context(lead: _Lead, track: NurtureTrack, reason: str | None) -> dict[str, Any]:
    ctx = lead.fields(reason)
    ctx["lead"] = {
        "id": lead.id,
        "email": lead.email,
        "stage": lead.stage,
        "stage_reason": lead.stage_reason,
        "owner": lead.owner,
        "grade": lead.grade,
        **{k: v for k, v in lead.scores.items()},
    }
    ctx["track"] = track.name
    return ctx


def _send(
    repo: Repository,
    templates: Mapping[str, MessageTemplate],
    track: NurtureTrack,
    send: SendStep,
    eid: int,
    seq: int,
    i: int,
    lead: _Lead,
    reason: str | None,
    now: float,
    logs: list[tuple[int, int, str, int | None, str, str, float]],
    counts: StepCounts,
) -> None:
    subject_t, body_t = send.subject, send.body
    if send.template is not None:
        tpl = templates[send.template]
        subject_t = subject_t if subject_t is not None else tpl.subject
        body_t = body_t if body_t is not None else tpl.body
    # Jinja2 comes with the first step to render, not with every command that opens the
    # store (`lead show` loads this module through the sales workflow; issue 17).
    from leadgate.sales.templates import TemplateProblem, render

    ctx = _context(lead, track, reason)
    try:
        # One header line: a CR or any other line break from a lead's attribute would
        # make the message unbuildable (or, unstripped, a header of its own).
        subject = header_text(render(subject_t or "", ctx))
        body = render(body_t or "", ctx)
    except TemplateProblem as exc:
        # One bad template must not stop the tick for everyone: the step is skipped, loudly.
        logs.append((lead.id, eid, track.name, i, "failed", f"not sent: {exc}", now))
        return
    if send.channel == "smtp":
        mid = uuid.uuid4().hex
        counts.mail.append(
            (mid, lead.id, eid, seq, track.name, i, lead.email, subject, body, now, now)
        )
        detail = f"e-mail '{subject}' to {lead.email} queued ({mid})"
    else:
        counts.hooks.append(
            (
                WEBHOOK_EVENT,
                lead.id,
                {
                    "lead_id": lead.id,
                    "email": lead.email,
                    "track": track.name,
                    "step": i,
                    "subject": subject,
                    "body": body,
                    "nurture_reason": reason,
                    "owner": lead.owner,
                },
            )
        )
        detail = f"webhook {WEBHOOK_EVENT} '{subject}' queued"
    counts.queued += 1
    logs.append((lead.id, eid, track.name, i, "queued", detail, now))
