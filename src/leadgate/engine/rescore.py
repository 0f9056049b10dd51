"""Rescoring every lead after a playbook version is activated.

The new version takes over each lead at its activation, exactly as a derivation of the
lead's history would have it (`LeadProcessor.take_over`): time runs to the activation
under the old rules, then the engagement is carried over (points-only changes) or
replayed, and the rules are checked again there. Leads are walked by id in pages, each
page one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from leadgate.engine import history
from leadgate.engine.txn import gc_paused
from leadgate.playbook.loader import PlaybookError
from leadgate.scoring.engagement import Event
from leadgate.store.repository import Repository

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine


def rescore_all(
    engine: Engine, progress: Callable[[int], None] | None = None, batch: int = 20_000
) -> int:
    """Rescore every lead under the active playbook (after a playbook change).

    When the engagement rules differ from the previous version's only in points, each
    lead's engagement state is carried over without reading its events; otherwise
    every lead's events are replayed. Fit is recomputed only if the fit section changed.
    """
    proc = engine.processor()
    now = engine.clock()
    with engine.db.read() as conn:
        since = history.activated_at(engine, Repository(engine.db, conn), proc)
    carry: dict[int, dict[int, tuple[int, float]] | None] = {}
    same_fit: dict[int, bool] = {}
    n = 0
    last_id = 0
    while True:
        with gc_paused, engine._write() as txn:
            repo = txn.repo
            page = repo.leads_after(last_id, batch, lock=True)
            if not page:
                return n
            last_id = page[-1].state.id  # type: ignore[assignment]
            for s in page:
                v = s.state.playbook_version
                if v is not None and v not in carry:
                    try:
                        old = engine.processor(v) if v != proc.version else proc
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
                elif v is None or lead.engagement_state.last_at > since or lead.settled_at > since:
                    ts = history.rederive(
                        engine, repo, proc, s, now, "a playbook version took over"
                    )
                else:
                    # The new version takes over at its activation, as a derivation
                    # of the lead's history would have it.
                    mapping = carry.get(v)
                    state = (
                        proc.rules.carried(lead.engagement_state, mapping)
                        if mapping is not None
                        else proc.rules.replay(events.get(lead.id, ()))  # type: ignore[arg-type]
                    )
                    ts = proc.take_over(
                        lead,
                        history.loadable(engine, v) or proc,
                        state,
                        since,
                        # Stored with the lead: when the old rules' next timer is due.
                        lead.next_due_at,
                        same_fit[v],
                    )
                    ts += proc.advance(lead, now, rescore=False)
                proc.rescore(lead, now)
                items.append((s, ts, False))
            engine._commit(txn, proc, items, now, attributes=False)
            # A whole-store walk would push the recently active leads out of the
            # cache; what it read is freed here, before the collector runs again.
            txn.evict.extend(s.state.email for s in page)
            txn.keep.clear()
            done = len(page)
            del items, events, page
        n += done
        if progress:
            progress(done)


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
