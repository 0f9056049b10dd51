"""The use cases, each one transaction: load leads, let the core decide, save.

This is where I/O meets the pure core. Everything a lead goes through -
events, edits, adjustments, manual moves, timers - passes through
`LeadProcessor`, so the CLI, HTTP and a replay behave the same.

`Engine` holds what the use cases share (the write transaction and its lead cache, the
active playbook's processor, `_commit` and the listeners); the use cases live by
concept: what comes in (`intake.py`: events, lead records, adjustments; who an
address is in `arrivals.py`), what else moves a lead (`moves.py`: people's moves,
timers), playbooks (`activation.py`), history (`history.py`), reading (`reading.py`,
`listing.py`) and the rescore (`rescore.py`).

Example:
    engine = Engine(Database("sqlite:///leadgate.db"))
    engine.ensure_playbook()
    engine.ingest([EventIn("e1", "ann@acme.com", "demo_request", time.time())])
    engine.show("ann@acme.com")["stage"]  # "mql": a hand-raiser
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

# The use cases' modules are imported by the methods that call them: a one-shot `lead show`
# needs only `reading` (intake, moves, history and the rescore are ~2% of its start-up).
from leadgate.engine import reading
from leadgate.engine.changes import (
    Clock,
    ItemResult,
    LeadChange,
    Listener,
    ShowExtra,
    StageGuard,
    notify,
)
from leadgate.engine.errors import NoPlaybook, NotFound
from leadgate.engine.txn import _LeadCache, _Txn, gc_paused
from leadgate.ingest.validate import EventIn, check_email
from leadgate.leads.derivation import Move
from leadgate.leads.processor import LeadProcessor
from leadgate.lifecycle.stages import Transition
from leadgate.playbook.model import Playbook
from leadgate.store.database import Database
from leadgate.store.repository import Repository, StoredLead

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
            pb = repo.stored_playbook(version)
            if pb is None:
                raise NoPlaybook("no active playbook: run `leadgate init`")
            proc = LeadProcessor(pb, version)
            self._processors[version] = proc
            if txn is not None:
                # Inside a write anyway: an upgrade that left the version's plain form
                # stale is mended now (once per process), so the next reads (every CLI
                # command) skip validating its YAML again, not only after `init`.
                repo.refresh_plain(version)
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
            [(s.state.id, t) for s, ts, _ in items if ts for t in ts],  # type: ignore[misc]
            proc.version,
        )
        # Each row's score and grade as just saved (`row_scores`).
        listeners = self.listeners
        changes = LeadChange.saved_all(items) if listeners else []
        keep = txn.keep.append if txn is not None else None
        evict = txn.evict.append if txn is not None else None
        for s, ts, _ in items:
            if s.voided:
                s.voided = []
            if keep is not None and evict is not None:
                s.updated_at = now
                if ts:
                    # A listener may write to a lead that moved (routing sets its
                    # owner): read it from the store next time.
                    evict(s.state.email)
                else:
                    keep(s)
        notify(listeners, repo, changes, now)
        return changes

    # -- playbook -------------------------------------------------------------

    def ensure_playbook(self, actor: str = "system") -> int:
        """Activate the bundled playbook if the store has none; return the active version.

        The active version's plain form is written again if an upgrade made it stale
        (`leadgate init`, the server's start): reads then skip validating its YAML."""
        with self.db.write() as conn:
            repo = Repository(self.db, conn)
            active = repo.active_playbook()
            if active:
                repo.refresh_plain(active[0])
                return active[0]
            from leadgate.playbook.loader import bundled_playbook

            pb, text = bundled_playbook()
            return repo.add_playbook(pb.name, text, actor, self.clock(), pb)

    def stored_playbook(self, repo: Repository, version: int) -> Playbook | None:
        """A stored version's playbook: the loaded processor's, else read through `repo`
        (the sales workflow and the forms share the engine's instead of reading it again)."""
        proc = self._processors.get(version)
        return proc.playbook if proc is not None else repo.stored_playbook(version)

    def processor(self, version: int | None = None) -> LeadProcessor:
        """The compiled active playbook (or a given version), cached per version."""
        if version is not None and version in self._processors:
            return self._processors[version]
        with self.db.read_raw() as raw:
            repo = Repository(self.db, None, raw)
            if version is None:
                return self._active(repo)
            pb = repo.stored_playbook(version)
        if pb is None:
            raise NotFound(f"playbook version {version} does not exist")
        proc = LeadProcessor(pb, version)
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
        when the rescore fails, the new version is not left active (see
        `activation.withdraw`)
        and the error is raised again.
        """
        from leadgate.engine.activation import activate

        a = activate(self, text, source, actor, progress)
        return a.version, a.playbook, a.rescored

    # -- what comes in (intake.py) -------------------------------------------

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
        from leadgate.engine import intake

        return intake.upsert_leads(self, items, refused)

    def ingest(self, items: Sequence[EventIn], now: float | None = None) -> list[ItemResult]:
        """Store and score a batch of validated events, in one transaction.

        A repeated id (in the batch or stored before) is acknowledged as `duplicate`
        and not scored again. An unknown email creates the lead.
        """
        from leadgate.engine import intake

        return intake.ingest(self, items, self.clock() if now is None else now)

    def ingest_counts(
        self, items: Sequence[EventIn], now: float | None = None, refused: set[str] | None = None
    ) -> tuple[int, int]:
        """As `ingest`, for callers that need only (accepted, duplicates): file imports.
        Events of suppressed addresses are not stored: their addresses go into `refused`
        when given, and the events are counted in neither number."""
        from leadgate.engine import intake

        return intake.ingest_counts(self, items, self.clock() if now is None else now, refused)

    def _ingest_once(
        self, batch: list[EventIn], now: float, refused: set[str] | None = None
    ) -> tuple[set[str], dict[str, int | None]]:
        """One try at a batch of events with distinct ids (see `intake.ingest_once`)."""
        from leadgate.engine import intake

        return intake.ingest_once(self, batch, now, refused)

    def track(self, items: Sequence[tuple[str, str, str, float, dict[str, Any]]]) -> int:
        """Browser events of anonymous visitors (see `stitch.track`)."""
        from leadgate.engine import stitch

        return stitch.track(self, items)

    def adjust(
        self, email: str, points: float, reason: str, actor: str, score: str = "engagement"
    ) -> dict[str, Any]:
        """A manual adjustment, stored as an event of its own (audited, explained)."""
        from leadgate.engine import intake

        return intake.adjust(self, email, points, reason, actor, score)

    # -- what else moves a lead (moves.py) -------------------------------------

    def set_stage(self, email: str, to: str, reason: str | None, actor: str) -> Transition:
        """A person moves a lead; IllegalTransition (with the allowed targets) if not allowed."""
        from leadgate.engine import moves

        return moves.set_stage(self, check_email(email), to, reason, actor)

    def _one_lead(self, txn: _Txn, email: str) -> tuple[Repository, LeadProcessor, StoredLead]:
        """The lead a write use case works on (locked), with the active processor."""
        proc = self._active(txn.repo, txn)
        s = self._leads(txn, [email]).get(email)
        if s is None:
            raise NotFound(f"no lead with email {email}")
        return txn.repo, proc, s

    def tick(self, now: float | None = None, limit: int = 10_000) -> int:
        """Fire due timers (decay exits, cooldown ends). Cost follows what is due, not the store."""
        from leadgate.engine import moves

        return moves.tick(self, self.clock() if now is None else now, limit)

    # -- history, reading, rescoring (their own modules) ----------------------

    def record_moves(self, email: str, moves: Sequence[Move]) -> list[Transition]:
        """People's moves made elsewhere, as facts (see `history.record_moves`)."""
        from leadgate.engine import history

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
        """Leads filtered by stage/grade/owner (and a playbook segment), best first: the
        first page of the web app's Leads list (`listing.list_page`), these keys of it."""
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
        verify: int | None = None,
    ) -> int:
        """Rescore every lead under the active playbook (see `rescore.rescore_all`);
        `method` None: `self.rescore_method`; `verify` None: `rescore.DEFAULT_VERIFY`."""
        from leadgate.engine import rescore

        if verify is None:
            verify = rescore.DEFAULT_VERIFY
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
