"""Merging two leads that are one person: `merge_leads(engine, keep, other, actor)`.

One transaction. Every row that belongs to the other lead (events, stage history,
qualification answers, assignments and their notes, opportunities, nurture, visitors,
aliases - any table with a `lead_id`) moves to the kept lead; its attributes fill the
kept lead's gaps; the owner is the kept lead's (the other's pending SLA deadlines are
closed), or the other's when the kept lead has none; qualification answers of the kept
lead win, the other's fill the criteria it has not answered. The kept lead's history
is then derived again from the facts of both (`history.rederive`): the rules' moves
follow from all the events, people's moves from both leads stay facts, and stored
rows that no longer hold are voided by corrections, so the history stays a function
of the facts. The other lead's row is deleted; its address (and its canonical key)
becomes an alias of the kept lead, so later events and imports for it land there.
`lead_merges` keeps who merged what, when, and the other lead as it was; a
`lead.merged` webhook announces it.

Merging again (same pair, or the other address now an alias) changes nothing and
answers `already: true`.

Example: `leadgate lead merge ann@acme.com ann.smith@acme.com`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from leadgate.engine import history
from leadgate.engine.engine import Engine, NotFound
from leadgate.ingest.validate import InputError, check_email, iso
from leadgate.leads.identity import canonical_email
from leadgate.privacy.erase import is_pseudonym
from leadgate.store.repository import Repository, StoredLead, dumps
from leadgate.webhooks import enqueue

# Rows that are not moved: the leads themselves, the merge audit, and the webhook
# outbox (what was announced about the other lead, as it was announced).
_NOT_MOVED = {"leads", "lead_merges", "webhook_outbox", "alembic_version"}


def _tables_with_lead_id(repo: Repository) -> list[str]:
    insp = inspect(repo.conn)
    out = []
    for name in sorted(insp.get_table_names()):
        if name in _NOT_MOVED:
            continue
        if any(c["name"] == "lead_id" for c in insp.get_columns(name)):
            out.append(name)
    return out


def _lead_id(ref: str | int) -> int | None:
    """`ref` as a lead id when it is one (digits), else None (an email)."""
    if isinstance(ref, int):
        return ref
    text = ref.strip()
    if text.isascii() and text.isdecimal():
        return int(text) if len(text) < 11 else 0  # beyond any id: no such lead
    return None


def _find(engine: Engine, repo: Repository, ref: str | int) -> StoredLead | None:
    lid = _lead_id(ref)
    if lid is not None:
        return repo.lead_by_id(lid, lock=True) if 0 < lid < 2**31 else None
    return repo.lead_by_email(check_email(str(ref)), lock=True)


def _spelled(address: str) -> str | None:
    try:
        return check_email(address)
    except InputError:
        return None


def _merged_before(repo: Repository, keep_id: int, ref: str | int) -> dict[str, Any] | None:
    """The merge that already made `ref` part of lead `keep_id`, if one did."""
    lid = _lead_id(ref)
    if lid is not None:
        if not 0 < lid < 2**31:
            return None
        row = repo.execute(
            "SELECT merged_id, merged_email, actor, at FROM lead_merges "
            "WHERE merged_id = ? AND kept_id = ?",
            [lid, keep_id],
        ).fetchone()
    else:
        # `merged_email` is the record as written, in the spelling of its day (before
        # 0018, `jose\u0301@` in NFD): compared as check_email spells it now. A lead's
        # merges are few.
        wanted = check_email(str(ref))
        rows = repo.execute(
            "SELECT merged_id, merged_email, actor, at FROM lead_merges "
            "WHERE kept_id = ? ORDER BY id",
            [keep_id],
        ).fetchall()
        row = next((r for r in rows if r[1] == wanted or _spelled(r[1]) == wanted), None)
    if row is None:
        return None
    return {"merged_id": row[0], "merged_email": row[1], "by": row[2], "at": iso(row[3])}


def merge_leads(
    engine: Engine, keep_ref: str | int, other_ref: str | int, actor: str
) -> dict[str, Any]:
    """Merge lead `other_ref` into `keep_ref` (each an email or an id). See the module."""
    now = engine.clock()
    try:
        with engine._write() as txn:
            repo = txn.repo
            proc = engine._active(repo, txn)
            keep = _find(engine, repo, keep_ref)
            if keep is None:
                raise NotFound(f"no lead {keep_ref}")
            assert keep.state.id is not None
            other = _find(engine, repo, other_ref)
            if other is None:
                done = _merged_before(repo, keep.state.id, other_ref)
                if done is None:
                    raise NotFound(f"no lead {other_ref}")
                return {"kept": _brief(keep), "merged": done, "already": True}
            if other.state.id == keep.state.id:
                raise InputError("other", "a lead cannot be merged into itself")
            for field, s in (("lead", keep), ("other", other)):
                if is_pseudonym(s.state.email):
                    # Kept for the counts only: a merge would join a live person's data
                    # to it, or its history to a live person.
                    raise InputError(field, f"lead {s.state.id} is an erased person's record")
            assert other.state.id is not None
            kid, oid = keep.state.id, other.state.id
            repo_rows_of_other = repo.history_rows(oid)
            snapshot = {
                "email": other.state.email,
                "attributes": other.state.attributes,
                "stage": other.state.stage,
                "owner": other.owner,
                "created_at": iso(other.state.created_at),
                "history": [
                    {"from": r[1], "to": r[2], "at": iso(r[3]), "actor": r[4], "reason": r[5]}
                    for r in repo_rows_of_other
                ],
            }
            # Qualification: the other's answers go first, so the kept lead's (later
            # versions) win and the other's fill only what the kept lead never answered.
            tables = _tables_with_lead_id(repo)
            if "sales_qualification" in tables:
                repo.execute(
                    "UPDATE sales_qualification SET version = version - "
                    "(SELECT COALESCE(MAX(version), 0) FROM sales_qualification "
                    "WHERE lead_id = ?) WHERE lead_id = ?",
                    [oid, oid],
                )
            owner = keep.owner or other.owner
            if "sales_jobs" in tables and keep.owner is not None:
                # The kept lead's owner and SLA stay; the other's pending deadlines
                # would breach a lead its rep no longer has.
                repo.execute(
                    "UPDATE sales_jobs SET fired_at = ?, outcome = 'merged', fired_by = 'merge' "
                    "WHERE lead_id = ? AND fired_at IS NULL",
                    [now, oid],
                )
            for table in tables:
                repo.execute(f"UPDATE {table} SET lead_id = ? WHERE lead_id = ?", [kid, oid])
            repo.execute(
                "INSERT INTO lead_merges (kept_id, merged_id, merged_email, actor, at, snapshot) "
                "VALUES (?,?,?,?,?,?)",
                [kid, oid, other.state.email, actor, now, dumps(snapshot)],
            )
            repo.execute("DELETE FROM leads WHERE id = ?", [oid])
            repo.execute("UPDATE leads SET owner = ? WHERE id = ?", [owner, kid])
            keep.owner = owner
            rules = proc.playbook.identity
            for address, kind in (
                (other.state.email, "alias"),
                (canonical_email(other.state.email, rules), "canonical"),
            ):
                repo.execute(
                    "INSERT INTO lead_identities (address, lead_id, kind, at) VALUES (?,?,?,?) "
                    "ON CONFLICT (address) DO UPDATE SET lead_id = excluded.lead_id",
                    [address, kid, kind, now],
                )
            lead = keep.state
            lead.attributes = {**other.state.attributes, **lead.attributes}
            if other.state.created_at < lead.created_at:
                # The person was first seen as the other lead.
                lead.created_at = other.state.created_at
                repo.execute("UPDATE leads SET created_at = ? WHERE id = ?", [lead.created_at, kid])
            # Under an older version, the derivation makes its catch-up moves too: no
            # separate catch-up (its rows would be appended twice).
            ts = history.rederive(engine, repo, proc, keep, now, f"lead {oid} merged into it")
            # The other lead's rows that the derivation voids were never this lead's
            # history: listeners (the sales SLA, `lead.stage_corrected`) hear only of the
            # kept lead's own rows.
            theirs = [(r[1], r[2], r[3], r[4], r[5]) for r in repo_rows_of_other]
            mine = []
            for t in keep.voided:
                key = (t.from_stage, t.to_stage, t.at, t.actor, t.reason)
                if key in theirs:
                    theirs.remove(key)
                else:
                    mine.append(t)
            keep.voided = mine
            engine._commit(txn, proc, [(keep, ts, False)], now)
            merged = {"merged_id": oid, "merged_email": other.state.email, "by": actor}
            merged["at"] = iso(now)
            enqueue(
                repo,
                [
                    (
                        "lead.merged",
                        kid,
                        {
                            "lead_id": kid,
                            "email": lead.email,
                            "merged_lead_id": oid,
                            "merged_email": other.state.email,
                            "owner": owner,
                            "stage": lead.stage,
                            "by": actor,
                        },
                    )
                ],
                now,
            )
            txn.evict += [lead.email, other.state.email]
            out = {"kept": _brief(keep), "merged": merged, "already": False}
    finally:
        # The other lead is gone: nothing may be served from memory about either.
        engine._cache.clear()
    return out


def _brief(s: StoredLead) -> dict[str, Any]:
    return {"id": s.state.id, "email": s.state.email, "stage": s.state.stage, "owner": s.owner}


def merges_of(repo: Repository, lead_id: int) -> list[dict[str, Any]]:
    """The leads merged into `lead_id`, oldest first (the audit)."""
    cur = repo.execute(
        "SELECT merged_id, merged_email, actor, at FROM lead_merges WHERE kept_id = ? ORDER BY id",
        [lead_id],
    )
    return [
        {"merged_id": r[0], "merged_email": r[1], "by": r[2], "at": iso(r[3])}
        for r in cur.fetchall()
    ]
