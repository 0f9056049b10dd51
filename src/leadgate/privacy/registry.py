"""Every place the store keeps something about a person, as one registry.

A `Source` answers two questions for one person: what it holds (`export`, for a
subject access request) and how to remove it (`erase`). `person export` and
`person erase` walk `SOURCES` in order, so a new place personal data is written
(a consent table, a form log) is one `register(Source(...))` call, usually with
`LeadTable` when the data is rows keyed by `lead_id`:

    register(LeadTable("consent", "form_consents", personal=("ip", "text"), erase="delete"))

A source whose table does not exist in this store (a plug-in not installed, a
migration not run) is skipped. `tests/privacy/test_registry.py` fails when a table
with a `lead_id` column is neither in the registry nor in `NOT_PERSONAL`.

What erasure keeps (see docs/privacy.md): the lead row, its stage history, its scores
and its events' types and times, under a pseudonymous id, so funnel counts, conversion
rates and backtests do not change; of the attributes and event properties only the
fields a stored playbook reads or that reports break down by, with the person's
identifiers cut out of any text that stays.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from leadgate.ingest.validate import iso
from leadgate.privacy.person import ERASED, IDENTIFIERS, REPORTED, Person
from leadgate.scoring.engagement import ADJUSTMENT
from leadgate.store.repository import Repository, dumps, loads
from leadgate.store.schema import LEAD_EXPORTED_COLUMNS, leads

# Tables that hold nothing about a person (or only ids and times): checked by the tests.
NOT_PERSONAL = frozenset(
    {
        "sales_jobs",
        "time_repairs",
        # Browser events of visitors not identified yet: tied to no person (a visitor id
        # only); when a visitor is identified they move to `events` and are erased there.
        "visitor_events",
        # SQLite FTS5's own tables behind `lead_search` (the "search index" source).
        "lead_search_config",
        "lead_search_content",
        "lead_search_data",
        "lead_search_docsize",
        "lead_search_idx",
    }
)


@dataclass
class Source:
    """One place personal data lives: `export` returns it, `erase` removes it and
    returns how many rows it changed. `tables` names the tables it covers."""

    name: str
    tables: tuple[str, ...]
    export: Callable[[Repository, Person], Any]
    erase: Callable[[Repository, Person, float], int]
    describe: str = ""


def table_exists(repo: Repository, table: str) -> bool:
    """Whether this store has the table (plug-in tables may be missing)."""
    from sqlalchemy import inspect

    cache: dict[str, bool] = repo.__dict__.setdefault("_privacy_tables", {})
    if table not in cache:
        cache[table] = inspect(repo.conn).has_table(table)
    return cache[table]


def rows(
    repo: Repository, sql: str, params: Sequence[Any], cols: Sequence[str]
) -> list[dict[str, Any]]:
    """Query rows as dicts."""
    return [dict(zip(cols, r, strict=True)) for r in repo.execute(sql, params).fetchall()]


def _times(row: dict[str, Any], *names: str) -> dict[str, Any]:
    for n in names:
        if n in row:
            row[n] = iso(row[n])
    return row


def LeadTable(
    name: str,
    table: str,
    personal: Sequence[str],
    erase: str = "null",
    times: Sequence[str] = ("at", "created_at"),
    describe: str = "",
) -> Source:
    """A source for rows keyed by `lead_id`: export every column; erase by setting the
    `personal` columns to NULL (`erase="null"`), cutting the person's strings out of
    them (`"scrub"`), or deleting the rows (`"delete"`)."""

    def export(repo: Repository, p: Person) -> Any:
        cur = repo.execute(f"SELECT * FROM {table} WHERE lead_id = ? ORDER BY 1", [p.lead_id])
        cols = [d[0] for d in cur.description]
        return [_times(dict(zip(cols, r, strict=True)), *times) for r in cur.fetchall()]

    def wipe(repo: Repository, p: Person, now: float) -> int:
        if not personal and erase != "delete":
            return 0  # nothing personal in it: kept as it is
        if erase == "delete":
            return int(repo.execute(f"DELETE FROM {table} WHERE lead_id = ?", [p.lead_id]).rowcount)
        if erase == "null":
            sets = ", ".join(f"{c} = NULL" for c in personal)
            return int(
                repo.execute(f"UPDATE {table} SET {sets} WHERE lead_id = ?", [p.lead_id]).rowcount
            )
        n = 0
        cur = repo.execute(
            f"SELECT id, {', '.join(personal)} FROM {table} WHERE lead_id = ?", [p.lead_id]
        )
        for r in cur.fetchall():
            new = [p.scrub(v) if isinstance(v, str) else v for v in r[1:]]
            if new != list(r[1:]):
                sets = ", ".join(f"{c} = ?" for c in personal)
                repo.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*new, r[0]])
                n += 1
        return n

    return Source(name, (table,), export, wipe, describe)


# -- the lead itself ----------------------------------------------------------------


# The lead's own columns as `person export` shows them: the exported ones and the
# attributes, in the table's order (schema.LEAD_EXPORTED_COLUMNS says which and why);
# `str`: SQLAlchemy names are a str subclass, which orjson refuses as a key.
_LEAD_COLS = [
    str(c.name) for c in leads.columns if c.name in {*LEAD_EXPORTED_COLUMNS, "attributes"}
]
_LEAD_TIMES = [c for c in _LEAD_COLS if c.endswith("_at")]  # epoch seconds → ISO 8601


def _export_lead(repo: Repository, p: Person) -> Any:
    [row] = rows(
        repo,
        f"SELECT {', '.join(_LEAD_COLS)} FROM leads WHERE id = ?",
        [p.lead_id],
        _LEAD_COLS,
    )
    row["attributes"] = loads(row["attributes"])
    return _times(row, *_LEAD_TIMES)


def _erase_lead(repo: Repository, p: Person, now: float) -> int:
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


def _export_events(repo: Repository, p: Person) -> Any:
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


def _erase_events(repo: Repository, p: Person, now: float) -> int:
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


def _export_webhooks(repo: Repository, p: Person) -> Any:
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


def _erase_webhooks(repo: Repository, p: Person, now: float) -> int:
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


def _erase_nurture(repo: Repository, p: Person, now: float) -> int:
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


def _export_nurture(repo: Repository, p: Person) -> Any:
    return {
        "enrolments": LeadTable("", "sales_nurture_enrolments", ()).export(repo, p),
        "log": LeadTable("", "sales_nurture_log", ()).export(repo, p),
    }


# -- the privacy log itself -----------------------------------------------------------


def _export_audit(repo: Repository, p: Person) -> Any:
    out = rows(
        repo,
        "SELECT action, actor, reason, at FROM privacy_audit WHERE lead_id = ? ORDER BY id",
        [p.lead_id],
        ("action", "actor", "reason", "at"),
    )
    return [_times(r, "at") for r in out]


def _erase_audit(repo: Repository, p: Person, now: float) -> int:
    n = 0
    cur = repo.execute("SELECT id, reason FROM privacy_audit WHERE lead_id = ?", [p.lead_id])
    for rid, reason in cur.fetchall():
        if p.has_token(reason):
            repo.execute("UPDATE privacy_audit SET reason = ? WHERE id = ?", [p.scrub(reason), rid])
            n += 1
    return n


def _export_merges(repo: Repository, p: Person) -> Any:
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


def _erase_merges(repo: Repository, p: Person, now: float) -> int:
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


def _export_rejections(repo: Repository, p: Person) -> Any:
    cols = ["form", "reason", "at"]
    found = []
    for h in _rejections_hashes(repo, p):
        found += rows(
            repo, "SELECT form, reason, at FROM form_rejections WHERE email_hash = ?", [h], cols
        )
    return [_times(r, "at") for r in found]


def _erase_rejections(repo: Repository, p: Person, now: float) -> int:
    return sum(
        int(repo.execute("DELETE FROM form_rejections WHERE email_hash = ?", [h]).rowcount)
        for h in _rejections_hashes(repo, p)
    )


def _export_search(repo: Repository, p: Person) -> Any:
    key = "rowid" if repo.db.is_sqlite else "id"
    row = repo.execute(f"SELECT body FROM lead_search WHERE {key} = ?", [p.lead_id]).fetchone()
    return {"searchable_text": row[0] if row else None}


def _erase_search(repo: Repository, p: Person, now: float) -> int:
    # Triggers rewrite the lead's searchable text when its email and attributes change
    # (as erasure changes them). SQLite's FTS5 keeps the old terms in its index segments
    # until they are merged: `optimize` merges them now, so no trace stays in the file.
    if repo.db.is_sqlite:
        repo.execute("INSERT INTO lead_search (lead_search) VALUES ('optimize')")
    return 0


SOURCES: list[Source] = [
    Source(
        "lead",
        ("leads",),
        _export_lead,
        _erase_lead,
        "attributes, scores, stage, owner; erased: address → pseudonym, attributes cut to "
        "the kept fields",
    ),
    Source(
        "events",
        ("events",),
        _export_events,
        _erase_events,
        "events with their properties; erased: properties cut to the kept fields, ids "
        "naming the person renamed",
    ),
    LeadTable(
        "history",
        "transitions",
        ("reason",),
        erase="scrub",
        describe="stage history; erased: the person's strings cut out of reasons",
    ),
    LeadTable(
        "assignments",
        "sales_assignments",
        ("explanation", "reason", "notes"),
        erase="scrub",
        describe="owners over time and why",
    ),
    LeadTable(
        "qualification",
        "sales_qualification",
        ("note",),
        erase="null",
        describe="qualification answers; erased: notes removed",
    ),
    LeadTable(
        "opportunities",
        "sales_opportunities",
        ("outcome_reason",),
        erase="scrub",
        times=("created_at", "closed_at"),
    ),
    LeadTable("accounts", "sales_accounts", (), erase="null"),
    LeadTable(
        "notices",
        "sales_notices",
        ("payload",),
        erase="scrub",
        times=("at", "delivered_at"),
    ),
    Source(
        "nurture",
        ("sales_nurture_enrolments", "sales_nurture_log"),
        _export_nurture,
        _erase_nurture,
        "nurture tracks; erased: active tracks ended, the person's strings cut out",
    ),
    LeadTable(
        "mail",
        "sales_mail_outbox",
        ("to_addr", "subject", "body"),
        erase="delete",
        times=("created_at", "sent_at", "next_attempt_at", "claimed_until"),
        describe="nurture mail sent or queued; erased: deleted",
    ),
    Source(
        "webhooks",
        ("webhook_outbox",),
        _export_webhooks,
        _erase_webhooks,
        "webhook deliveries about the person; erased: deleted",
    ),
    # Forms (leadgate.forms): what the person submitted and consented to. The answers
    # themselves are in the `form_submitted` events (cut like any event's properties).
    LeadTable(
        "form submissions",
        "form_submissions",
        ("visitor_id", "ip_hash", "email_hash"),
        erase="delete",
        describe="form submissions (hashed address and email, visitor id); erased: deleted",
    ),
    LeadTable(
        "consents",
        "form_consents",
        ("text", "ip_hash"),
        erase="delete",
        describe="consents given on forms (text shown, hashed address); erased: deleted",
    ),
    # Identity (leadgate.identity): the visitor ids and the other spellings of the address.
    LeadTable(
        "visitors",
        "visitors",
        ("id",),
        erase="delete",
        times=("identified_at",),
        describe="browser visitor ids tied to the person; erased: deleted",
    ),
    LeadTable(
        "addresses",
        "lead_identities",
        ("address",),
        erase="delete",
        describe="other spellings of the address (aliases after a merge); erased: deleted",
    ),
    Source(
        "merges",
        ("lead_merges",),
        _export_merges,
        _erase_merges,
        "leads merged into this one, with the merged lead as it was; erased: deleted",
    ),
    Source(
        "refused submissions",
        ("form_rejections",),
        _export_rejections,
        _erase_rejections,
        "form submissions refused as spam, filed under a keyed hash of the address; "
        "erased: deleted",
    ),
    # Imports (leadgate.ingest): the person's record ids in other systems.
    LeadTable(
        "external ids",
        "lead_external_ids",
        ("external_id",),
        erase="delete",
        times=("bound_at",),
        describe="the person's record ids in the CRMs imported from; erased: deleted",
    ),
    Source("privacy", ("privacy_audit",), _export_audit, _erase_audit, "erasures and exports"),
    # Last: after every change to the lead row, the search index is rewritten.
    Source(
        "search index",
        ("lead_search",),
        _export_search,
        _erase_search,
        "the lead's searchable text (leads list search); erased: rewritten from what stays",
    ),
]


def register(source: Source, before: str | None = None) -> None:
    """Add a place personal data lives (idempotent by name)."""
    global SOURCES
    SOURCES = [s for s in SOURCES if s.name != source.name]
    if before is None:
        SOURCES.append(source)
    else:
        i = next((k for k, s in enumerate(SOURCES) if s.name == before), len(SOURCES))
        SOURCES.insert(i, source)


def covered_tables() -> set[str]:
    """Tables some source (or NOT_PERSONAL) answers for."""
    return {t for s in SOURCES for t in s.tables} | set(NOT_PERSONAL)


def present(repo: Repository) -> list[Source]:
    """The sources whose tables this store has."""
    return [s for s in SOURCES if all(table_exists(repo, t) for t in s.tables)]


__all__ = [
    "ERASED",
    "IDENTIFIERS",
    "REPORTED",
    "SOURCES",
    "LeadTable",
    "Person",
    "Source",
    "covered_tables",
    "present",
    "register",
]
