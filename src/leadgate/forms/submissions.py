"""One accepted submission written: the lead, its events, answers and consents.

`Forms.submit` (service.py) decides whether a submission is taken (ticket, spam rules,
answers); `record` writes one that is, in the order that keeps a retry whole: the lead's
attributes upserted, the `form_submitted` event (and the form's hand-raiser event)
ingested **through the engine**, the qualification answers through the sales workflow,
then the submission and consent rows. The ticket's nonce is the event id, so a double
click or a retry after a failure is one submission.

    out = record(engine, "demo", form, ticket, sub, known, visit, ip_hash, email_hash, now)
    out["status"]   # "accepted", or "duplicate" for the second of a double click
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from leadgate.engine.engine import Engine
from leadgate.forms.answers import FormError
from leadgate.forms.flow import Known, Submission
from leadgate.ingest.validate import MAX_PROPERTIES_BYTES, EventIn
from leadgate.playbook.forms_section import Form
from leadgate.store.repository import Repository

EVENT_TYPE = "form_submitted"
_META_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
MAX_META = 2000


@dataclass(frozen=True, slots=True)
class Visit:
    """Where a submission came from: client address, the tracker's visitor id, the page."""

    ip: str = "unknown"
    visitor_id: str | None = None
    lead_id: int | None = None  # from the hosted page's signed cookie
    referrer: str | None = None
    landing_page: str | None = None
    utm: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ticket:
    """A served form's signed ticket, opened: which form, when it was served, its nonce."""

    form: str
    issued_at: float
    nonce: str


def record(
    engine: Engine,
    name: str,
    form: Form,
    ticket: Ticket,
    sub: Submission,
    known: Known,
    visit: Visit,
    ip_hash: str,
    email_hash: str,
    now: float,
) -> dict[str, Any]:
    """Write an accepted submission; `{status, thank_you, booking_url?, lead_id}`."""
    # Here, not at the top: `lead show` loads this module (its consents) and must not
    # pay for SQLAlchemy (issue 17); a submission writes, so it is loaded by now.
    from sqlalchemy.exc import IntegrityError

    before = known.stage if known.lead_id is not None else None
    props: dict[str, Any] = {"form": name, "answers": sub.answers}
    for key, value in (
        ("referrer", visit.referrer),
        ("landing_page", visit.landing_page),
        ("visitor_id", visit.visitor_id),
    ):
        if value:
            props[key] = value[:MAX_META]
    for key in _META_KEYS:
        if visit.utm.get(key):
            props[key] = visit.utm[key][:MAX_META]
    events = [form_event(f"form-{ticket.nonce}", sub.email, EVENT_TYPE, now, props)]
    if len(events[0].properties_json) > MAX_PROPERTIES_BYTES:
        # The limit every event has (ingest.validate); a form of many long answers.
        raise FormError("answers", f"over the {MAX_PROPERTIES_BYTES // 1024} KB an event holds")
    if form.hand_raiser:
        events.append(
            form_event(f"form-{ticket.nonce}-hr", sub.email, form.hand_raiser, now, {"form": name})
        )
    # Attributes first, so the event is scored on the lead as the form describes it
    # (nothing to write when the lead already has them all).
    if known.lead_id is None or any(
        known.attributes.get(k) != v for k, v in sub.attributes.items()
    ):
        engine.upsert_leads([(sub.email, sub.attributes, None)], actor=f"form:{name}")
    results = engine.ingest(events, now)
    if results[0].status == "duplicate":
        # This ticket's event is stored: a double click (the other request records
        # the rest), or a first attempt that failed before its submission row, whose
        # qualification and consent are recorded now rather than lost.
        with engine.db.read() as conn:
            done = (
                Repository(engine.db, conn)
                .execute("SELECT became_mql FROM form_submissions WHERE token = ?", [ticket.nonce])
                .fetchone()
            )
        if done is not None:
            return answer(form, "duplicate", bool(done[0]))
    lead_id = results[0].lead_id
    assert lead_id is not None
    if sub.qualification:
        from leadgate.sales import sales_of

        sales_of(engine).qualify(
            lead_id,
            {k: status for k, (status, _) in sub.qualification.items()},
            {k: note for k, (_, note) in sub.qualification.items()},
            actor=f"form:{name}",
        )
    try:
        with engine.db.write() as conn:
            repo = Repository(engine.db, conn)
            row = repo.execute("SELECT stage FROM leads WHERE id = ?", [lead_id]).fetchone()
            became_mql = row is not None and row[0] == "mql" and before != "mql"
            repo.execute(
                "INSERT INTO form_submissions (form, token, event_id, lead_id, visitor_id, "
                "ip_hash, email_hash, became_mql, at) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    name,
                    ticket.nonce,
                    events[0].id,
                    lead_id,
                    visit.visitor_id,
                    ip_hash,
                    email_hash,
                    became_mql,
                    now,
                ],
            )
            row = repo.execute(
                "SELECT id FROM form_submissions WHERE token = ?", [ticket.nonce]
            ).fetchone()
            repo.executemany(
                "INSERT INTO form_consents (lead_id, form, field, text_version, text, ip_hash, "
                "submission_id, at) VALUES (?,?,?,?,?,?,?,?)",
                [
                    (lead_id, name, f, version, text, ip_hash, row[0], now)
                    for f, version, text in sub.consents
                ],
            )
    except IntegrityError:
        # Another request with this ticket wrote its submission row first.
        return answer(form, "duplicate", False)
    out = answer(form, "accepted", became_mql)
    out["lead_id"] = lead_id
    return out


def answer(form: Form, status: str, became_mql: bool) -> dict[str, Any]:
    """What the visitor is told: the thank-you, and the booking link to a new MQL."""
    out: dict[str, Any] = {"status": status, "thank_you": form.thank_you}
    if became_mql and form.booking_url:
        out["booking_url"] = form.booking_url
    return out


def form_event(event_id: str, email: str, type_: str, at: float, props: dict[str, Any]) -> EventIn:
    return EventIn(
        event_id, email, type_, at, props, orjson.dumps(props, option=orjson.OPT_SORT_KEYS).decode()
    )
