"""Rescoring every lead after a playbook version is activated.

The new version takes over each lead at its activation, exactly as a derivation of the
lead's history would have it (`LeadProcessor.take_over`): time runs to the activation
under the old rules, then the engagement is carried over (points-only changes) or
replayed, and the rules are checked again there. Leads are walked by id in pages, each
page one transaction.

Two paths give the same stored results (tests/engine/test_rescore_paths.py compares the
stores row by row): `per-lead` runs every lead through the lifecycle as above; `set`
(`rescore_set`, the default) writes the leads whose stage cannot move in one set-based
statement per page and sends only the others through the lifecycle, checking a random
sample against this path at run time. Example:

    >>> from leadgate.engine.rescore import METHODS
    >>> METHODS
    ('set', 'per-lead')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from leadgate.engine import history
from leadgate.engine.rescore_replay import Replayed
from leadgate.engine.txn import gc_paused
from leadgate.leads.processor import LeadProcessor
from leadgate.lifecycle.stages import Transition
from leadgate.playbook.errors import PlaybookError
from leadgate.scoring.engagement import EngagementState, Event
from leadgate.store.repository import Repository, StoredLead

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine
    from leadgate.engine.rescore_set import RescoreReport

METHODS = ("set", "per-lead")
# A page's events by lead, or the set-based path's replayed states.
Events = Mapping[int, list[Event]] | Replayed
# Where the engine keeps its last set-based rescore's report (like the activation hooks:
# the engine class itself knows nothing of it).
LAST_REPORT = "_leadgate_last_rescore"
# How many leads the set-based path replays through the per-lead path to check itself.
DEFAULT_VERIFY = 1000


@dataclass
class Versions:
    """What the rescore knows of the versions its leads were scored under."""

    proc: LeadProcessor
    since: float
    # version -> how to carry its engagement states over (None: replay the events)
    carry: dict[int, dict[int, tuple[int, float]] | None]
    # version -> whether its fit section is the active one's
    same_fit: dict[int, bool]

    def learn(self, engine: Engine, page: list[StoredLead]) -> None:
        """Look at the versions of a page's leads not seen before."""
        self.learn_versions(engine, {s.state.playbook_version for s in page})

    def learn_versions(self, engine: Engine, seen: set[int | None]) -> None:
        """Look at these versions (None: a lead never scored) if not seen before."""
        proc = self.proc
        for v in seen:
            if v is not None and v not in self.carry:
                try:
                    old = engine.processor(v) if v != proc.version else proc
                except PlaybookError:
                    # Stored before today's checks (`points: .nan`): nothing to carry
                    # over from it, so its leads are replayed from events.
                    self.carry[v], self.same_fit[v] = None, False
                    continue
                self.carry[v] = proc.rules.carry_over(old.rules)
                self.same_fit[v] = old.playbook.fit == proc.playbook.fit

    def replays(self, v: int | None) -> bool:
        """Whether a lead scored under version `v` has its new state replayed."""
        return v is None or self.carry.get(v) is None

    def needs_events(self, s: StoredLead) -> bool:
        """Whether the lead's new engagement state is replayed from its events."""
        return self.replays(s.state.playbook_version)

    def state(self, s: StoredLead, events: Events) -> EngagementState:
        """The lead's engagement state under the active version, up to the activation:
        carried over, or replayed from its events (or taken from the set-based path's
        replay, `rescore_replay.Replayed`)."""
        lead = s.state
        assert lead.playbook_version is not None
        mapping = self.carry.get(lead.playbook_version)
        if mapping is not None:
            return self.proc.rules.carried(lead.engagement_state, mapping)
        if isinstance(events, Replayed):
            return events.state(lead.id)  # type: ignore[arg-type]
        return self.proc.rules.replay(events.get(lead.id, ()))  # type: ignore[arg-type]


def versions(engine: Engine) -> Versions:
    """The active processor and when it took over."""
    proc = engine.processor()
    with engine.db.read() as conn:
        since = history.activated_at(engine, Repository(engine.db, conn), proc)
    return Versions(proc, since, {}, {})


