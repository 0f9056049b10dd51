"""A lead's stage history as a pure function of its facts.

The facts are the lead's events, the moves people made (accept, reject, disqualify,
hand off, any `stage set`), the playbook versions in force and the moment "now".
Everything automatic - MQL by rule or hand-raiser, the decay exit, re-MQL after the
cooldown - follows from them, so the same facts give the same history whatever order
they arrived in.

`derive` plays the facts in time order through the same `LeadProcessor` methods the
live path uses (events one by one, `advance` for time, `record_move` for people), so
an in-order live run and a derivation cannot differ. At one instant, events count
before a version taking over, and both before a person's move. A person's move to the
stage the lead is already in is absorbed: kept as a fact (a row `from == to` that no
reader shows, see `is_absorbed`), changing nothing.

Example: webinar (+20) 91 days ago and a trial (+25) yesterday, half-life 30 days,
MQL at 40: derived, the lead stays a `lead` (the webinar was worth 2.5 by then). An
`email_open` dated 90 days ago that arrives today changes nothing: it is placed at
its moment and the whole history is derived again - still `lead`, where scoring the
late event "on top" once made a phantom MQL dated 90 days ago.

`corrections` compares a derived history with the stored one: the stored part that
still holds is kept, the rest is voided and the derived rest appended (see
`docs/playbook.md`, "Late events").

`rewind_timers` is the derivation's shortcut for events late only with respect to what
time did: history posted at today's clock (a backfill) fires each batch's timers at
"now", ahead of the next batch's events. Up to the new events' moment everything else is
as derived; only the moves time made after it (the decay exit, a cooldown's end) are
undone, and the events then go the in-order way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

from leadgate.leads.record import LeadState
from leadgate.lifecycle.stages import Transition
from leadgate.scoring.engagement import EngagementState, EventLike

if TYPE_CHECKING:
    from leadgate.leads.processor import LeadProcessor

# (occurred_at, id): the order events count in, everywhere.
TIME_ORDER = attrgetter("at", "id")
# At one instant: events, then a version taking over, then people's moves.
_EVENT, _ERA, _MOVE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Move:
    """A person's move: a fact, replayed as it was made, never re-decided."""

    to: str
    at: float
    actor: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Era:
    """A playbook version in force from `since` (its activation) on."""

    since: float
    proc: LeadProcessor


def is_absorbed(t: Transition) -> bool:
    """A person's move the derivation absorbed (from == to): a stored fact, not a move
    anyone sees (history, reports, webhooks and listeners leave it out)."""
    return t.from_stage == t.to_stage


def is_automatic(actor: str) -> bool:
    """Moves the rules make (re-derived) as opposed to people's (facts)."""
    return actor.startswith("rule:")


def derive(
    lead: LeadState,
    events: Iterable[EventLike],
    moves: Sequence[Move],
    eras: Sequence[Era],
    now: float,
    rescore: bool = True,
) -> list[Transition]:
    """Rebuild `lead` (stage, engagement, timers) from its facts; return its whole history.

    `eras` are the playbook versions that were active, oldest first; the first one is
    taken to have been in force before its activation too (there was no other).
    Keeps the lead's identity, attributes and creation time; everything else is derived.
    """
    evs = sorted(events, key=TIME_ORDER)
    mv = sorted(moves, key=attrgetter("at"))
    start = lead.created_at
    if evs:
        start = min(start, evs[0].at)
    if mv:
        start = min(start, mv[0].at)
    lead.stage, lead.stage_at, lead.stage_reason = "lead", start, None
    lead.exit_armed = False
    lead.timer_spent_at = None
    lead.settled_at = -math.inf
    lead.engagement_state = EngagementState()
    lead.fit_cache = lead.fields_cache = lead.fit_lines_cache = None
    lead.mql_gate_cache = None

    first = 0
    while first + 1 < len(eras) and eras[first + 1].since <= start:
        first += 1
    proc = eras[first].proc
    lead.playbook_version = proc.version
    later = [era for era in eras[first + 1 :] if era.since <= now]
    out: list[Transition] = []
    if not mv and not later:
        # Events alone (a replay, most re-derivations): what the loop below does with
        # them, all in one chunk, without building and sorting the points.
        if evs:
            out += proc.apply_events(lead, evs, evs[-1].at, rescore=False)
        out += proc.advance(lead, now, rescore=False)
        if rescore:
            proc.rescore(lead, max(now, lead.engagement_state.last_at))
        return out
    points: list[tuple[float, int, int, object]] = [(e.at, _EVENT, i, e) for i, e in enumerate(evs)]
    points += [(m.at, _MOVE, i, m) for i, m in enumerate(mv)]
    points += [(era.since, _ERA, i, era) for i, era in enumerate(later)]
    points.sort(key=lambda p: (p[0], p[1], p[2]))

    seen: list[EventLike] = []
    chunk: list[EventLike] = []

    def flush() -> None:
        if chunk:
            out.extend(proc.apply_events(lead, chunk, chunk[-1].at, rescore=False))
            seen.extend(chunk)
            chunk.clear()

    for at, kind, _, item in points:
        if kind == _EVENT:
            chunk.append(item)  # type: ignore[arg-type]
            continue
        flush()
        if kind == _ERA:
            era: Era = item  # type: ignore[assignment]
            out += era.proc.take_over(
                lead,
                proc,
                era.proc.rules.replay(seen),
                at,
                same_fit=era.proc.playbook.fit == proc.playbook.fit,
            )
            proc = era.proc
        else:
            move: Move = item  # type: ignore[assignment]
            out += proc.advance(lead, at, rescore=False)
            if move.to == lead.stage:
                # Absorbed: the lead is already there (a rep's `mql` in the second a
                # hand-raiser made the MQL, events counting first; live, the move would
                # have been refused). It changes nothing and no reader shows it, but it
                # stays a fact: an earlier move recorded later can make it a real move
                # again (`mql` after a `nurture` that came in late).
                lead.settled_at = max(lead.settled_at, move.at)
                out.append(Transition(move.to, move.to, move.at, move.actor, move.reason))
            else:
                out.append(proc.record_move(lead, move))
    flush()
    out += proc.advance(lead, now, rescore=False)
    if rescore:
        proc.rescore(lead, max(now, lead.engagement_state.last_at))
    return out


