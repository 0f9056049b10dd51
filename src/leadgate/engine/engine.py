"""The use cases, each one transaction: load leads, let the core decide, save.

This is where I/O meets the pure core. Everything a lead goes through -
events, edits, adjustments, manual moves, timers - passes through
`LeadProcessor`, so the CLI, HTTP and a replay behave the same.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from leadgate.engine import history, identity, reading, rescore, stitch
from leadgate.engine.errors import NoPlaybook, NotFound
from leadgate.engine.txn import _LeadCache, _Txn, gc_paused
from leadgate.ingest.validate import EventIn, InputError, check_email, iso
from leadgate.leads.derivation import TIME_ORDER, Move
from leadgate.leads.processor import PREDICTED, LateEvents, LeadProcessor
from leadgate.leads.record import LeadState
from leadgate.lifecycle.stages import Transition
from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook
from leadgate.playbook.model import Playbook
from leadgate.privacy import suppression
from leadgate.scoring.engagement import ADJUSTMENT
from leadgate.store.database import Database
from leadgate.store.repository import ConcurrentEvents, Repository, StoredLead, dumps

__all__ = [
    "Clock",
    "Engine",
    "ItemResult",
    "LeadChange",
    "Listener",
    "NoPlaybook",
    "NotFound",
    "ShowExtra",
    "StageGuard",
    "gc_paused",
    "iter_chunks",
]

# Leads kept in memory between write transactions (about 1.5 KB each).
LEAD_CACHE_SIZE = 100_000


@dataclass(slots=True)
class ItemResult:
    """What happened to one item of a batch."""

    index: int
    id: str | None
    status: str  # accepted | duplicate | rejected
    error: str | None = None
    lead_id: int | None = None


@dataclass(slots=True)
class LeadChange:
    """What one transaction did to one lead: handed to listeners (webhook outbox, routing)."""

    lead_id: int
    email: str
    created: bool
    transitions: list[Transition]
    score_before: float | None
    score_after: float
    grade_before: str | None
    grade_after: str
    owner: str | None
    # Rows of the stored history a re-derivation voided (a late event changed what the
    # rules did from their moment on); `transitions` then holds the derived rows that
    # replace them. Announced as `lead.stage_corrected`.
    voided: list[Transition] = field(default_factory=list)


Clock = Callable[[], float]
# Called inside the transaction that made the changes, so what they write
# (an outbox row, an assignment) commits or rolls back with them.
Listener = Callable[[Repository, list[LeadChange], float], None]
# May refuse a manual move (raise IllegalTransition), e.g. SAL → SQL before BANT passes.
StageGuard = Callable[[Repository, StoredLead, str, float], None]
# Adds keys to `show` output (owner details, SLA, qualification...).
ShowExtra = Callable[[Repository, dict[str, Any]], None]


class Engine:
    """leadgate's use cases over one database."""

    # How `rescore_all` (and so `activate_playbook`) rescores: "set" or "per-lead"
    # (engine/rescore.py); set it on an engine to choose.
    rescore_method = "set"

    def __init__(self, db: Database, clock: Clock = time.time):
        self.db = db
        self.clock = clock
        self._processors: dict[int, LeadProcessor] = {}
        self._activated: dict[int, float] = {}
        self._cache = _LeadCache(LEAD_CACHE_SIZE)
        # The active version as of the cache's revision (valid while the cache is).
        self._active_version: int | None = None
        self.listeners: list[Listener] = []
        self.stage_guards: list[StageGuard] = []
        self.show_extras: list[ShowExtra] = []

    @contextmanager
    def _write(self) -> Iterator[_Txn]:
        """A write transaction that may use (and then refreshes) the lead cache."""
        txn: _Txn | None = None
        try:
            with self.db.write() as conn:
                rev = Database.revision(conn)
                txn = _Txn(Repository(self.db, conn), rev, self._cache.chained(rev))
                yield txn
        except BaseException:
            self._cache.clear()
            raise
        self._cache.committed(txn)

    def _active(self, repo: Repository, txn: _Txn | None = None) -> LeadProcessor:
        """The active playbook's processor, read inside the caller's transaction.

        Costs nothing when the transaction is chained to the engine's last one (no one
        wrote, so no one activated a playbook), one indexed MAX otherwise.
        """
        version = self._active_version
        if txn is None or not txn.chained or version is None:
            row = repo.execute("SELECT MAX(version) FROM playbooks").fetchone()
            if row is None or row[0] is None:
                raise NoPlaybook("no active playbook: run `leadgate init`")
            version = int(row[0])
        proc = self._processors.get(version)
        if proc is None:
            text = repo.playbook_version(version)
            if text is None:
                raise NoPlaybook("no active playbook: run `leadgate init`")
            proc = LeadProcessor(load_playbook(text, f"playbook v{version}"), version)
            self._processors[version] = proc
        if txn is not None:
            self._active_version = version
        return proc

    def _leads(self, txn: _Txn, emails: Sequence[str]) -> dict[str, StoredLead]:
        """Leads by email, from the cache when it is valid, else from the store (locked)."""
        if not txn.chained:
            return txn.repo.leads_by_email(emails, lock=True)
        stored = self._cache.take(emails)
        if len(stored) < len(emails):
            missing = [e for e in emails if e not in stored]
            stored.update(txn.repo.leads_by_email(missing, lock=True))
        return stored

    def _commit(
        self,
        repo: Repository | _Txn,
        proc: LeadProcessor,
        leads: Iterable[tuple[StoredLead, list[Transition], bool]],
        now: float,
        attributes: bool = True,
    ) -> list[LeadChange]:
        """Save leads, append their transitions, and tell the listeners, in one transaction.

        Returns what changed (built only when there are listeners to tell).
        `attributes=False` when the caller changed no attributes (events, moves, timers):
        the row update then leaves that column alone.
        """
        txn = repo if isinstance(repo, _Txn) else None
        if txn is not None:
            repo = txn.repo
        assert isinstance(repo, Repository)
        items = list(leads)
        repo.save_leads([s for s, _, _ in items], now, attributes=attributes)
        repo.insert_transitions(
            [(s.state.id, t) for s, ts, _ in items for t in ts],  # type: ignore[misc]
            proc.version,
        )
        changes: list[LeadChange] = []
        for s, ts, created in items if self.listeners else ():
            card = s.state.card
            assert card is not None and s.state.id is not None
            changes.append(
                LeadChange(
                    s.state.id,
                    s.state.email,
                    created,
                    ts,
                    None if created else s.score_before,
                    card.total,
                    None if created else s.grade_before,
                    card.grade,
                    s.owner,
                    s.voided,
                )
            )
        for s, _, _ in items:
            s.voided = []
        # Listeners marked `late` (the webhook outbox) run after the others, so what they
        # announce includes what the others did in this transaction (routing's owner).
        for listener in sorted(self.listeners, key=lambda f: getattr(f, "late", False)):
            listener(repo, changes, now)
        if txn is not None:
            for s, ts, _ in items:
                s.updated_at = now
                if ts:
                    # A listener may have written to a lead that moved (routing sets
                    # its owner): read it from the store next time.
                    txn.evict.append(s.state.email)
                else:
                    txn.keep.append(s)
        return changes

    # -- playbook -------------------------------------------------------------

    def ensure_playbook(self, actor: str = "system") -> int:
        """Activate the bundled playbook if the store has none; return the active version."""
        with self.db.write() as conn:
            repo = Repository(self.db, conn)
            active = repo.active_playbook()
            if active:
                return active[0]
            pb, text = bundled_playbook()
            return repo.add_playbook(pb.name, text, actor, self.clock())

    def processor(self, version: int | None = None) -> LeadProcessor:
        """The compiled active playbook (or a given version), cached per version."""
        if version is not None and version in self._processors:
            return self._processors[version]
        with self.db.read() as conn:
            repo = Repository(self.db, conn)
            if version is None:
                return self._active(repo)
            text = repo.playbook_version(version)
        if text is None:
            raise NotFound(f"playbook version {version} does not exist")
        proc = LeadProcessor(load_playbook(text, f"playbook v{version}"), version)
        self._processors[version] = proc
        return proc

    def activate_playbook(
        self,
        text: str,
        source: str,
        actor: str = "cli",
        progress: Callable[[int], None] | None = None,
    ) -> tuple[int, Playbook, int]:
        """Validate, store as the next version, and rescore every lead under it; a text
        identical to the active one keeps its version (`activate` says so, and what the
        rescore changed). Returns (version, playbook, leads rescored). All or nothing:
        when the rescore fails, the new version is not left active (see `_withdraw`)
        and the error is raised again.
        """
        from leadgate.engine.activation import activate

        a = activate(self, text, source, actor, progress)
        return a.version, a.playbook, a.rescored

    def _withdraw(self, version: int, previous: tuple[int, str] | None) -> None:
        """Make `version`, whose rescore failed, inactive again.

        The rescore commits in batches, so a failure may come after some leads were
        saved under `version`. If none were (the usual case: a bad playbook fails on
        its first lead), the version's row is deleted and nothing happened. Otherwise
        the previous playbook is activated again as a new version (versions are
        history) and every lead is rescored under it.
        """
        self._active_version = None
        self._processors.pop(version, None)
        with self.db.write() as conn:
            repo = Repository(self.db, conn)
            used = repo.execute(
                "SELECT 1 FROM leads WHERE playbook_version = ? UNION ALL "
                "SELECT 1 FROM transitions WHERE playbook_version = ? LIMIT 1",
                [version, version],
            ).fetchone()
            if used is None:
                repo.execute("DELETE FROM playbooks WHERE version = ?", [version])
                return
            if previous is None:
                return  # nothing to go back to: the store had no playbook before
            try:
                old = load_playbook(previous[1], f"playbook v{previous[0]}")
            except PlaybookError:
                return  # stored before today's checks: going back to it would fail too
            repo.add_playbook(
                old.name, previous[1], f"leadgate: rollback of v{version}", self.clock()
            )
        self._active_version = None
        # The path with nothing to verify: a rollback must not fail the way the
        # set-based rescore it may be undoing did.
        self.rescore_all(method="per-lead")

    # -- leads ----------------------------------------------------------------

    def upsert_leads(
        self,
        items: Sequence[tuple[str, dict[str, Any], float | None]],
        actor: str = "import",
        refused: list[str] | None = None,
    ) -> tuple[int, int, int]:
        """Create or update leads by email: (email, attributes, created_at or None).

        Returns (created, updated, unchanged). Attribute changes re-score fit and may
        make an MQL; identical values change nothing (so a re-import is a no-op).
        An address on the suppression list (an erased person) is not created: it is
        appended to `refused` when given, and counted in none of the three.
        """
        now = self.clock()
        merged: dict[str, tuple[dict[str, Any], float | None]] = {}
        for email, attrs, created in items:
            prev = merged.get(email)
            if prev:
                prev[0].update(attrs)
            else:
                merged[email] = (dict(attrs), created)
        created_n = updated_n = 0
        with gc_paused, self._write() as txn:
            repo = txn.repo
            proc = self._active(repo, txn)
            stored = self._leads(txn, list(merged))
            rules = proc.playbook.identity
            if len(stored) < len(merged):
                # Another spelling of a known lead (an alias, the identity rules)
                # updates that lead instead of making a second one.
                same = identity.resolve(repo, [e for e in merged if e not in stored], rules)
                if same:
                    again: dict[str, tuple[dict[str, Any], float | None]] = {}
                    for email, (attrs, created) in merged.items():
                        target = same.get(email, email)
                        if target in again:
                            again[target][0].update(attrs)
                        else:
                            again[target] = (dict(attrs), created)
                    merged = again
                    stored.update(self._leads(txn, [e for e in merged if e not in stored]))
            for email in suppression.refused(repo, [e for e in merged if e not in stored]):
                del merged[email]
                if refused is not None:
                    refused.append(email)
            fresh = [
                LeadState(email, {}, created if created is not None else now)
                for email, (_, created) in merged.items()
                if email not in stored
            ]
            repo.insert_leads(fresh, now)
            if fresh:
                identity.record_keys(repo, fresh, rules, now)
            for lead in fresh:
                stored[lead.email] = StoredLead(lead, None, now)
            changed: list[tuple[StoredLead, list[Transition], bool]] = []
            new_emails = {lead.email for lead in fresh}
            for email, (attrs, _) in merged.items():
                s = stored[email]
                ts = history.refresh_if_stale(self, repo, proc, s, now)
                before = dict(s.state.attributes)
                lead = s.state
                has_history = (
                    lead.engagement_state.last_at != -math.inf or lead.settled_at != -math.inf
                )
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
                    ts += history.rederive(self, repo, proc, s, now, "attributes changed")
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
            self._commit(txn, proc, changed, now)
        return created_n, updated_n, len(merged) - created_n - updated_n

    # -- events ---------------------------------------------------------------

    def ingest(self, items: Sequence[EventIn], now: float | None = None) -> list[ItemResult]:
        """Store and score a batch of validated events, in one transaction.

        A repeated id (in the batch or stored before) is acknowledged as `duplicate`
        and not scored again. An unknown email creates the lead.
        """
        now = self.clock() if now is None else now
        results: list[ItemResult] = []
        batch: list[EventIn] = []
        seen: set[str] = set()
        for i, ev in enumerate(items):
            if ev.id in seen:
                results.append(ItemResult(i, ev.id, "duplicate"))
            else:
                seen.add(ev.id)
                batch.append(ev)
                results.append(ItemResult(i, ev.id, "accepted"))
        if not batch:
            return results
        refused: set[str] = set()
        stored_before, lead_ids = self._ingest(batch, now, refused=refused)
        for r in results:
            if r.status == "accepted" and r.id in stored_before:
                r.status = "duplicate"
            if r.status == "accepted" and items[r.index].email in refused:
                r.status, r.error = "rejected", "email: " + suppression.REFUSED
            r.lead_id = lead_ids.get(r.id or "")
        return results

    def ingest_counts(
        self, items: Sequence[EventIn], now: float | None = None, refused: set[str] | None = None
    ) -> tuple[int, int]:
        """As `ingest`, for callers that need only (accepted, duplicates): file imports.
        Events of suppressed addresses are not stored: their addresses go into `refused`
        when given, and the events are counted in neither number."""
        now = self.clock() if now is None else now
        batch: list[EventIn] = []
        seen: set[str] = set()
        for ev in items:
            if ev.id not in seen:
                seen.add(ev.id)
                batch.append(ev)
        if not batch:
            return 0, len(items)
        out: set[str] = set()
        stored_before, _ = self._ingest(batch, now, want_ids=False, refused=out)
        dropped = sum(1 for ev in items if ev.email in out) if out else 0
        if refused is not None:
            refused.update(out)
        accepted = len(batch) - len(stored_before) - sum(1 for ev in batch if ev.email in out)
        return accepted, len(items) - accepted - dropped

    def _ingest(
        self,
        batch: list[EventIn],
        now: float,
        want_ids: bool = True,
        refused: set[str] | None = None,
    ) -> tuple[set[str], dict[str, int | None]]:
        """Events with distinct ids in, one transaction.

        Returns (the ids that were stored before, so not scored again; lead id per event id).
        The addresses of suppressed people are added to `refused`, their events dropped.
        """
        for attempt in range(1, 4):
            try:
                return self._ingest_once(batch, now, want_ids, refused)
            except ConcurrentEvents:
                # PostgreSQL: another writer stored some of these ids (for another lead)
                # while this batch was scored; rolled back, so run it again, which will
                # find them stored.
                if attempt == 3:
                    raise
        raise AssertionError("unreachable")

    def _ingest_once(
        self, batch: list[EventIn], now: float, want_ids: bool, refused: set[str] | None = None
    ) -> tuple[set[str], dict[str, int | None]]:
        with gc_paused, self._write() as txn:
            repo = txn.repo
            proc = self._active(repo, txn)
            # One pass groups the batch by lead (in arrival order; scoring sorts by time).
            per_lead: dict[str, list[EventIn]] = {}
            for ev in batch:
                group = per_lead.get(ev.email)
                if group is None:
                    per_lead[ev.email] = [ev]
                else:
                    group.append(ev)
            stored = self._leads(txn, list(per_lead))
            rules = proc.playbook.identity
            if len(stored) < len(per_lead):
                # Addresses with no lead of their own may be another spelling of one
                # (an alias after a merge, the identity rules): their events go there.
                per_lead = identity.regroup(self, txn, per_lead, stored, rules)
            gone = suppression.refused(repo, [e for e in per_lead if e not in stored])
            if gone:
                # Erased people stay erased: their events are not stored.
                for e in gone:
                    del per_lead[e]
                batch = [ev for ev in batch if ev.email not in gone]
                if refused is not None:
                    refused.update(gone)
            fresh = [
                LeadState(e, {}, min(ev.at for ev in evs))
                for e, evs in per_lead.items()
                if e not in stored
            ]
            repo.insert_leads(fresh, now)
            if fresh:
                identity.record_keys(repo, fresh, rules, now)
            for lead in fresh:
                stored[lead.email] = StoredLead(lead, None, now)
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
                history.activated_at(self, repo, proc)
                if version is not None and version > 1
                else None
            )
            # Identified events carrying a visitor id bring that visitor's anonymous
            # events onto the lead (once); those leads are derived again.
            stitched = stitch.claim_for_batch(repo, per_lead, ids, now)
            for email, evs in per_lead.items():
                s = stored[email]
                lead = s.state
                ts = []
                if lead.playbook_version not in (None, version):
                    ts = history.refresh_if_stale(self, repo, proc, s, now)
                try:
                    if since is not None and min(ev.at for ev in evs) <= since:
                        raise LateEvents
                    if lead.id in stitched:
                        raise LateEvents
                    # In time order (the common case) the events are scored on top of the
                    # lead; otherwise this raises before the lead is changed.
                    ts += proc.apply_events(lead, evs, now)
                except LateEvents:
                    first = min(evs, key=TIME_ORDER)
                    why = f"late event {first.id} at {iso(first.at)}"
                    if lead.id in stitched:
                        why = f"{stitched[lead.id]} events of its visitor stitched"
                    ts += history.rederive(self, repo, proc, s, now, why)
                touched.append((s, ts, email in fresh_emails))
            for lead in fresh:
                if lead.card is None:  # created, but every event was a duplicate
                    proc.rescore(lead, now)
                    touched.append((stored[lead.email], [], True))
            self._commit(txn, proc, touched, now, attributes=False)
            # Read but unchanged (every event a duplicate): still what the store holds.
            txn.keep.extend(
                s for e, s in stored.items() if e not in per_lead and e not in fresh_emails
            )
        by_id = {ev.id: ids[ev.email] for ev in batch} if want_ids else {}
        return stored_before, by_id

    def track(self, items: Sequence[tuple[str, str, str, float, dict[str, Any]]]) -> int:
        """Browser events of anonymous visitors (see `stitch.track`)."""
        return stitch.track(self, items)

    def adjust(
        self, email: str, points: float, reason: str, actor: str, score: str = "engagement"
    ) -> dict[str, Any]:
        """A manual adjustment, stored as an event of its own (audited, explained)."""
        if score not in ("fit", "engagement"):
            raise InputError("score", "must be fit or engagement")
        if not reason.strip():
            raise InputError("reason", "an adjustment needs a reason")
        email = check_email(email)
        now = self.clock()
        with self.db.read() as conn:
            if Repository(self.db, conn).lead_by_email(email) is None:
                raise NotFound(f"no lead with email {email}")
        props = {"points": points, "reason": reason.strip(), "actor": actor, "score": score}
        ev = EventIn(f"adj-{time.time_ns()}-{email}", email, ADJUSTMENT, now, props, dumps(props))
        self.ingest([ev], now)
        return self.show(email)

    # -- stages ---------------------------------------------------------------

    def set_stage(self, email: str, to: str, reason: str | None, actor: str) -> Transition:
        """A person moves a lead; IllegalTransition (with the allowed targets) if not allowed."""
        email = check_email(email)
        now = self.clock()
        with self._write() as txn:
            repo, proc, s = self._one_lead(txn, email)
            moves = history.refresh_if_stale(self, repo, proc, s, now)
            moves += proc.advance(s.state, now, rescore=False)
            for guard in self.stage_guards:
                guard(repo, s, to, now)
            t = proc.set_stage(s.state, to, actor, reason, now)
            moves.append(t)
            if s.state.engagement_state.last_at > now:
                # Events dated after this moment (within the clock skew) were scored
                # already: the move goes before them, so the history is derived again.
                fact = Move(to, now, actor, reason)
                moves = history.rederive(
                    self, repo, proc, s, now, "a move before stored events", [fact]
                )
            self._commit(txn, proc, [(s, moves, False)], now, attributes=False)
        return t

    def _one_lead(self, txn: _Txn, email: str) -> tuple[Repository, LeadProcessor, StoredLead]:
        """The lead a write use case works on (locked), with the active processor."""
        proc = self._active(txn.repo, txn)
        s = self._leads(txn, [email]).get(email)
        if s is None:
            raise NotFound(f"no lead with email {email}")
        return txn.repo, proc, s

    def tick(self, now: float | None = None, limit: int = 10_000) -> int:
        """Fire due timers (decay exits, cooldown ends). Cost follows what is due, not the store."""
        now = self.clock() if now is None else now
        moved = 0
        while True:
            with self.db.read() as conn:
                # Nothing due is the common case: answer it without taking the write lock.
                # In index order: PostgreSQL's generic plan for a bare `LIMIT 1` reads
                # every lead (215 ms at 1M leads; with the ORDER BY, 0.03 ms).
                due = Repository(self.db, conn).execute(
                    "SELECT 1 FROM leads WHERE next_due_at <= ? ORDER BY next_due_at LIMIT 1",
                    [now],
                )
                if due.fetchone() is None:
                    return moved
            with self._write() as txn:
                repo = txn.repo
                proc = self._active(repo, txn)
                cur = repo.execute(
                    "SELECT email FROM leads WHERE next_due_at <= ? ORDER BY next_due_at LIMIT ?",
                    [now, limit],
                )
                emails = [r[0] for r in cur.fetchall()]
                if not emails:
                    return moved
                stored = self._leads(txn, emails)
                items = []
                for s in stored.values():
                    ts = history.refresh_if_stale(self, repo, proc, s, now)
                    ts += proc.advance(s.state, now, rescore=True)
                    items.append((s, ts, False))
                    moved += len(ts)
                self._commit(txn, proc, items, now, attributes=False)
            if len(emails) < limit:
                return moved

    # -- reading --------------------------------------------------------------

    # -- whole-store work -----------------------------------------------------

    # -- history, reading, rescoring (their own modules) ----------------------

    def record_moves(self, email: str, moves: Sequence[Move]) -> list[Transition]:
        """People's moves made elsewhere, as facts (see `history.record_moves`)."""
        return history.record_moves(self, email, moves)

    def show(self, email: str) -> dict[str, Any]:
        """Everything about one lead as of now (see `reading.show`)."""
        return reading.show(self, email)

    def list_leads(
        self,
        stage: str | None = None,
        grade: str | None = None,
        owner: str | None = None,
        min_score: float | None = None,
        limit: int = 50,
        sort: str = "priority",
        segment: str | None = None,
    ) -> list[dict[str, Any]]:
        """Leads filtered by stage/grade/owner (and a playbook segment), best first (see
        `reading.list_leads`; with a segment, `listing.list_page`, in the same order)."""
        if segment is None:
            return reading.list_leads(self, stage, grade, owner, min_score, limit, sort)
        from leadgate.engine.listing import LeadQuery, list_page

        q = LeadQuery(stage, grade, owner, min_score, segment=segment, sort=sort, limit=limit)
        keys = ("id", "email", "stage", "fit", "engagement", "score", "grade", "owner")
        return [
            {
                **{k: r[k] for k in keys},
                "stage_since": r["stage_since"],
                "updated_at": r["updated_at"],
            }
            for r in list_page(self, q).rows
        ]

    def funnel(self, segment: str | None = None) -> dict[str, Any]:
        """Leads per stage now and ever reached, with conversion (see `reading.funnel`)."""
        return reading.funnel(self, segment)

    def rescore_all(
        self,
        progress: Callable[[int], None] | None = None,
        batch: int = 20_000,
        *,
        method: str | None = None,
        verify: int = rescore.DEFAULT_VERIFY,
    ) -> int:
        """Rescore every lead under the active playbook (see `rescore.rescore_all`);
        `method` None: `self.rescore_method`."""
        return rescore.rescore_all(self, progress, batch, method or self.rescore_method, verify)


def iter_chunks(items: Iterable[Any], n: int) -> Iterable[list[Any]]:
    """Split an iterable into lists of n (the last may be shorter)."""
    buf: list[Any] = []
    for x in items:
        buf.append(x)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf
