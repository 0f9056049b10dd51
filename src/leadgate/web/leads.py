"""One lead: `/app/leads/{id}`, and the moves a person makes on it.

The page shows the stage and owner, the SLA, the score explanation (its lines sum to
the scores), the attributes and a timeline of stage changes, assignments and events.
Its buttons are plain POST forms (with the session's CSRF token) that work without
JavaScript. Only moves the stage graph allows from here are offered; each calls the
engine (or the sales workflow, for the handoff) with the person as the actor,
`user:<name>`, so the history shows who did it.

    Accept      mql -> sal                      engine.set_stage
    Reject      mql -> nurture, with a reason   engine.set_stage
    Nurture     (other stages) -> nurture       engine.set_stage
    Disqualify  -> disqualified, with a reason  engine.set_stage
    Hand off    sal -> sql (framework passed)   Sales.promote_sql

Reasons come from the playbook's list for the target stage (`stages.reasons`); a
detail typed beside it is kept as `reason: detail`, which the list accepts.

While the lead is a SAL or SQL, the page also carries the qualification form of the
playbook's framework (BANT by default): per criterion met / not met / unknown and a
note, saved as a new version by `Sales.qualify` (POST /app/leads/{id}/qualification).
Hand off is refused, with the framework's own message, until the policy passes.

An SQL is accepted as an opportunity (SQL → SQO) through its own form: amount, currency
and expected close date (`Sales.opportunity`, as `leadgate opportunity EMAIL ...`).
Notes (POST /app/leads/{id}/notes) are kept as `note` events (`leadgate.sales.activity`)
and shown on the timeline with the lead's nurture mail, stage changes, assignments and
events, newest first. The app's words are the CLI's stages: Accept moves to `sal`, Hand
off to `sql`, the opportunity to `sqo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Request
from starlette.responses import RedirectResponse, Response

from leadgate.engine.engine import NotFound
from leadgate.ingest.validate import InputError
from leadgate.lifecycle.stages import IllegalTransition, needs_reason
from leadgate.qualification.frameworks import QualificationError
from leadgate.sales import sales_of
from leadgate.sales.activity import NOTE_EVENT, activity, add_note
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.web.base import (
    STAGE,
    Viewer,
    WebError,
    check_form,
    field,
    host,
    page,
    router,
    signed_in,
)

r = router()
QUALIFY_STAGES = ("sal", "sql")
STATUSES = (("met", "met"), ("not_met", "not met"), ("unknown", "unknown"))
LeadId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@dataclass(frozen=True, slots=True)
class Action:
    """A button on the lead page."""

    key: str
    label: str
    target: str
    reasons: tuple[str, ...] | None  # None: no reason asked

    @property
    def shortcut(self) -> str:
        """The key that focuses this form (app.js): a, h, r, n, d."""
        return self.label[0].lower()

    @property
    def asks_reason(self) -> bool:
        """Whether the form has a reason control."""
        return self.reasons is not None


def actions_for(stage: str, allowed: list[str], reasons: dict[str, list[str]]) -> list[Action]:
    """The buttons for a lead in `stage` that may move to `allowed` (illegal moves are
    left out). A move the stage graph makes need a reason asks for one, from the
    playbook's list for the target stage when it has one."""

    def asked(target: str) -> tuple[str, ...] | None:
        return tuple(reasons.get(target, ())) if needs_reason(stage, target) else None

    out = []
    if stage == "mql" and "sal" in allowed:
        out.append(Action("accept", "Accept", "sal", asked("sal")))
    if stage == "sal" and "sql" in allowed:
        out.append(Action("handoff", "Hand off", "sql", asked("sql")))
    if "nurture" in allowed:
        label = "Reject" if stage == "mql" else "Nurture"
        out.append(Action(label.lower(), label, "nurture", asked("nurture")))
    if "disqualified" in allowed:
        out.append(Action("disqualify", "Disqualify", "disqualified", asked("disqualified")))
    return out


def _email_of(db: Database, lead_id: int) -> str | None:
    with db.read() as conn:
        row = (
            Repository(db, conn)
            .execute("SELECT email FROM leads WHERE id = ?", [lead_id])
            .fetchone()
        )
    return str(row[0]) if row else None