def rescore_all(
    engine: Engine,
    progress: Callable[[int], None] | None = None,
    batch: int = 20_000,
    method: str = "set",
    verify: int = DEFAULT_VERIFY,
    seed: int | None = None,
) -> int:
    """Rescore every lead under the active playbook (after a playbook change).

    When the engagement rules differ from the previous version's only in points, each
    lead's engagement state is carried over without reading its events; otherwise
    every lead's events are replayed. Fit is recomputed only if the fit section changed.
    `method`: "set" (module docstring; `verify` leads checked, see
    `rescore_set.RescoreMismatch`) or "per-lead".
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    setattr(engine, LAST_REPORT, None)
    if method == "set":
        from leadgate.engine.rescore_set import rescore_set

        report = rescore_set(engine, progress, batch, verify, seed)
        setattr(engine, LAST_REPORT, report)
        return report.leads
    return rescore_per_lead(engine, progress, batch)


def last_report(engine: Engine) -> RescoreReport | None:
    """What the engine's last set-based rescore did (None after a per-lead one)."""
    return getattr(engine, LAST_REPORT, None)


def rescore_per_lead(
    engine: Engine, progress: Callable[[int], None] | None = None, batch: int = 20_000
) -> int:
    """Every lead through the lifecycle (`rescore_one`), a page per transaction."""
    vs = versions(engine)
    now = engine.clock()
    n = 0
    last_id = 0
    while True:
        with gc_paused, engine._write() as txn:
            repo = txn.repo
            page = repo.leads_after(last_id, batch, lock=True)
            if not page:
                return n
            last_id = page[-1].state.id  # type: ignore[assignment]
            vs.learn(engine, page)
            events = (
                events_by_lead(repo, page[0].state.id, last_id, vs.proc.rules.property_types)  # type: ignore[arg-type]
                if any(vs.needs_events(s) for s in page)
                else {}
            )
            items = [(s, rescore_one(engine, repo, vs, s, now, events), False) for s in page]
            engine._commit(txn, vs.proc, items, now, attributes=False)
            # A whole-store walk would push the recently active leads out of the
            # cache; what it read is freed here, before the collector runs again.
            txn.evict.extend(s.state.email for s in page)
            txn.keep.clear()
            done = len(page)
            del items, events, page
        n += done
        if progress:
            progress(done)


def rescore_one(
    engine: Engine,
    repo: Repository,
    vs: Versions,
    s: StoredLead,
    now: float,
    events: Events,
) -> list[Transition]:
    """One lead through the lifecycle under the active version; its transitions."""
    proc, since = vs.proc, vs.since
    lead = s.state
    v = lead.playbook_version
    if v == proc.version:
        # Reached by the new version already (an event or a move since the activation
        # took it over).
        ts = proc.advance(lead, now, rescore=False)
    elif v is None or lead.engagement_state.last_at > since or lead.settled_at > since:
        ts = history.rederive(engine, repo, proc, s, now, "a playbook version took over")
    else:
        # The new version takes over at its activation, as a derivation of the lead's
        # history would have it.
        ts = proc.take_over(
            lead,
            history.loadable(engine, v) or proc,
            vs.state(s, events),
            since,
            # Stored with the lead: when the old rules' next timer is due.
            lead.next_due_at,
            vs.same_fit[v],
        )
        ts += proc.advance(lead, now, rescore=False)
    proc.rescore(lead, now)
    return ts


def events_by_lead(
    repo: Repository, lo: int, hi: int, property_types: frozenset[str]
) -> dict[int, list[Event]]:
    """The events of leads lo..hi, properties decoded only where scoring reads them."""
    out: dict[int, list[Event]] = defaultdict(list)
    cur = repo.execute(
        "SELECT lead_id, id, type, occurred_at, properties FROM events "
        "WHERE lead_id BETWEEN ? AND ?",
        [lo, hi],
    )
    add_events(out, cur.fetchall(), property_types)
    return out


def add_events(
    out: dict[int, list[Event]], rows: Sequence[Any], property_types: frozenset[str]
) -> None:
    """Rows (lead_id, id, type, occurred_at, properties) as each lead's events, properties
    decoded only where scoring reads them."""
    from leadgate.store.repository import loads

    for lid, eid, typ, at, props in rows:
        out[lid].append(Event(eid, typ, at, loads(props) if typ in property_types else _NO_PROPS))


_NO_PROPS: Mapping[str, Any] = MappingProxyType({})
