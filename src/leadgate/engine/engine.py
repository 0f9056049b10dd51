"""The use cases, each one transaction: load leads, let the core decide, save.

This is where I/O meets the pure core. Everything a lead goes through -
events, edits, adjustments, manual moves, timers - passes through
`LeadProcessor`, so the CLI, HTTP and a replay behave the same.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from leadgate.ingest.validate import EventIn, InputError, check_email, iso
from leadgate.leads.derivation import Era, Move, corrections, derive, is_automatic
from leadgate.leads.processor import PREDICTED, LeadProcessor
from leadgate.leads.record import LeadState
from leadgate.lifecycle.stages import FUNNEL, STAGES, Transition, allowed_targets
from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook
from leadgate.playbook.model import Playbook
from leadgate.scoring.engagement import ADJUSTMENT, Event
from leadgate.store.database import Database
from leadgate.store.repository import ConcurrentEvents, Repository, StoredLead, dumps
from leadgate.store.schema import EFFECTIVE_TRANSITIONS

_TIME_ORDER = attrgetter("at", "id")
# Leads kept in memory between write transactions (about 1.5 KB each).
LEAD_CACHE_SIZE = 100_000


class NotFound(LookupError):
    """No such lead (or other object)."""


class NoPlaybook(RuntimeError):
    """The store has no active playbook yet (run `leadgate init`)."""


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


class _GcPause:
    """No cyclic garbage collection while a batch runs (`with gc_paused:`).

    A batch allocates hundreds of thousands of small objects, and every allocation burst
    made the collector walk all the cached lead states again: ~40% of bulk ingest's CPU.
    What a batch leaves behind is freed by reference counting; anything cyclic waits
    for the next collection after the batch. Counted, so overlapping batches in other
    threads re-enable it only when the last one ends (and only if it was enabled).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            self._holders += 1
            if self._holders == 1:
                self._was_enabled = gc.isenabled()
                gc.disable()

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._was_enabled:
                gc.enable()


gc_paused = _GcPause()


@dataclass(slots=True)
class _Txn:
    """One write transaction of the engine, and what it leaves for the lead cache."""

    repo: Repository
    rev: int | None
    # True when nobody wrote since the engine's last committed transaction.
    chained: bool
    keep: list[StoredLead] = field(default_factory=list)
    evict: list[str] = field(default_factory=list)


