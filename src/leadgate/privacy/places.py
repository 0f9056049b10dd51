"""The places personal data lives that need their own export and erasure code: the lead
row, its events, what the product sent about the person (webhooks, nurture), merges,
refused submissions, the privacy log and the search index. `registry.SOURCES` names them
with the plain tables (`LeadTable`).

Example:
    Source("lead", ("leads",), export_lead, erase_lead, "attributes, scores, ...")
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from leadgate.privacy.person import Person
from leadgate.privacy.source import LeadTable, _times, rows, table_exists
from leadgate.scoring.engagement import ADJUSTMENT
from leadgate.store.repository import Repository, dumps, loads
from leadgate.store.schema import LEAD_EXPORTED_COLUMNS, leads

# -- the lead itself ----------------------------------------------------------------


# The lead's own columns as `person export` shows them: the exported ones and the
# attributes, in the table's order (schema.LEAD_EXPORTED_COLUMNS says which and why);
# `str`: SQLAlchemy names are a str subclass, which orjson refuses as a key.
_LEAD_COLS = [
    str(c.name) for c in leads.columns if c.name in {*LEAD_EXPORTED_COLUMNS, "attributes"}
]
_LEAD_TIMES = [c for c in _LEAD_COLS if c.endswith("_at")]  # epoch seconds → ISO 8601


def export_lead(repo: Repository, p: Person) -> Any:
    [row] = rows(
        repo,
        f"SELECT {', '.join(_LEAD_COLS)} FROM leads WHERE id = ?",
        [p.lead_id],
        _LEAD_COLS,
    )
    row["attributes"] = loads(row["attributes"])
    return _times(row, *_LEAD_TIMES)


def erase_lead(repo: Repository, p: Person, now: float) -> int:
    kept = {k: p.scrub_address(v) for k, v in p.attributes.items() if k in p.kept}
    row = repo.execute("SELECT stage_reason, score_state FROM leads WHERE id = ?", [p.lead_id])
    reason, state = row.fetchone()
    for old, new in p.renamed.items():
        # The engagement state names the last event scored (its order key).
        state = state.replace(orjson.dumps(old).decode(), orjson.dumps(new).decode())
    # Adjustments are kept by their label ("manual: <reason>"), cut as their events are.
    state = p.scrub(state, words=False)
    repo.execute(
        "UPDATE leads SET email = ?, attributes = ?, stage_reason = ?, score_state = ? "
        "WHERE id = ?",
        [p.pseudonym, dumps(kept), p.scrub(reason), state, p.lead_id],
    )
    return 1


# -- events ---------------------------------------------------------------------------


def export_events(repo: Repository, p: Person) -> Any:
    out = rows(
        repo,
        "SELECT id, type, occurred_at, received_at, properties FROM events WHERE lead_id = ? "
        "ORDER BY occurred_at, id",
        [p.lead_id],
        ("id", "type", "occurred_at", "received_at", "properties"),
    )
    for r in out:
        r["properties"] = loads(r["properties"])
        _times(r, "occurred_at", "received_at")
    return out


def erase_events(repo: Repository, p: Person, now: float) -> int:
    n = 0
    cur = repo.execute("SELECT id, type, properties FROM events WHERE lead_id = ?", [p.lead_id])
    for eid, typ, text in cur.fetchall():
        props = loads(text)
        if typ == ADJUSTMENT:
            # Points and score count in every replay; the reason is free text.
            kept = p.scrub_json(props)
        else:
            kept = {k: p.scrub_address(v) for k, v in props.items() if k in p.kept}
        new_id = p.rename(eid) if p.has_token(eid) else eid
        if new_id != eid:
            p.renamed[eid] = new_id
        new_text = dumps(kept) if kept else "{}"
        if new_text != text or new_id != eid:
            repo.execute(
                "UPDATE events SET id = ?, properties = ? WHERE id = ?", [new_id, new_text, eid]
            )
            n += 1
    if p.renamed and table_exists(repo, "time_repairs"):
        repo.executemany(
            "UPDATE time_repairs SET row_id = ? WHERE table_name = 'events' AND row_id = ?",
            [(new, old) for old, new in p.renamed.items()],
        )
    return n


# -- what the product sent ------------------------------------------------------------


def export_webhooks(repo: Repository, p: Person) -> Any:
    out = rows(
        repo,
        "SELECT id, subscription_id, event_type, status, created_at, delivered_at, payload "
        "FROM webhook_outbox WHERE lead_id = ? ORDER BY created_at, id",
        [p.lead_id],
        ("id", "subscription_id", "event", "status", "created_at", "delivered_at", "payload"),
    )
    for r in out:
        r["payload"] = loads(r["payload"])
        _times(r, "created_at", "delivered_at")
    return out


def erase_webhooks(repo: Repository, p: Person, now: float) -> int:
    # Deliveries about the lead (sent or not) go: their payloads are copies of its data.
    n = int(repo.execute("DELETE FROM webhook_outbox WHERE lead_id = ?", [p.lead_id]).rowcount)
    # Others that quote the address (a webhook about another lead naming this one).
    found = []
    for address in p.addresses:
        found += repo.execute(
            "SELECT id, payload, last_error FROM webhook_outbox "
            "WHERE payload LIKE ? OR last_error LIKE ?",
            [f"%{address}%", f"%{address}%"],
        ).fetchall()
    for did, payload, err in {r[0]: r for r in found}.values():
        repo.execute(
            "UPDATE webhook_outbox SET payload = ?, last_error = ? WHERE id = ?",
            [p.scrub(payload), p.scrub(err), did],
        )
        n += 1
    return n


def erase_nurture(repo: Repository, p: Person, now: float) -> int:
    # The track stops: there is no one left to write to.
    n = int(
        repo.execute(
            "UPDATE sales_nurture_enrolments SET status = 'ended', ended_at = ?, "
            "end_reason = 'person erased', next_due_at = NULL "
            "WHERE lead_id = ? AND status = 'active'",
            [now, p.lead_id],
        ).rowcount
    )
    for table, col in (("sales_nurture_enrolments", "reason"), ("sales_nurture_log", "detail")):
        cur = repo.execute(f"SELECT id, {col} FROM {table} WHERE lead_id = ?", [p.lead_id])
        for rid, text in cur.fetchall():
            if p.has_token(text):
                repo.execute(f"UPDATE {table} SET {col} = ? WHERE id = ?", [p.scrub(text), rid])
                n += 1
    return n


def export_nurture(repo: Repository, p: Person) -> Any:
    return {
        "enrolments": LeadTable("", "sales_nurture_enrolments", ()).export(repo, p),
        "log": LeadTable("", "sales_nurture_log", ()).export(repo, p),
    }


# -- the privacy log itself -----------------------------------------------------------


def export_audit(repo: Repository, p: Person) -> Any:
    out = rows(
        repo,
        "SELECT action, actor, reason, at FROM privacy_audit WHERE lead_id = ? ORDER BY id",
        [p.lead_id],
        ("action", "actor", "reason", "at"),
    )
    return [_times(r, "at") for r in out]


def erase_audit(repo: Repository, p: Person, now: float) -> int:
    n = 0
    cur = repo.execute("SELECT id, reason FROM privacy_audit WHERE lead_id = ?", [p.lead_id])
    for rid, reason in cur.fetchall():
        if p.has_token(reason):
            repo.execute("UPDATE privacy_audit SET reason = ? WHERE id = ?", [p.scrub(reason), rid])
            n += 1
    return n


def export_merges(repo: Repository, p: Person) -> Any:
    cols = ["merged_id", "merged_email", "actor", "at", "snapshot"]
    found = rows(
        repo,
        f"SELECT {', '.join(cols)} FROM lead_merges WHERE kept_id = ? ORDER BY at",
        [p.lead_id],
        cols,
    )
    for r in found:
        r["snapshot"] = orjson.loads(r["snapshot"])
        _times(r, "at")
    return found


def erase_merges(repo: Repository, p: Person, now: float) -> int:
    # The merged lead's snapshot is this person's data under another address.
    return int(repo.execute("DELETE FROM lead_merges WHERE kept_id = ?", [p.lead_id]).rowcount)


def _rejections_hashes(repo: Repository, p: Person) -> list[str]:
    """The forms' keyed hashes of the person's addresses (leadgate.forms.service), if the
    store has the forms' secret: refused submissions are filed under them."""
    row = repo.execute("SELECT value FROM app_secrets WHERE name = ?", ["forms"]).fetchone()
    if row is None:
        return []
    key = str(row[0]).encode()
    return [
        hmac.new(key, f"email\x1f{a}".encode(), hashlib.sha256).hexdigest() for a in p.addresses
    ]


def export_rejections(repo: Repository, p: Person) -> Any:
    cols = ["form", "reason", "at"]
    found = []
    for h in _rejections_hashes(repo, p):
        found += rows(
            repo, "SELECT form, reason, at FROM form_rejections WHERE email_hash = ?", [h], cols
        )
    return [_times(r, "at") for r in found]


def erase_rejections(repo: Repository, p: Person, now: float) -> int:
    return sum(
        int(repo.execute("DELETE FROM form_rejections WHERE email_hash = ?", [h]).rowcount)
        for h in _rejections_hashes(repo, p)
    )


def export_search(repo: Repository, p: Person) -> Any:
    key = "rowid" if repo.db.is_sqlite else "id"
    row = repo.execute(f"SELECT body FROM lead_search WHERE {key} = ?", [p.lead_id]).fetchone()
    return {"searchable_text": row[0] if row else None}


def erase_search(repo: Repository, p: Person, now: float) -> int:
    # Triggers rewrite the lead's searchable text when its email and attributes change
    # (as erasure changes them). SQLite's FTS5 keeps the old terms in its index segments
    # until they are merged: `optimize` merges them now, so no trace stays in the file.
    if repo.db.is_sqlite:
        repo.execute("INSERT INTO lead_search (lead_search) VALUES ('optimize')")
    return 0