def rewind_timers(
    lead: LeadState,
    rows: Sequence[tuple[str, str, float, str, str | None]],
    first: EventLike,
    cooldown: float,
) -> tuple[int, bool] | None:
    """Put `lead` back as `derive` has it at `first` (the earliest new event) when the
    events are late only for the moves time made after it: they come after every event
    and every person's move of the lead. Returns (how many of `rows` still hold, whether
    a move must follow); None, with the lead untouched, when they are late for another
    reason or the rows do not show it. `rows`: the stored history and absorbed moves as
    (from, to, at, actor, reason), in (at, id) order.

    Put back: the stage and its moment, from the last move before `first`; no spent
    timer (a cooldown ending after `first` had not fired); an MQL's exit armed (it
    fired). Not known: the stage's reason (the stored row keeps the words of when it was
    made; a re-derivation since, after an attribute change, may have kept the row with
    other words), nor a nurtured lead's leftover exit flag, nor a spent exit timer (one
    `exit_due` gave where the check failed, before the lead's last event). So when moves
    are undone, a move must follow, and it sets them all anew; else the caller derives.

    Example: an MQL by a hand-raiser decayed out at 10:00 (the batch's "now" fired the
    exit) and an event of 09:00 arrives: the lead is an MQL again from the hand-raiser's
    moment, and the event is scored on top of it."""
    st = lead.engagement_state
    at = first.at
    if not (
        at > lead.settled_at and (at > st.last_at or (at == st.last_at and first.id > st.last_id))
    ):
        return None  # late among the events or people's moves: derive
    kept = len(rows)
    while kept and rows[kept - 1][2] > at:
        kept -= 1
    undone = rows[kept:]
    if not undone:
        # Only a cooldown that ended after `first` without re-qualifying (spent).
        spent = lead.timer_spent_at
        if lead.stage != "nurture" or spent is None or spent <= at or lead.stage_at > at:
            return None
        lead.timer_spent_at = None
        return kept, False
    # The stage's last move before `first` (absorbed moves changed nothing).
    before = next((r for r in reversed(rows[:kept]) if r[0] != r[1]), None)
    if before is None or lead.stage != undone[-1][1]:
        return None
    since, stage = before[2], before[1]
    for f, t, t_at, actor, reason in undone:
        if f != stage or not _timed(f, t, actor, reason, t_at == since + cooldown):
            return None
        since, stage = t_at, t
    if lead.stage_at != since:
        return None
    stage = undone[0][0]
    lead.stage, lead.stage_at, lead.stage_reason = stage, before[2], before[4]
    if stage == "mql":
        lead.exit_armed = True
    lead.timer_spent_at = None
    return kept, True


def _timed(f: str, t: str, actor: str, reason: str | None, cooldown_end: bool) -> bool:
    """Whether a stored row is a move time made: the exit as decay makes it, or re-MQL
    at the moment a cooldown ends."""
    if f == "mql" and t == "nurture" and actor == "rule:mql_exit":
        return (reason or "").startswith("engagement decayed ")
    return f == "nurture" and t == "mql" and actor == "rule:recycle" and cooldown_end


def corrections(
    stored: Sequence[tuple[str, str, float, str]], derived: Sequence[Transition]
) -> int:
    """How many stored rows still hold: the length of the common start of the stored
    history (from, to, at, actor) and the derived one. The rows after it are voided
    and the derived ones after it appended."""
    n = 0
    for (f, t, at, actor), d in zip(stored, derived, strict=False):
        if (f, t, at, actor) != (d.from_stage, d.to_stage, d.at, d.actor):
            break
        n += 1
    return n
