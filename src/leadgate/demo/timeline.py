"""One time-ordered story of a demo data set: lead creations, events and people's moves.

Live, a lead is created, then acts, then a rep reacts to what the engine made of it,
then the lead acts again. `timeline` merges the three lists of `DemoData` into that one
order, so a loader can play them with its clock moving forward only.

Order: by time (each list is in time order, so this is a merge, not a sort); at the
same second a creation comes before an event, and an event before a move, because a
move reacts to what it sees (the generator dates a rep's move minutes after the event
behind it, never at the same second, but a tie must not put a reaction first). Times
are ISO 8601 UTC strings of one fixed format ("2026-01-05T10:12:00Z"), which sort
as the moments they name.

Example: a lead created at 09:00, its demo request at 09:05 and the BDR accepting it at
09:12 come out as (CREATE, 09:00), (EVENT, 09:05), (MOVE, 09:12), whatever other leads
do in between.

The script's walk starts from its own guess of when a lead is ready (`rule:mql`, at
the 6th event or a hand-raise); live, reps react to the MQL the playbook makes.
`anchor` moves each lead's walk to start from the playbook's MQL instead, keeping the
script's delays: accepted 2 h after the script's MQL becomes accepted 2 h after the
playbook's; a walk whose lead the playbook never makes an MQL is dropped.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from leadgate.demo.base import Row
from leadgate.demo.generator import DemoData

CREATE, EVENT, MOVE = 0, 1, 2


class Moment(NamedTuple):
    """One item of the timeline: when (ISO 8601 UTC), what kind, its row, its rank."""

    at: str
    kind: int
    seq: int  # position in its own list: keeps each list's order at equal times
    row: Row


def timeline(data: DemoData) -> Iterator[Moment]:
    """The leads (by created_at), events (by occurred_at) and moves (by at), merged.

    Each list must be in its time order, as `generate` and `anchor` give them.
    """
    # Each list is in time order already (DemoData's contract; `anchor` keeps it).
    leads = (Moment(r["created_at"], CREATE, i, r) for i, r in enumerate(data.leads))
    events = (Moment(r["occurred_at"], EVENT, i, r) for i, r in enumerate(data.events))
    moves = (Moment(r["at"], MOVE, i, r) for i, r in enumerate(data.actions))
    # Moments compare as tuples; rows (dicts) never are: (at, kind, seq) is unique.
    return heapq.merge(leads, events, moves)


def anchor(actions: list[Row], mql_at: Mapping[str, float], end: float) -> list[Row]:
    """The script's walks, each shifted to start at its lead's first MQL by the playbook
    (`mql_at`, epoch seconds), sorted by `at`; moves past `end` (still to come when the
    window closes) and walks of leads the playbook never made an MQL are left out.

    A walk's first step is its `mql` (actor `rule:mql`); every later step keeps its delay
    after it, and an opportunity's expected close date moves with the walk.
    """
    start: dict[str, float] = {}
    for a in actions:
        if a["to"] == "mql" and a["email"] not in start:
            start[a["email"]] = _epoch(a["at"])
    out: list[tuple[str, int, Row]] = []
    for i, a in enumerate(actions):
        email = a["email"]
        if email not in mql_at or email not in start:
            continue
        shift = mql_at[email] - start[email]
        at = _epoch(a["at"]) + shift
        if at > end:
            continue
        moved = {**a, "at": _iso(at)}
        opp = a.get("opportunity")
        if opp:
            close = date.fromisoformat(opp["close_date"])
            close += timedelta(seconds=shift)
            moved["opportunity"] = {**opp, "close_date": close.isoformat()}
        out.append((moved["at"], i, moved))
    out.sort(key=lambda x: (x[0], x[1]))
    return [row for _, _, row in out]


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
