"""Notes people write on a lead, and the lead's nurture mail: what a lead's timeline
shows beside its stage changes and events.

A note is stored as an event of type `note` on the lead (properties: the text and who
wrote it), so it sits in the lead's history in time order, is exported with the events
and needs no table of its own (as `opportunity_updated` does). Mail is read from the
nurture outbox (`sales_mail_outbox`).

    note = add_note(engine, 42, "Called, back on Monday", "user:anna")
    found = activity(engine, 42)   # {"notes": [{"at", "text", "by"}], "mail": [...]}
"""

from __future__ import annotations

from time import time_ns
from typing import Any

from leadgate.engine.engine import Engine, NotFound
from leadgate.ingest.validate import EventIn, InputError, iso
from leadgate.store.repository import Repository, dumps, loads

NOTE_EVENT = "note"
MAX_NOTE = 10_000


def _lead_row(repo: Repository, lead_id: int) -> tuple[int, str]:
    row = repo.execute("SELECT id, email FROM leads WHERE id = ?", [lead_id]).fetchone()
    if row is None:
        raise NotFound(f"no lead with id {lead_id}")
    return int(row[0]), str(row[1])


def add_note(engine: Engine, lead_id: int, text: str, actor: str) -> dict[str, Any]:
    """Keep a note on the lead (an event of type `note`); InputError when empty or too
    long, NotFound for an unknown lead."""
    text = text.strip()
    if not text:
        raise InputError("note", "is empty: write the note first")
    if len(text) > MAX_NOTE:
        raise InputError("note", f"longer than {MAX_NOTE} characters")
    with engine.db.read() as conn:
        _, email = _lead_row(Repository(engine.db, conn), lead_id)
    erased = erased_lead(email, lead_id)
    if erased is not None:
        raise InputError("note", erased)
    now = engine.clock()
    props = {"text": text, "actor": actor}
    ev = EventIn(f"note-{time_ns()}-{lead_id}", email, NOTE_EVENT, now, props, dumps(props))
    engine.ingest([ev], now)
    return {"at": iso(now), "text": text, "by": actor}


def erased_lead(email: str, lead_id: int) -> str | None:
    """Why a note cannot be kept on this lead, when it is an erased person's (art. 17):
    the lead stays for the funnel, but nothing written about the person is kept, and a
    note is free text about them (docs/privacy.md). None for anyone else."""
    from leadgate.privacy.erase import is_pseudonym

    if not is_pseudonym(email):
        return None
    return f"lead {lead_id} was erased (art. 17): no notes about the person are kept"


def activity(engine: Engine, lead_id: int, limit: int = 200) -> dict[str, list[dict[str, Any]]]:
    """The lead's notes and nurture mail, newest first (at most `limit` of each)."""
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        lid, _ = _lead_row(repo, lead_id)
        notes = repo.execute(
            "SELECT occurred_at, properties FROM events WHERE lead_id = ? AND type = ? "
            "ORDER BY occurred_at DESC, id DESC LIMIT ?",
            [lid, NOTE_EVENT, limit],
        ).fetchall()
        mail = repo.execute(
            "SELECT id, track, step, subject, status, created_at, sent_at, last_error "
            "FROM sales_mail_outbox WHERE lead_id = ? ORDER BY created_at DESC, id LIMIT ?",
            [lid, limit],
        ).fetchall()
    out_notes = []
    for at, raw in notes:
        props = loads(raw) if isinstance(raw, str | bytes) else (raw or {})
        out_notes.append(
            {"at": iso(at), "text": str(props.get("text", "")), "by": props.get("actor") or ""}
        )
    return {
        "notes": out_notes,
        "mail": [
            {
                "id": m[0],
                "track": m[1],
                "step": m[2],
                "subject": m[3],
                "status": m[4],
                "created_at": iso(m[5]),
                "sent_at": iso(m[6]),
                "last_error": m[7],
            }
            for m in mail
        ],
    }
