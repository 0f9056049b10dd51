"""A lead's history derived again from its facts: late events, late moves, versions.

The lifecycle is a function of a lead's events, people's moves and the playbook versions
in force (`leadgate.leads.derivation`). An event in time order is scored on top of the
lead (`LeadProcessor.apply_events`); one that is late (older than what the lead has
seen, at or before a person's move, or from before the active version while an older
one was in force) makes the engine derive the lead's whole history again here, and
append what changed: correction rows voiding the stored rows the derivation no longer
makes (`transitions.voids`), then the derived rows. Example: a webinar dated before the
trial that made an MQL arrives; the MQL moves to the trial's moment, the old row is
voided by a correction, the new one appended, and webhooks say `lead.stage_corrected`.

Events late only for the moves time made after them (history posted at today's clock:
each batch fires the lead's timers at "now", ahead of the next batch) skip the reading
and the replay: `rewound` undoes those moves and scores the events in order, with the
very corrections a derivation would append.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from leadgate.ingest.validate import InputError, check_email
from leadgate.leads.derivation import (
    TIME_ORDER,
    Era,
    Move,
    corrections,
    derive,
    is_automatic,
    rewind_timers,
)
from leadgate.leads.processor import LateEvents, LeadProcessor
from leadgate.lifecycle.stages import STAGES, Transition
from leadgate.playbook.errors import PlaybookError
from leadgate.scoring.engagement import EventLike
from leadgate.store.repository import Repository, StoredLead

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine


def refresh_if_stale(
    engine: Engine, repo: Repository, proc: LeadProcessor, s: StoredLead, now: float
) -> list[Transition]:
    """A lead scored under an older playbook version: the active one takes over at its
    activation, as `rescore_all` does (the rescore has not reached this lead yet)."""
    lead = s.state
    if lead.id is None or lead.playbook_version in (None, proc.version):
        return []  # None: created in this transaction, nothing to replay
    since = activated_at(engine, repo, proc)
    old = loadable(engine, lead.playbook_version) or proc
    if lead.engagement_state.last_at > since or lead.settled_at > since or old is proc:
        return rederive(engine, repo, proc, s, now, "a playbook version took over")
    events = [e for e in repo.events_of(lead.id) if e.at <= since]
    same_fit = old.playbook.fit == proc.playbook.fit
    out = proc.take_over(lead, old, proc.rules.replay(events), since, lead.next_due_at, same_fit)
    out += proc.advance(lead, now, rescore=False)
    proc.rescore(lead, now)
    return out


def activated_at(engine: Engine, repo: Repository, proc: LeadProcessor) -> float:
    """When a version became active (asked for every lead of a batch: cached, as a
    version's activation time never changes)."""
    if proc.version is None:
        return -math.inf
    since = engine._activated.get(proc.version)
    if since is None:
        row = repo.execute(
            "SELECT activated_at FROM playbooks WHERE version = ?", [proc.version]
        ).fetchone()
        if row is None:
            return -math.inf
        since = engine._activated[proc.version] = float(row[0])
    return since


def eras_in_force(engine: Engine, repo: Repository, proc: LeadProcessor) -> list[Era]:
    """The versions in force over time, up to the active one."""
    eras = []
    for v, at in repo.eras():
        if proc.version is not None and v > proc.version:
            continue
        # A version stored before today's checks (`points: .nan`) cannot run: the
        # one before it stays in force over its time.
        era_proc = proc if v == proc.version else loadable(engine, v)
        if era_proc is not None:
            eras.append(Era(at, era_proc))
    return eras or [Era(-math.inf, proc)]


def loadable(engine: Engine, version: int) -> LeadProcessor | None:
    """A stored version's processor, or None when it no longer loads."""
    try:
        return engine.processor(version)
    except PlaybookError:
        return None


def rederive(
    engine: Engine,
    repo: Repository,
    proc: LeadProcessor,
    s: StoredLead,
    now: float,
    why: str,
    extra: Sequence[Move] = (),
    stored: Sequence[tuple[Any, ...]] | None = None,
) -> list[Transition]:
    """Derive the lead's history again from its facts (and `extra` people's moves not
    stored yet) and return the rows to append; stored rows the derivation no longer
    makes are voided by correction rows. The rows replace any the caller holds unstored
    (a version's catch-up, `refresh_if_stale`): the derivation rebuilds the lead and
    makes those moves too, so appending both would store them twice. `stored`: the
    lead's history rows when the caller has read them in this transaction already."""
    lead = s.state
    assert lead.id is not None
    if stored is None:
        stored = repo.history_rows(lead.id)
    moves = [Move(r[2], r[3], r[4], r[5]) for r in stored if not is_automatic(r[4])]
    moves += extra
    derived = derive(lead, repo.events_of(lead.id), moves, eras_in_force(engine, repo, proc), now)
    return _corrected(repo, s, stored, derived, now, why)


def rewound(
    repo: Repository,
    proc: LeadProcessor,
    s: StoredLead,
    events: Sequence[EventLike],
    now: float,
    why: str,
    stored: Sequence[tuple[Any, ...]],
) -> list[Transition] | None:
    """Events late only for the moves time made after them (a batch of history posted at
    today's clock fired the lead's timers at "now"): those moves are undone and the events
    scored in order (`rewind_timers`), and the rows to append returned as `rederive`
    returns them, with the same corrections. None when the lead must be derived again
    (the lead may have been changed: `derive` rebuilds all of it from the facts; the
    stored rows, `repo.history_rows` read by the caller, are unchanged and serve it)."""
    lead = s.state
    assert lead.id is not None
    first = min(events, key=TIME_ORDER)
    back = rewind_timers(lead, [r[1:6] for r in stored], first, proc.cooldown)
    if back is None:
        return None
    kept, must_move = back
    try:
        made = proc.apply_events(lead, events, now)
    except LateEvents:
        return None
    if must_move and not made:
        return None
    derived = [Transition(r[1], r[2], r[3], r[4], r[5]) for r in stored[:kept]] + made
    return _corrected(repo, s, stored, derived, now, why)


def _corrected(
    repo: Repository,
    s: StoredLead,
    stored: Sequence[tuple[Any, ...]],
    derived: Sequence[Transition],
    now: float,
    why: str,
) -> list[Transition]:
    """The derived rows to append after the stored ones that still hold; the others are
    voided by correction rows (and kept in `s.voided` for the listeners)."""
    lead = s.state
    assert lead.id is not None
    keep = corrections([r[1:5] for r in stored], derived)
    gone = stored[keep:]
    tail = list(derived[keep:])
    if gone:
        repo.void_transitions(lead.id, gone, now, f"re-derived: {why}", lead.playbook_version)
        # Added to: a version's catch-up may have voided rows in this transaction too.
        s.voided += [Transition(r[1], r[2], r[3], r[4], r[5]) for r in gone]
        tail = [
            t
            if not is_automatic(t.actor)
            else Transition(
                t.from_stage, t.to_stage, t.at, t.actor, f"{t.reason} (re-derived: {why})"
            )
            for t in tail
        ]
    return tail


def record_moves(engine: Engine, email: str, moves: Sequence[Move]) -> list[Transition]:
    """People's moves made elsewhere (another CRM, a back-filled history), as facts.

    They are not checked against the stage graph - they happened - and the lead's
    history is derived again around them: the rules' moves follow from the events
    and these moves together, exactly as if each had been made live at its time.
    Returns the rows appended to the history.
    """
    email = check_email(email)
    now = engine.clock()
    for m in moves:
        if m.to not in STAGES:
            raise InputError("to", f"unknown stage '{m.to}'")
        if is_automatic(m.actor):
            raise InputError("actor", "a person's move cannot be made by 'rule:…'")
        if m.at > now:
            raise InputError("at", "a move cannot be dated in the future")
    with engine._write() as txn:
        repo, proc, s = engine._one_lead(txn, email)
        # No separate catch-up for a lead under an older version: the derivation takes
        # the versions in force (its rows would be appended twice, see `rederive`).
        tail = rederive(engine, repo, proc, s, now, "a person's move recorded late", moves)
        engine._commit(txn, proc, [(s, tail, False)], now, attributes=False)
    return tail
