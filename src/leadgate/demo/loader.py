"""Play a demo data set into a store as it would have happened live.

The generator's leads, events and the sales team's moves are merged into one timeline
(`demo/timeline.py`) and played in that order through the engine and the sales
workflow, the real code paths. The engine's clock is set to each moment and only moves
forward: before a rep's move, that lead's events (and the lead, if not stored yet) are
stored with the clock at the move, then the move is made at its own time; the other
leads' events land in batches of 20,000 (the clock at the last one, due timers fired
there), later than they happened but in their order. So each lead's stage history is
in time order, and a rep only ever acts on what the engine had made of the lead by then.

The MQL itself is the playbook's, and reps react to it. The script guesses when each
lead is ready (its `rule:mql` step); here each walk starts instead from the moment the
active playbook first makes that lead an MQL (found by replaying the lead's events
through the same core, in memory), with the script's delays kept (`timeline.anchor`):
accepted two hours after the playbook's MQL, not the script's. A lead the script did
not pick gets the team's reaction drawn for it (`DemoData.reactions`); scripted walks of
leads the playbook never makes an MQL are not played. A rep's move that the lead's
stage at its moment does not allow (the lead left MQL by decay first) is skipped and
counted.

Example: `load_demo(engine, n_leads=500, n_events=10_000, seed=1)` returns
`{"leads": 500, "events": 10000, "sales_actions": …, "sales_actions_skipped": …,
"sales_walks_without_mql": …, "generate_seconds": …, "load_seconds": …}`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from leadgate.demo.generator import DemoData, generate
from leadgate.demo.timeline import CREATE, EVENT, Moment, anchor, timeline
from leadgate.engine.engine import Engine, iter_chunks
from leadgate.ingest.validate import EventIn, parse_event, parse_time
from leadgate.leads import LeadProcessor, LeadState
from leadgate.lifecycle.stages import IllegalTransition
from leadgate.sales import Sales
from leadgate.sales import install as install_sales
from leadgate.store.repository import Repository

# Bounds on one transaction when no move comes for a long stretch of the timeline.
_MAX_PENDING_EVENTS = 20_000
_LEAD_CHUNK = 5000


def load_demo(
    engine: Engine, n_leads: int, n_events: int, seed: int, days: int = 180
) -> dict[str, Any]:
    """Generate the seeded demo data and play it through the engine, in time order."""
    now = engine.clock()
    t0 = time.perf_counter()
    # The window ends now, so decay and SLAs look as they would in a live store.
    start = datetime.fromtimestamp(now, UTC) - timedelta(days=days, minutes=10)
    data = generate(n_leads=n_leads, n_events=n_events, seed=seed, start=start, days=days)
    gen_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    # The team first, so the MQLs the events make are routed to BDRs as they arrive.
    sales = install_sales(engine)
    have = {r["name"] for r in sales.reps()}
    for rep in data.reps:
        if rep["name"] not in have:
            sales.add_rep(**rep)
    events = [parse_event(e, now) for e in data.events]
    # Reps react to the playbook's MQLs: each scripted walk starts from its lead's MQL.
    walks = {a["email"] for a in data.actions}
    # Every lead the playbook makes an MQL is worked: by its scripted walk, or else by
    # the team's reaction to it.
    mql_at = _first_mqls(engine.processor(), data, events, now)
    data.actions = anchor(data.actions + data.reactions, mql_at, now)
    anchored = {a["email"] for a in data.actions}
    player = _Player(engine, sales, now)
    real_clock = engine.clock
    try:
        for moment in timeline(data):
            player.play(moment, events)
        player.flush(now)
    finally:
        engine.clock = real_clock
    return {
        "leads": len(data.leads),
        "events": len(data.events),
        "sales_actions": player.moved,
        "sales_actions_skipped": player.skipped,
        # Scripted walks of leads the playbook never made an MQL: nobody works them.
        "sales_walks_without_mql": len(walks - anchored),
        "generate_seconds": round(gen_s, 2),
        "load_seconds": round(time.perf_counter() - t1, 2),
    }


class _Player:
    """Plays moments in order. Creations and events wait, per lead, until a move on that
    lead needs the store up to date (then that lead's events land, with the clock at the
    move), or until a batch is full (then everything pending lands and due timers fire).
    Per lead, the store sees its events and the moves on it in the order they happened;
    other leads' events arrive later than they happened, in order, as an import would."""

    def __init__(self, engine: Engine, sales: Sales, now: float):
        self.engine = engine
        self.sales = sales
        self.now = now  # the real clock: the validation's "not in the future" bound
        self.clock = float("-inf")  # the engine's clock during the play, never going back
        self.leads: list[tuple[str, dict[str, Any], float | None]] = []
        self.waiting: set[str] = set()  # the emails of `leads`
        self.events: dict[str, list[EventIn]] = {}
        self.pending = 0
        self.walk: dict[str, str] = {}
        self.moved = self.skipped = 0

    def play(self, m: Moment, events: list[EventIn]) -> None:
        """One moment; `events` are the data set's events validated (by index)."""
        if m.kind == CREATE:
            row = _lead_row(m.row, self.now)
            self.leads.append(row)
            self.waiting.add(row[0])
        elif m.kind == EVENT:
            ev = events[m.seq]
            self.events.setdefault(ev.email, []).append(ev)
            self.pending += 1
            if self.pending >= _MAX_PENDING_EVENTS:
                self.flush(ev.at)
        else:
            email = m.row["email"]
            # The stage the script's walk has the lead in before this move.
            expected = self.walk.get(email, "lead")
            self.walk[email] = m.row["to"]
            if m.row["actor"].startswith("rule:"):
                # The playbook made this MQL (the walk starts there); nobody moves it.
                return
            at = self._set_clock(parse_time(m.at, "at", self.now))
            if email in self.waiting:
                self._create()  # with it, every lead created so far: one transaction
            mine = self.events.pop(email, None)
            if mine:
                self.pending -= len(mine)
                self.engine.ingest(mine, at)
            if _play(self.sales, self.engine, m.row, expected):
                self.moved += 1
            else:
                self.skipped += 1

    def flush(self, at: float) -> None:
        """Store everything that happened up to `at`, with the clock at `at`; fire due timers."""
        at = self._set_clock(at)
        self._create()
        if self.events:
            self.engine.ingest([ev for evs in self.events.values() for ev in evs], at)
            self.events = {}
            self.pending = 0
        # What the scheduler does live: decay exits and cooldown ends fire on time. Only
        # here, where no lead has an event still waiting to be stored.
        self.engine.tick(at)

    def _set_clock(self, at: float) -> float:
        at = max(at, self.clock)
        self.clock = at
        self.engine.clock = lambda: at
        return at

    def _create(self) -> None:
        """Store the leads created so far (before their events and any move on them)."""
        for chunk in iter_chunks(self.leads, _LEAD_CHUNK):
            self.engine.upsert_leads(chunk, actor="demo")
        self.leads = []
        self.waiting = set()


