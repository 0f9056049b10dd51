"""Stitching: an identified event that carries a `visitor_id` brings that visitor's
anonymous events (page views, clicks from `/t.js`) onto the lead.

They are moved, inside the event's transaction, from `visitor_events` into `events`
under the lead (keeping their ids and times) and deleted from `visitor_events`, so a
second identified event from the same visitor finds nothing left to add: stitched
exactly once. They are older than what the lead has seen, so the engine scores them
through the late-event path (`history.rederive`): the history comes out as if they
had arrived identified, in time order.

Example: visitor `v1` views /pricing on Monday and /docs on Tuesday; on Wednesday a
form posts `form_submitted` for ann@acme.com with `visitor_id: v1`. Ann's lead now has
both page views, scored at Monday's and Tuesday's moments, and `visitors` says v1 is
Ann, so v1's later page views go straight to her lead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from leadgate.ingest.validate import EventIn
from leadgate.store.repository import Repository, dumps

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine

# A visitor id as the tracker makes it (or any caller): short, printable, no spaces.
MAX_VISITOR_ID = 64


def visitor_of(properties: Mapping[str, object]) -> str | None:
    """The visitor id an event carries, if it is a usable one."""
    v = properties.get("visitor_id")
    if isinstance(v, str) and 0 < len(v) <= MAX_VISITOR_ID and v.isprintable() and " " not in v:
        return v
    return None


def claim(repo: Repository, visitors: Mapping[str, int], now: float) -> dict[int, int]:
    """Move the anonymous events of `visitors` (visitor id → lead id) to their leads and
    link each visitor to its lead. Returns how many events each lead received."""
    got: dict[int, int] = {}
    for vid, lead_id in sorted(visitors.items()):
        # DELETE … RETURNING takes the rows in one statement: two transactions stitching
        # the same visitor at once cannot both get them (the second finds none).
        rows = repo.execute(
            "DELETE FROM visitor_events WHERE visitor_id = ? "
            "RETURNING id, type, occurred_at, received_at, properties",
            [vid],
        ).fetchall()
        if rows:
            repo.insert_events([(r[0], lead_id, r[1], r[2], r[3], r[4]) for r in rows])
            got[lead_id] = got.get(lead_id, 0) + len(rows)
        repo.execute(
            "INSERT INTO visitors (id, lead_id, identified_at, stitched) VALUES (?,?,?,?) "
            "ON CONFLICT (id) DO UPDATE SET lead_id = excluded.lead_id, "
            "identified_at = excluded.identified_at, "
            "stitched = visitors.stitched + excluded.stitched",
            [vid, lead_id, now, len(rows)],
        )
    return got


def leads_of_visitors(repo: Repository, visitor_ids: list[str]) -> dict[str, int]:
    """The lead each identified visitor turned out to be."""
    out: dict[str, int] = {}
    for i in range(0, len(visitor_ids), 500):
        chunk = visitor_ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        cur = repo.execute(f"SELECT id, lead_id FROM visitors WHERE id IN ({marks})", chunk)
        out.update({r[0]: int(r[1]) for r in cur.fetchall()})
    return out


def store_anonymous(repo: Repository, rows: list[tuple[str, str, str, float, float, str]]) -> int:
    """Keep events of unidentified visitors (id, visitor_id, type, occurred_at,
    received_at, properties) until an identified event stitches them. A repeated id is
    skipped. Returns how many were new."""
    if not rows:
        return 0
    ids = [r[0] for r in rows]
    marks = ",".join("?" * len(ids))
    seen = {r[0] for r in repo.execute(f"SELECT id FROM visitor_events WHERE id IN ({marks})", ids)}
    seen |= repo.existing_event_ids(ids)
    fresh = [r for r in rows if r[0] not in seen]
    repo.executemany(
        "INSERT INTO visitor_events (id, visitor_id, type, occurred_at, received_at, "
        "properties) VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
        fresh,
    )
    return len(fresh)


def track(engine: Engine, items: Sequence[tuple[str, str, str, float, dict[str, Any]]]) -> int:
    """Browser events (id, visitor_id, type, at, properties): kept anonymous until their
    visitor is identified, or recorded on the lead the visitor turned out to be (through
    `engine.ingest`). Returns how many were new."""
    now = engine.clock()
    known: list[EventIn] = []
    with engine._write() as txn:
        repo = txn.repo
        leads = leads_of_visitors(repo, sorted({i[1] for i in items}))
        emails: dict[int, str] = {}
        if leads:
            lead_ids = sorted(set(leads.values()))
            marks = ",".join("?" * len(lead_ids))
            cur = repo.execute(f"SELECT id, email FROM leads WHERE id IN ({marks})", lead_ids)
            emails = {int(r[0]): r[1] for r in cur.fetchall()}
        anonymous = []
        for eid, vid, typ, at, props in items:
            lead_id = leads.get(vid)
            if lead_id is not None and lead_id in emails:
                props = {**props, "visitor_id": vid}
                known.append(EventIn(eid, emails[lead_id], typ, at, props, dumps(props)))
            else:
                anonymous.append((eid, vid, typ, at, now, dumps(props)))
        new = store_anonymous(repo, anonymous)
    if known:
        new += sum(r.status == "accepted" for r in engine.ingest(known, now))
    return new