class _LeadCache:
    """Leads as the engine's last committed write transaction left them.

    Reading a lead row and decoding its state costs more than scoring its events, and a
    bulk ingest touches most leads in every batch. Every write transaction, in any
    process, bumps the store revision first (`Database.write`); a transaction that finds
    it one past the revision the cache was made at knows no one else wrote in between,
    so the cached leads are exactly what the store holds. Anything else drops them.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.lock = threading.Lock()
        self.rev: int | None = None
        self.leads: dict[str, StoredLead] = {}

    def chained(self, rev: int | None) -> bool:
        """Whether the cache is valid inside the transaction that made revision `rev`."""
        with self.lock:
            return rev is not None and self.rev is not None and rev == self.rev + 1

    def take(self, emails: Iterable[str]) -> dict[str, StoredLead]:
        """The cached leads among `emails`, ready for a new transaction."""
        out: dict[str, StoredLead] = {}
        with self.lock:
            leads = self.leads
            for email in emails:
                s = leads.get(email)
                if s is not None:
                    card = s.state.card
                    if card is not None:
                        s.score_before, s.grade_before = card.total, card.grade
                    out[email] = s
        return out

    def clear(self) -> None:
        """Forget everything (a transaction failed: its leads were changed in memory)."""
        with self.lock:
            self.leads.clear()
            self.rev = None

    def committed(self, txn: _Txn) -> None:
        """Record what a committed transaction left in the store."""
        with self.lock:
            if txn.rev is None or (self.rev is not None and txn.rev <= self.rev):
                # No counter, or a late report of an older transaction: trust nothing.
                self.leads.clear()
                self.rev = None
                return
            leads = self.leads
            if self.rev is None or txn.rev != self.rev + 1:
                leads.clear()
            for s in txn.keep:
                email = s.state.email
                leads.pop(email, None)  # re-inserted last: the dict's order is recency
                leads[email] = s
            for email in txn.evict:
                leads.pop(email, None)
            excess = len(leads) - self.limit
            if excess > 0:
                for email in list(islice(leads, excess)):
                    del leads[email]
            self.rev = txn.rev


class Engine:
    """leadgate's use cases over one database."""

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
        for listener in self.listeners:
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
        self.rescore_all()

    # -- leads ----------------------------------------------------------------

    def upsert_leads(
        self, items: Sequence[tuple[str, dict[str, Any], float | None]], actor: str = "import"
    ) -> tuple[int, int, int]:
        """Create or update leads by email: (email, attributes, created_at or None).

        Returns (created, updated, unchanged). Attribute changes re-score fit and may
        make an MQL; identical values change nothing (so a re-import is a no-op).
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
            fresh = [
                LeadState(email, {}, created if created is not None else now)
                for email, (_, created) in merged.items()
                if email not in stored
            ]
            repo.insert_leads(fresh, now)
            for lead in fresh:
                stored[lead.email] = StoredLead(lead, None, now)
            changed: list[tuple[StoredLead, list[Transition], bool]] = []
            new_emails = {lead.email for lead in fresh}
            for email, (attrs, _) in merged.items():
                s = stored[email]
                ts = self._refresh_if_stale(repo, proc, s, now)
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
                    ts += self._rederive(repo, proc, s, now, "attributes changed")
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

    def _refresh_if_stale(
        self, repo: Repository, proc: LeadProcessor, s: StoredLead, now: float
    ) -> list[Transition]:
        """A lead scored under an older playbook version: the active one takes over at its
        activation, as `rescore_all` does (the rescore has not reached this lead yet)."""
        lead = s.state
        if lead.id is None or lead.playbook_version in (None, proc.version):
            return []  # None: created in this transaction, nothing to replay
        since = self._since(repo, proc)
        old = self._loadable(lead.playbook_version) or proc
        if lead.engagement_state.last_at > since or lead.settled_at > since or old is proc:
            return self._rederive(repo, proc, s, now, "a playbook version took over")
        events = [e for e in repo.events_of(lead.id) if e.at <= since]
        out = proc.take_over(lead, old, proc.rules.replay(events), since)
        out += proc.advance(lead, now, rescore=False)
        proc.rescore(lead, now)
        return out

    def _since(self, repo: Repository, proc: LeadProcessor) -> float:
        """When a version became active (asked for every lead of a batch: cached, as a
        version's activation time never changes)."""
        if proc.version is None:
            return -math.inf
        since = self._activated.get(proc.version)
        if since is None:
            row = repo.execute(
                "SELECT activated_at FROM playbooks WHERE version = ?", [proc.version]
            ).fetchone()
            if row is None:
                return -math.inf
            since = self._activated[proc.version] = float(row[0])
        return since

    def _eras(self, repo: Repository, proc: LeadProcessor) -> list[Era]:
        """The versions in force over time, up to the active one."""
        eras = []
        for v, at in repo.eras():
            if proc.version is not None and v > proc.version:
                continue
            # A version stored before today's checks (`points: .nan`) cannot run: the
            # one before it stays in force over its time.
            era_proc = proc if v == proc.version else self._loadable(v)
            if era_proc is not None:
                eras.append(Era(at, era_proc))
        return eras or [Era(-math.inf, proc)]

    def _loadable(self, version: int) -> LeadProcessor | None:
        """A stored version's processor, or None when it no longer loads."""
        try:
            return self.processor(version)
        except PlaybookError:
            return None

    def _is_late(
        self, repo: Repository, proc: LeadProcessor, lead: LeadState, first: EventIn
    ) -> bool:
        """Whether events from `first` on cannot simply be scored on top of the lead: older
        than what it has seen or than a person's move, or from before the active version
        when an older one was in force then."""
        if not proc.in_order(lead, first):
            return True
        return bool(
            proc.version is not None and proc.version > 1 and first.at <= self._since(repo, proc)
        )

    def _rederive(
        self,
        repo: Repository,
        proc: LeadProcessor,
        s: StoredLead,
        now: float,
        why: str,
        extra: Sequence[Move] = (),
    ) -> list[Transition]:
        """Derive the lead's history again from its facts (and `extra` people's moves not
        stored yet) and return the rows to append; stored rows the derivation no longer
        makes are voided by correction rows."""
        lead = s.state
        assert lead.id is not None
        stored = repo.history_rows(lead.id)
        moves = [Move(r[2], r[3], r[4], r[5]) for r in stored if not is_automatic(r[4])]
        moves += extra
        derived = derive(lead, repo.events_of(lead.id), moves, self._eras(repo, proc), now)
        keep = corrections([r[1:5] for r in stored], derived)
        gone = stored[keep:]
        tail = derived[keep:]
        if gone:
            repo.void_transitions(lead.id, gone, now, f"re-derived: {why}", lead.playbook_version)
            s.voided = [Transition(r[1], r[2], r[3], r[4], r[5]) for r in gone]
            tail = [
                t
                if not is_automatic(t.actor)
                else Transition(
                    t.from_stage, t.to_stage, t.at, t.actor, f"{t.reason} (re-derived: {why})"
                )
                for t in tail
            ]
        return tail

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
        stored_before, lead_ids = self._ingest(batch, now)
        for r in results:
            if r.status == "accepted" and r.id in stored_before:
                r.status = "duplicate"
            r.lead_id = lead_ids.get(r.id or "")
        return results

    def ingest_counts(self, items: Sequence[EventIn], now: float | None = None) -> tuple[int, int]:
        """As `ingest`, for callers that need only (accepted, duplicates): file imports."""
        now = self.clock() if now is None else now
        batch: list[EventIn] = []
        seen: set[str] = set()
        for ev in items:
            if ev.id not in seen:
                seen.add(ev.id)
                batch.append(ev)
        if not batch:
            return 0, len(items)
        stored_before, _ = self._ingest(batch, now, want_ids=False)
        accepted = len(batch) - len(stored_before)
        return accepted, len(items) - accepted

    def _ingest(
        self, batch: list[EventIn], now: float, want_ids: bool = True
    ) -> tuple[set[str], dict[str, int | None]]:
        """Events with distinct ids in, one transaction.

        Returns (the ids that were stored before, so not scored again; lead id per event id).
        """
        for attempt in range(1, 4):
            try:
                return self._ingest_once(batch, now, want_ids)
            except ConcurrentEvents:
                # PostgreSQL: another writer stored some of these ids (for another lead)
                # while this batch was scored; rolled back, so run it again, which will
                # find them stored.
                if attempt == 3:
                    raise
        raise AssertionError("unreachable")

    def _ingest_once(
        self, batch: list[EventIn], now: float, want_ids: bool
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
            fresh = [
                LeadState(e, {}, min(ev.at for ev in evs))
                for e, evs in per_lead.items()
                if e not in stored
            ]
            repo.insert_leads(fresh, now)
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
            for email, evs in per_lead.items():
                s = stored[email]
                lead = s.state
                first = min(evs, key=_TIME_ORDER)
                ts = []
                if lead.playbook_version not in (None, version):
                    ts = self._refresh_if_stale(repo, proc, s, now)
                if self._is_late(repo, proc, lead, first):
                    why = f"late event {first.id} at {iso(first.at)}"
                    ts += self._rederive(repo, proc, s, now, why)
                else:
                    ts += proc.apply_events(lead, evs, now)
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
            moves = self._refresh_if_stale(repo, proc, s, now)
            moves += proc.advance(s.state, now, rescore=False)
            for guard in self.stage_guards:
                guard(repo, s, to, now)
            t = proc.set_stage(s.state, to, actor, reason, now)
            moves.append(t)
            if s.state.engagement_state.last_at > now:
                # Events dated after this moment (within the clock skew) were scored
                # already: the move goes before them, so the history is derived again.
                fact = Move(to, now, actor, reason)
                moves = self._rederive(repo, proc, s, now, "a move before stored events", [fact])
            self._commit(txn, proc, [(s, moves, False)], now, attributes=False)
        return t

    def _one_lead(self, txn: _Txn, email: str) -> tuple[Repository, LeadProcessor, StoredLead]:
        """The lead a write use case works on (locked), with the active processor."""
        proc = self._active(txn.repo, txn)
        s = self._leads(txn, [email]).get(email)
        if s is None:
            raise NotFound(f"no lead with email {email}")
        return txn.repo, proc, s

    def record_moves(self, email: str, moves: Sequence[Move]) -> list[Transition]:
        """People's moves made elsewhere (another CRM, a back-filled history), as facts.

        They are not checked against the stage graph - they happened - and the lead's
        history is derived again around them: the rules' moves follow from the events
        and these moves together, exactly as if each had been made live at its time.
        Returns the rows appended to the history.
        """
        email = check_email(email)
        now = self.clock()
        for m in moves:
            if m.to not in STAGES:
                raise InputError("to", f"unknown stage '{m.to}'")
            if is_automatic(m.actor):
                raise InputError("actor", "a person's move cannot be made by 'rule:…'")
            if m.at > now:
                raise InputError("at", "a move cannot be dated in the future")
        with self._write() as txn:
            repo, proc, s = self._one_lead(txn, email)
            tail = self._refresh_if_stale(repo, proc, s, now)
            tail += self._rederive(repo, proc, s, now, "a person's move recorded late", moves)
            self._commit(txn, proc, [(s, tail, False)], now, attributes=False)
        return tail

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
                    ts = self._refresh_if_stale(repo, proc, s, now)
                    ts += proc.advance(s.state, now, rescore=True)
                    items.append((s, ts, False))
                    moved += len(ts)
                self._commit(txn, proc, items, now, attributes=False)
            if len(emails) < limit:
                return moved

    # -- reading --------------------------------------------------------------

    def show(self, email: str) -> dict[str, Any]:
        """Everything about one lead, scored as of now, with its explanation and history.

        One read transaction, unless a timer of the lead is due: then `tick` fires it
        first and the lead is read again.
        """
        email = check_email(email)
        now = self.clock()
        for attempt in range(2):
            with self.db.read() as conn:
                repo = Repository(self.db, conn)
                proc = self._active(repo)
                s = repo.lead_by_email(email)
                if s is None:
                    raise NotFound(f"no lead with email {email}")
                lead = s.state
                due = lead.next_due_at is not None and lead.next_due_at <= now
                if not due or attempt:
                    return self._show(repo, proc, s, now)
            self.tick(now)
        raise AssertionError("unreachable")

    def _show(
        self, repo: Repository, proc: LeadProcessor, s: StoredLead, now: float
    ) -> dict[str, Any]:
        lead = s.state
        assert lead.id is not None
        if lead.playbook_version != proc.version:
            lead.engagement_state = proc.rules.replay(repo.events_of(lead.id))
        history = repo.history(lead.id)
        recent = repo.recent_events(lead.id, 10)
        attrs = dict(lead.attributes)
        attrs.setdefault("email", lead.email)
        card = proc.scorer.card(
            attrs, lead.engagement_state, max(now, lead.engagement_state.last_at)
        )
        out = self._show_dict(s, proc, card, history, recent)
        # What re-derivations took back (late events, late moves): the history says so.
        out["corrections"] = [
            {
                "voided": {"from": c[1], "to": c[2], "at": iso(c[3])},
                "at": iso(c[6]),
                "actor": c[4],
                "reason": c[5],
            }
            for c in repo.corrections(lead.id)
        ]
        for extra in self.show_extras:
            extra(repo, out)
        return out

    def _show_dict(
        self,
        s: StoredLead,
        proc: LeadProcessor,
        card: Any,
        history: list[tuple[Any, ...]],
        recent: list[tuple[Any, ...]],
    ) -> dict[str, Any]:
        lead = s.state
        return {
            "id": lead.id,
            "email": lead.email,
            "stage": lead.stage,
            "stage_since": iso(lead.stage_at),
            "stage_reason": lead.stage_reason,
            "owner": s.owner,
            "sla_due_at": None,
            "fit": card.fit,
            "engagement": card.engagement,
            "score": card.total,
            "fit_grade": card.fit_grade,
            "engagement_grade": card.engagement_grade,
            "grade": card.grade,
            "as_of": iso(card.as_of),
            "playbook_version": proc.version,
            "explanation": [
                {"score": c.score, "rule": c.rule, "points": c.points} for c in card.explanation
            ],
            "history": [
                {"from": h[0], "to": h[1], "at": iso(h[2]), "actor": h[3], "reason": h[4]}
                for h in history
            ],
            "allowed_stages": allowed_targets(lead.stage, proc.playbook),
            "next_due_at": iso(lead.next_due_at),
            "attributes": lead.attributes,
            "created_at": iso(lead.created_at),
            "updated_at": iso(s.updated_at),
            "recent_events": [
                {"id": e[0], "type": e[1], "occurred_at": iso(e[2]), "properties": e[3]}
                for e in recent
            ],
        }

    def list_leads(
        self,
        stage: str | None = None,
        grade: str | None = None,
        owner: str | None = None,
        min_score: float | None = None,
        limit: int = 50,
        sort: str = "priority",
    ) -> list[dict[str, Any]]:
        """Leads filtered by stage/grade/owner, best first (grade, then score, then oldest)."""
        if stage is not None and stage not in STAGES:
            raise InputError("stage", f"unknown stage '{stage}' (one of {', '.join(STAGES)})")
        self.tick()
        where: list[str] = []
        params: list[Any] = []
        if stage:
            where.append("stage = ?")
            params.append(stage)
        if grade:
            g = grade.upper()
            if len(g) == 1 and g in "ABCD":
                where.append("fit_grade = ?")
            elif len(g) == 1 and g in "1234":
                where.append("engagement_grade = ?")
            elif len(g) == 2:
                where.append("grade = ?")
            else:
                raise InputError("grade", f"'{grade}' is not a grade (A-D, 1-4 or e.g. B2)")
            params.append(g)
        if owner:
            where.append("owner = ?")
            params.append(owner)
        if min_score is not None:
            where.append("score >= ?")
            params.append(min_score)
        order = {
            "priority": "fit_grade ASC, engagement_grade ASC, score DESC, created_at ASC, id ASC",
            "score": "score DESC, id ASC",
            "recent": "updated_at DESC, id DESC",
            # The probability `leadgate predict` stored; leads without one last.
            "predicted": f"{_predicted_sql(self.db)} DESC NULLS LAST, id ASC",
        }.get(sort)
        if order is None:
            raise InputError("sort", "one of priority, score, recent, predicted")
        sql = (
            "SELECT id, email, stage, fit, engagement, score, grade, owner, stage_at, updated_at "
            "FROM leads"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {order} LIMIT ?"
        )
        params.append(limit)
        with self.db.read() as conn:
            rows = Repository(self.db, conn).execute(sql, params).fetchall()
        return [
            {
                "id": r[0],
                "email": r[1],
                "stage": r[2],
                "fit": r[3],
                "engagement": r[4],
                "score": r[5],
                "grade": r[6],
                "owner": r[7],
                "stage_since": iso(r[8]),
                "updated_at": iso(r[9]),
            }
            for r in rows
        ]

    def funnel(self) -> dict[str, Any]:
        """Leads per stage now, leads that ever reached each funnel stage, and step conversion."""
        self.tick()
        with self.db.read() as conn:
            repo = Repository(self.db, conn)
            now_counts = dict(
                repo.execute("SELECT stage, COUNT(*) FROM leads GROUP BY stage").fetchall()
            )
            reached = dict(
                repo.execute(
                    "SELECT to_stage, COUNT(DISTINCT lead_id) FROM "
                    + EFFECTIVE_TRANSITIONS
                    + " GROUP BY to_stage"
                ).fetchall()
            )
            total = repo.execute("SELECT COUNT(*) FROM leads").fetchone()[0]
        reached["lead"] = total
        steps = []
        for a, b in zip(FUNNEL, FUNNEL[1:], strict=False):
            na, nb = reached.get(a, 0), reached.get(b, 0)
            steps.append(
                {
                    "from": a,
                    "to": b,
                    "from_count": na,
                    "to_count": nb,
                    "rate": round(nb / na, 4) if na else None,
                }
            )
        return {
            "total_leads": total,
            "current": {s: now_counts.get(s, 0) for s in STAGES},
            "reached": {s: reached.get(s, 0) for s in (*FUNNEL, "nurture", "disqualified")},
            "conversion": steps,
        }

    # -- whole-store work -----------------------------------------------------

    def rescore_all(
        self, progress: Callable[[int], None] | None = None, batch: int = 20_000
    ) -> int:
        """Rescore every lead under the active playbook (after a playbook change).

        When the engagement rules differ from the previous version's only in points, each
        lead's engagement state is carried over without reading its events; otherwise
        every lead's events are replayed. Fit is recomputed only if the fit section changed.
        """
        proc = self.processor()
        now = self.clock()
        with self.db.read() as conn:
            since = self._since(Repository(self.db, conn), proc)
        carry: dict[int, dict[int, tuple[int, float]] | None] = {}
        same_fit: dict[int, bool] = {}
        n = 0
        last_id = 0
        while True:
            with gc_paused, self._write() as txn:
                repo = txn.repo
                page = repo.leads_after(last_id, batch, lock=True)
                if not page:
                    return n
                last_id = page[-1].state.id  # type: ignore[assignment]
                for s in page:
                    v = s.state.playbook_version
                    if v is not None and v not in carry:
                        try:
                            old = self.processor(v) if v != proc.version else proc
                        except PlaybookError:
                            # Stored before today's checks (`points: .nan`): nothing to
                            # carry over from it, so its leads are replayed from events.
                            carry[v], same_fit[v] = None, False
                            continue
                        carry[v] = proc.rules.carry_over(old.rules)
                        same_fit[v] = old.playbook.fit == proc.playbook.fit
                replay = any(
                    s.state.playbook_version is None or carry.get(s.state.playbook_version) is None
                    for s in page
                )
                events = (
                    _events_by_lead(repo, page[0].state.id, last_id, proc.rules.property_types)  # type: ignore[arg-type]
                    if replay
                    else {}
                )
                items = []
                for s in page:
                    lead = s.state
                    v = lead.playbook_version
                    if v == proc.version:
                        # Reached by the new version already (an event or a move since
                        # the activation took it over).
                        ts = proc.advance(lead, now, rescore=False)
                    elif (
                        v is None
                        or lead.engagement_state.last_at > since
                        or lead.settled_at > since
                    ):
                        ts = self._rederive(repo, proc, s, now, "a playbook version took over")
                    else:
                        # The new version takes over at its activation, as a derivation
                        # of the lead's history would have it.
                        mapping = carry.get(v)
                        state = (
                            proc.rules.carried(lead.engagement_state, mapping)
                            if mapping is not None
                            else proc.rules.replay(events.get(lead.id, ()))  # type: ignore[arg-type]
                        )
                        fit = lead.fit_cache if same_fit[v] else None
                        ts = proc.take_over(lead, self._loadable(v) or proc, state, since)
                        lead.fit_cache = fit
                        ts += proc.advance(lead, now, rescore=False)
                    proc.rescore(lead, now)
                    items.append((s, ts, False))
                self._commit(txn, proc, items, now, attributes=False)
                # A whole-store walk would push the recently active leads out of the
                # cache; what it read is freed here, before the collector runs again.
                txn.evict.extend(s.state.email for s in page)
                txn.keep.clear()
                done = len(page)
                del items, events, page
            n += done
            if progress:
                progress(done)


def _predicted_sql(db: Database) -> str:
    """The stored `predicted` attribute as a number (NULL when absent or not a number)."""
    if db.is_sqlite:
        return (
            "(CASE WHEN json_type(attributes, '$.predicted') IN ('real', 'integer') "
            "THEN json_extract(attributes, '$.predicted') END)"
        )
    return (
        "(CASE WHEN jsonb_typeof(CAST(attributes AS jsonb) -> 'predicted') = 'number' "
        "THEN CAST(CAST(attributes AS jsonb) ->> 'predicted' AS double precision) END)"
    )


def _history(repo: Repository, lead_id: int) -> Callable[[], list[Event]]:
    return lambda: repo.events_of(lead_id)


def _events_by_lead(
    repo: Repository, lo: int, hi: int, property_types: frozenset[str]
) -> dict[int, list[Event]]:
    """The events of leads lo..hi, properties decoded only where scoring reads them."""
    from leadgate.store.repository import loads

    out: dict[int, list[Event]] = defaultdict(list)
    cur = repo.execute(
        "SELECT lead_id, id, type, occurred_at, properties FROM events "
        "WHERE lead_id BETWEEN ? AND ?",
        [lo, hi],
    )
    for lid, eid, typ, at, props in cur.fetchall():
        out[lid].append(Event(eid, typ, at, loads(props) if typ in property_types else _NO_PROPS))
    return out


_NO_PROPS: Mapping[str, Any] = MappingProxyType({})


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