def timeline(lead: dict[str, Any], extra: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Stage changes, assignments, notes, mail and recent events, newest first."""
    items: list[dict[str, Any]] = []
    for h in lead.get("history", []):
        items.append(
            {
                "at": h["at"],
                "kind": "stage",
                "what": f"{h['from']} → {h['to']}",
                "who": h["actor"],
                "why": h["reason"],
            }
        )
    for a in lead.get("assignments", []) or []:
        items.append(
            {
                "at": a["at"],
                "kind": "owner",
                "what": f"assigned to {a['rep']}" if a["rep"] else "unassigned",
                "who": a["actor"],
                "why": a["reason"] or a["explanation"],
            }
        )
    for n in extra.get("notes", []):
        items.append(
            {"at": n["at"], "kind": "note", "what": "note", "who": n["by"], "why": n["text"]}
        )
    for m in extra.get("mail", []):
        sent = m["status"] == "sent"
        items.append(
            {
                "at": (m["sent_at"] if sent else None) or m["created_at"],
                "kind": "mail",
                "what": f"mail {m['status']}: “{m['subject']}”",
                "who": "",
                "why": f"nurture track {m['track']}, step {m['step']}"
                + (f" ({m['last_error']})" if m["last_error"] and not sent else ""),
            }
        )
    for e in lead.get("recent_events", []):
        if e["type"] == NOTE_EVENT:
            continue  # listed above, with its text
        items.append(
            {"at": e["occurred_at"], "kind": "event", "what": e["type"], "who": "", "why": ""}
        )
    items.sort(key=lambda x: x["at"] or "", reverse=True)
    return items


async def _activity(request: Request, lead_id: int) -> dict[str, list[dict[str, Any]]]:
    """The lead's notes and nurture mail (leadgate.sales.activity)."""
    h = host(request)
    found: dict[str, list[dict[str, Any]]] = await h.read(activity, h.engine, lead_id, small=True)
    return found


async def _load(request: Request, lead_id: int) -> tuple[str, dict[str, Any], list[Action]]:
    h = host(request)
    email = await h.read(_email_of, h.db, lead_id, small=True)
    if email is None:
        raise WebError(404, "Not found", f"There is no lead with id {lead_id}.")
    try:
        lead = await h.read(h.engine.show, email, small=True)
    except NotFound:
        raise WebError(404, "Not found", f"There is no lead with id {lead_id}.") from None
    proc = await h.read(h.engine.processor, small=True)
    acts = actions_for(lead["stage"], lead["allowed_stages"], dict(proc.playbook.stages.reasons))
    return email, lead, acts


async def _page(
    request: Request,
    viewer: Viewer,
    lead: dict[str, Any],
    acts: list[Action],
    status: int = 200,
    **kw: Any,
) -> Response:
    may_move = viewer.user.role in STAGE
    extra = await _activity(request, int(lead["id"]))
    return page(
        "lead.html",
        viewer,
        status,
        lead=lead,
        actions=acts if may_move else [],
        may_move=may_move,
        may_qualify=may_move
        and lead["stage"] in QUALIFY_STAGES
        and bool(lead.get("qualification")),
        statuses=STATUSES,
        timeline=timeline(lead, extra),
        may_opportunity=may_move and lead["stage"] == "sql" and "sqo" in lead["allowed_stages"],
        **kw,
    )


async def _refused(
    request: Request, viewer: Viewer, lead_id: int, exc: Exception, **kw: Any
) -> Response:
    """The lead page again, as it is now, with why a change was refused: 409 when the
    stage graph or the framework forbids it, 422 for a field to correct (`kw`: what the
    form should show again)."""
    _, lead, acts = await _load(request, lead_id)
    status = 409 if isinstance(exc, IllegalTransition) else 422
    return await _page(request, viewer, lead, acts, status, error=str(exc), **kw)


@r.get("/app/leads/{lead_id}")
async def lead_page(request: Request, lead_id: LeadId) -> Response:
    """The lead as of now."""
    viewer = await signed_in(request)
    _, lead, acts = await _load(request, lead_id)
    return await _page(request, viewer, lead, acts)


@r.post("/app/leads/{lead_id}/move")
async def move(request: Request, lead_id: LeadId) -> Response:
    """Make one of the offered moves, as the signed-in person; back to the lead page."""
    viewer = await signed_in(request, STAGE)
    form = await check_form(request, viewer)
    email, lead, acts = await _load(request, lead_id)
    chosen = {a.key: a for a in acts}.get(field(form, "action", 40))
    if chosen is None:
        offered = ", ".join(a.label for a in acts) or "none"
        return await _page(
            request,
            viewer,
            lead,
            acts,
            409,
            error=f"That move is not possible from stage {lead['stage']} (possible: {offered}).",
        )
    h = host(request)
    actor = viewer.user.actor
    try:
        if chosen.target == "sql":
            await h.write(sales_of(h.engine).promote_sql, email, actor)
        else:
            reason = field(form, "reason", 200)
            detail = field(form, "detail", 1000)
            if chosen.reasons and reason not in chosen.reasons:
                raise InputError("reason", "choose a reason from the list")
            text = f"{reason}: {detail}" if reason and detail else (reason or detail or None)
            await h.write(h.engine.set_stage, email, chosen.target, text, actor, small=True)
    except (IllegalTransition, InputError) as exc:
        return await _refused(request, viewer, lead_id, exc)
    return RedirectResponse(f"/app/leads/{lead_id}", 303)


@r.post("/app/leads/{lead_id}/qualification")
async def qualify(request: Request, lead_id: LeadId) -> Response:
    """Save the framework's answers and notes (a new version), as the signed-in person."""
    viewer = await signed_in(request, STAGE)
    form = await check_form(request, viewer)
    _, lead, acts = await _load(request, lead_id)
    q = lead.get("qualification")
    if lead["stage"] not in QUALIFY_STAGES or not q:
        return await _page(
            request,
            viewer,
            lead,
            acts,
            409,
            error=f"Qualification is recorded on SALs and SQLs; this lead is {lead['stage']}.",
        )
    answers: dict[str, str] = {}
    notes: dict[str, str] = {}
    for c in q["criteria"]:
        key = c["key"]
        answers[key] = field(form, f"status-{key}", 20) or c["status"]
        notes[key] = field(form, f"note-{key}", 10_000)
    h = host(request)
    try:
        await h.write(sales_of(h.engine).qualify, lead_id, answers, notes, viewer.user.actor)
    except (QualificationError, InputError) as exc:
        return await _refused(request, viewer, lead_id, exc)
    return RedirectResponse(f"/app/leads/{lead_id}#qualification-h", 303)


@r.post("/app/leads/{lead_id}/notes")
async def note(request: Request, lead_id: LeadId) -> Response:
    """Keep a note on the lead, as the signed-in person; back to the timeline."""
    viewer = await signed_in(request, STAGE)
    form = await check_form(request, viewer)
    h = host(request)
    try:
        await h.write(
            add_note, h.engine, lead_id, field(form, "text", 10_000), viewer.user.actor, small=True
        )
    except NotFound:
        raise WebError(404, "Not found", f"There is no lead with id {lead_id}.") from None
    except InputError as exc:
        return await _refused(request, viewer, lead_id, exc)
    return RedirectResponse(f"/app/leads/{lead_id}#timeline-h", 303)


@r.post("/app/leads/{lead_id}/opportunity")
async def opportunity(request: Request, lead_id: LeadId) -> Response:
    """Accept an SQL as an opportunity (SQL → SQO) with amount, currency and close date,
    as the signed-in person."""
    viewer = await signed_in(request, STAGE)
    form = await check_form(request, viewer)
    _, lead, acts = await _load(request, lead_id)
    if lead["stage"] != "sql" or "sqo" not in lead["allowed_stages"]:
        return await _page(
            request,
            viewer,
            lead,
            acts,
            409,
            error=f"An opportunity is recorded on an SQL; this lead is {lead['stage']}.",
        )
    h = host(request)
    try:
        await h.write(
            sales_of(h.engine).opportunity,
            lead_id,
            field(form, "amount", 40),
            field(form, "currency", 10).upper(),
            field(form, "close_date", 40),
            viewer.user.actor,
        )
    except (IllegalTransition, InputError) as exc:
        opp_form = {k: field(form, k, 40) for k in ("amount", "currency", "close_date")}
        return await _refused(request, viewer, lead_id, exc, opp_form=opp_form)
    return RedirectResponse(f"/app/leads/{lead_id}", 303)
