"""What comes in: events (`ingest`) and lead records (`upsert_leads`), one transaction a
batch. Both ask `arrivals` who each address is (its lead, another spelling of one, an
erased person, someone new), so the two ways in can never disagree about a person.

Example: `ingest(engine, [EventIn("e1", "ann@acme.com", "page_view", t)])` creates
Ann's lead if she is new, stores the event and scores it;
`upsert_leads(engine, [("ann@acme.com", {"job_title": "VP"}, None)])` then updates
that same lead's attributes, re-scoring its fit: (0, 1, 0).

The `Engine` methods of the same names call these.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from leadgate.engine import history, stitch
from leadgate.engine.arrivals import arrivals
from leadgate.engine.changes import ItemResult
from leadgate.engine.errors import NotFound
from leadgate.engine.txn import gc_paused
from leadgate.ingest.validate import EventIn, InputError, check_email, iso
from leadgate.leads.derivation import TIME_ORDER
from leadgate.leads.processor import PREDICTED, LateEvents
from leadgate.lifecycle.stages import Transition
from leadgate.privacy import suppression
from leadgate.scoring.engagement import ADJUSTMENT
from leadgate.store.repository import ConcurrentEvents, Repository, StoredLead, dumps

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine

_ID = attrgetter("id")


def upsert_leads(
    engine: Engine,
    items: Sequence[tuple[str, dict[str, Any], float | None]],
    refused: list[str] | None = None,
) -> tuple[int, int, int]:
    """Lead records in (see `Engine.upsert_leads`)."""
    now = engine.clock()
    merged: dict[str, tuple[dict[str, Any], float | None]] = {}
    for email, attrs, created in items:
        prev = merged.get(email)
        if prev:
            prev[0].update(attrs)
        else:
            merged[email] = (dict(attrs), created)
    created_n = updated_n = 0
    with gc_paused, engine._write() as txn:
        repo = txn.repo
        proc = engine._active(repo, txn)
        who = arrivals(engine, txn, list(merged), proc.playbook.identity)
        # Another spelling of a known lead updates that lead instead of making a second one.
        merged = who.gather(merged, lambda have, more: have[0].update(more[0]))
        if refused is not None:
            refused.extend(who.refused)
        stored = who.stored
        fresh = who.create(txn, lambda e: _created(merged[e][1], now), now)
        changed: list[tuple[StoredLead, list[Transition], bool]] = []
        new_emails = {lead.email for lead in fresh}
        for email, (attrs, _) in merged.items():
            s = stored[email]
            ts = history.refresh_if_stale(engine, repo, proc, s, now)
            before = dict(s.state.attributes)
            lead = s.state
            has_history = lead.engagement_state.last_at != -math.inf or lead.settled_at != -math.inf
            if (
                lead.id is not None
                and has_history
                and any(lead.attributes.get(k) != v for k, v in attrs.items() if k != PREDICTED)
            ):
                # Attributes are what we know of the person, whenever we learnt it:
                # importing the contact list after its history must give the history
                # it would have had the other way round, so it is derived again.
                # (Not `predicted`: a model's estimate is made at a moment, and
                # counts from then on, like an event.)
                lead.attributes.update(attrs)
                # Replaces the version's catch-up rows (not stored yet): the derivation
                # makes them too.
                ts = history.rederive(engine, repo, proc, s, now, "attributes changed")
            else:
                ts += proc.update_attributes(lead, attrs, now)
            if s.state.card is None:
                proc.rescore(s.state, now)
            if email in new_emails or s.state.attributes != before or ts:
                changed.append((s, ts, email in new_emails))
                if email in new_emails:
                    created_n += 1
                else:
                    updated_n += 1
        engine._commit(txn, proc, changed, now)
    return created_n, updated_n, len(merged) - created_n - updated_n


def _created(created: float | None, now: float) -> float:
    return created if created is not None else now


def ingest(engine: Engine, items: Sequence[EventIn], now: float) -> list[ItemResult]:
    """Events in, a result per item (see `Engine.ingest`)."""
    if not items:
        return []
    # The usual batch repeats no id: the set of ids (built in C) says so at once.
    first: dict[str, int] | None = None  # with repeats: each id's first position
    if len(set(map(_ID, items))) == len(items):
        batch = list(items)
    else:
        first = {}
        batch = []
        for i, ev in enumerate(items):
            if ev.id not in first:
                first[ev.id] = i
                batch.append(ev)
    refused: set[str] = set()
    stored_before, lead_of = ingest_batch(engine, batch, now, refused=refused)
    # Each event's lead, by its address as filed (another spelling of a lead was
    # rewritten to that lead's address; an erased person's address has none).
    get = lead_of.get
    if first is None and not stored_before and not refused:
        # The usual batch: every item accepted as it is.
        return [ItemResult(i, ev.id, "accepted", None, get(ev.email)) for i, ev in enumerate(items)]
    results: list[ItemResult] = []
    for i, ev in enumerate(items):
        # A repeated id in the batch (the same event object, maybe) is answered for its
        # first copy's lead.
        at = i if first is None else first[ev.id]
        if at != i or ev.id in stored_before:
            results.append(ItemResult(i, ev.id, "duplicate", None, get(items[at].email)))
        elif ev.email in refused:
            results.append(ItemResult(i, ev.id, "rejected", "email: " + suppression.REFUSED))
        else:
            results.append(ItemResult(i, ev.id, "accepted", None, get(ev.email)))
    return results


def ingest_counts(
    engine: Engine, items: Sequence[EventIn], now: float, refused: set[str] | None = None
) -> tuple[int, int]:
    """Events in, counted (see `Engine.ingest_counts`)."""
    batch: list[EventIn] = []
    seen: set[str] = set()
    for ev in items:
        if ev.id not in seen:
            seen.add(ev.id)
            batch.append(ev)
    if not batch:
        return 0, len(items)
    out: set[str] = set()
    stored_before, _ = ingest_batch(engine, batch, now, refused=out)
    dropped = sum(1 for ev in items if ev.email in out) if out else 0
    if refused is not None:
        refused.update(out)
    accepted = len(batch) - len(stored_before) - sum(1 for ev in batch if ev.email in out)
    return accepted, len(items) - accepted - dropped


def ingest_batch(
    engine: Engine,
    batch: list[EventIn],
    now: float,
    refused: set[str] | None = None,
) -> tuple[set[str], dict[str, int | None]]:
    """Events with distinct ids in, one transaction.

    Returns (the ids that were stored before, so not scored again; the lead id of each
    address the events are filed under: an event's `email` after the batch, since
    another spelling of a lead is rewritten to that lead's address).
    The addresses of suppressed people are added to `refused`, their events dropped.
    """
    for attempt in range(1, 4):
        try:
            return engine._ingest_once(batch, now, refused)
        except ConcurrentEvents:
            # PostgreSQL: another writer stored some of these ids (for another lead)
            # while this batch was scored; rolled back, so run it again, which will
            # find them stored.
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


def _join_events(have: list[EventIn], more: list[EventIn]) -> None:
    have.extend(more)


def ingest_once(
    engine: Engine,
    batch: list[EventIn],
    now: float,
    refused: set[str] | None = None,
) -> tuple[set[str], dict[str, int | None]]:
    """One try of `ingest_batch` (PostgreSQL may roll it back: `ConcurrentEvents`)."""
    with gc_paused, engine._write() as txn:
        repo = txn.repo
        proc = engine._active(repo, txn)
        # One pass groups the batch by lead (in arrival order; scoring sorts by time).
        per_lead: dict[str, list[EventIn]] = {}
        for ev in batch:
            group = per_lead.get(ev.email)
            if group is None:
                per_lead[ev.email] = [ev]
            else:
                group.append(ev)
        who = arrivals(engine, txn, list(per_lead), proc.playbook.identity)
        if who.same or who.refused:
            # Events of another spelling of a lead go to that lead (rewritten to its
            # address); erased people stay erased: their events are not stored.
            for address, target in who.same.items():
                for ev in per_lead[address]:
                    ev.email = target
            per_lead = who.gather(per_lead, _join_events)
            if who.refused:
                batch = [ev for ev in batch if ev.email not in who.refused]
                if refused is not None:
                    refused.update(who.refused)
        fresh = who.create(txn, lambda e: min(ev.at for ev in per_lead[e]), now)
        stored = who.stored
        ids = {e: s.state.id for e, s in stored.items()}
        rows = [(ev.id, ids[ev.email], ev.type, ev.at, now, ev.properties_json) for ev in batch]
        stored_before = repo.insert_new_events(rows)  # type: ignore[arg-type]
        if stored_before:
            per_lead = {
                e: kept
                for e, evs in per_lead.items()
                if (kept := [ev for ev in evs if ev.id not in stored_before])
            }
        touched: list[tuple[StoredLead, list[Transition], bool]] = []
        fresh_emails = {lead.email for lead in fresh}
        version = proc.version
        # Events up to the active version's activation count under an older version
        # (when there is one): such events are late whatever the lead has seen.
        since = (
            history.activated_at(engine, repo, proc)
            if version is not None and version > 1
            else None
        )
        # Identified events carrying a visitor id bring that visitor's anonymous
        # events onto the lead (once); those leads are derived again.
        visitors = who.visitors(per_lead)
        stitched = stitch.claim(repo, visitors, now) if visitors else {}
        for email, evs in per_lead.items():
            s = stored[email]
            lead = s.state
            ts = []
            if lead.playbook_version not in (None, version):
                ts = history.refresh_if_stale(engine, repo, proc, s, now)
            # Whether the in-order test itself found the events late (not the version's
            # activation nor a stitch): then they may be late only for what time did.
            tested = False
            try:
                if since is not None and min(ev.at for ev in evs) <= since:
                    raise LateEvents
                if lead.id in stitched:
                    raise LateEvents
                tested = True
                # In time order (the common case) the events are scored on top of the
                # lead; otherwise this raises before the lead is changed.
                ts += proc.apply_events(lead, evs, now)
            except LateEvents:
                first = min(evs, key=TIME_ORDER)
                why = f"late event {first.id} at {iso(first.at)}"
                if lead.id in stitched:
                    why = f"{stitched[lead.id]} events of its visitor stitched"
                # Late only for the moves time made after them: undone, and the
                # events scored in order; else the whole history derived again.
                # (Not after a version took over here: its rows are not stored yet.)
                assert lead.id is not None  # stored or just created
                rows = repo.history_rows(lead.id)
                got = None
                if tested and not ts:
                    got = history.rewound(repo, proc, s, evs, now, why, rows)
                if got is None:
                    got = history.rederive(engine, repo, proc, s, now, why, stored=rows)
                # The derivation has the version's catch-up moves (`ts`, not stored yet)
                # among its own: they are replaced, not appended twice.
                ts = got
            touched.append((s, ts, email in fresh_emails))
        for lead in fresh:
            if lead.card is None:  # created, but every event was a duplicate
                proc.rescore(lead, now)
                touched.append((stored[lead.email], [], True))
        engine._commit(txn, proc, touched, now, attributes=False)
        # Read but unchanged (every event a duplicate): still what the store holds.
        txn.keep.extend(s for e, s in stored.items() if e not in per_lead and e not in fresh_emails)
    return stored_before, ids


def adjust(
    engine: Engine, email: str, points: float, reason: str, actor: str, score: str
) -> dict[str, Any]:
    """A manual adjustment, stored as an event of its own (see `Engine.adjust`)."""
    if score not in ("fit", "engagement"):
        raise InputError("score", "must be fit or engagement")
    if not reason.strip():
        raise InputError("reason", "an adjustment needs a reason")
    email = check_email(email)
    now = engine.clock()
    with engine.db.read() as conn:
        if Repository(engine.db, conn).lead_by_email(email) is None:
            raise NotFound(f"no lead with email {email}")
    props = {"points": points, "reason": reason.strip(), "actor": actor, "score": score}
    ev = EventIn(f"adj-{time.time_ns()}-{email}", email, ADJUSTMENT, now, props, dumps(props))
    engine.ingest([ev], now)
    return engine.show(email)