def _first_mqls(
    proc: LeadProcessor, data: DemoData, events: list[EventIn], now: float
) -> dict[str, float]:
    """When the playbook first makes each lead an MQL: the lead's history replayed in
    memory through the same core the engine runs (no store, no clock)."""
    mine: dict[str, list[EventIn]] = {}
    for ev in events:
        mine.setdefault(ev.email, []).append(ev)
    out: dict[str, float] = {}
    for row in data.leads:
        email, attrs, created = _lead_row(row, now)
        lead = LeadState(email, {}, created if created is not None else now)
        moves = proc.update_attributes(lead, attrs, lead.created_at)
        moves += proc.apply_events(lead, mine.get(email, []), now, rescore=False)
        first = next((t.at for t in moves if t.to_stage == "mql"), None)
        if first is not None:
            out[email] = first
    return out


def _lead_row(lead: dict[str, Any], now: float) -> tuple[str, dict[str, Any], float | None]:
    attrs = {
        k: v for k, v in lead.items() if k not in ("email", "created_at") and v not in (None, "")
    }
    created = parse_time(lead["created_at"], "created_at", now) if lead.get("created_at") else None
    return lead["email"].strip().lower(), attrs, created


def _play(sales: Sales, engine: Engine, action: dict[str, Any], expected: str) -> bool:
    """One scripted move, done the way a rep does it: BANT answers before SQL, the
    opportunity (which makes the SQO) through the sales API. False when the lead is not in
    the stage the script's walk has it in (`expected`): a rep works the MQLs the playbook
    made, not the script's, and reacts to where the lead really is."""
    email, actor = action["email"], action["actor"]
    role, _, _ = actor.partition(":")
    with engine.db.read() as conn:
        row = (
            Repository(engine.db, conn)
            .execute("SELECT owner, stage FROM leads WHERE email = ?", [email])
            .fetchone()
        )
    if row is None:
        return False
    owner, stage = row
    if stage != expected:
        return False
    if role in ("bdr", "ae") and owner:
        # The script picks its reps blind; the move is made by whoever routing gave the
        # lead to, so the history and `owner` tell one story.
        actor = f"{role}:{owner}"
    try:
        answers = action.get("qualification")
        if answers and stage == "sal":
            sales.qualify(email, answers, actor=actor)
        opp = action.get("opportunity")
        if action["to"] == "sqo" and opp:
            sales.opportunity(
                email, opp["amount"], opp["currency"], opp["close_date"], actor, backfill=True
            )
        else:
            engine.set_stage(email, action["to"], action.get("reason"), actor)
    except IllegalTransition:
        # A move the playbook does not allow from that stage (a reason it does not list).
        return False
    return True
