"""The set-based backtest's walk: one lead under one playbook, fed only its candidate rows.

`walk(proc, lead, rows, moves, until)` gives the lead's MQL moments as
`backtest.replay_lead` would find them from all its events, with `proc` a
`snapshot_processor` (its engagement comes from the states `setmoments` computed) and
`rows` the lead's `setmoments.LeadRows`. Every stage decision is `LeadProcessor`'s own;
what the walk chooses is only which rows it sees (see `walk`). `FitCache` shares fit
lines between leads with the same values of the fields the fit rules read.

Example:
    >>> from leadgate.playbook.loader import bundled_playbook
    >>> p = snapshot_processor(bundled_playbook()[1], "p")
    >>> isinstance(p.rules, SnapshotRules)
    True
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from leadgate.analytics.setmoments import LeadRows
from leadgate.leads import LeadProcessor, LeadState
from leadgate.leads.processor import AUTOMATIC_STAGES
from leadgate.lifecycle.stages import IllegalTransition
from leadgate.playbook.loader import load_playbook
from leadgate.scoring.engagement import EngagementRules, EngagementState, Event, Tally

Move = tuple[float, str, str, str | None]


class SnapshotRules(EngagementRules):
    """The playbook's engagement rules, except that `apply` loads the state SQL computed
    for the event (its `properties`: rule position -> `Tally`) instead of scoring it.
    Totals, bounds and crossings are the inherited ones."""

    def __init__(self, section: Any) -> None:
        super().__init__(section)
        self.points = [float(r.points) for r in self.rules]  # `_tallies` reads them

    def apply(self, state: EngagementState, ev: Any) -> bool:
        state.last_at, state.last_id = ev.at, ev.id
        state.rules = dict(ev.properties)
        state.memo = state.floor = state.ceiling = None
        return True


class NeedsExact(Exception):
    """This lead's path leaves what the flagged rows cover: replay it exactly."""


def snapshot_processor(text: str, name: str) -> LeadProcessor:
    """A processor whose engagement comes from SQL's per-event states."""
    pb = load_playbook(text, name)
    proc = LeadProcessor(pb)
    proc.rules = SnapshotRules(pb.engagement)
    return proc


def _tallies(lv: LeadRows, g: int, rules: EngagementRules) -> dict[int, Tally]:
    """Each rule's state after row g, as a `Tally` anchored at its moment."""
    m = lv.m
    ns = m.counts[g].tolist()
    if not any(ns):
        return {}
    t = float(m.t[g])
    k = 1.0 if m.hl is None else 2.0 ** (-(t - float(m.t[lv.a])) / m.hl)
    pts: list[float] = rules.points  # type: ignore[attr-defined]  # a SnapshotRules
    cs = m.c[g].tolist()
    out = {i: Tally(n, pts[i] * cs[i] * k, t) for i, n in enumerate(ns) if n}
    # A clean lead's values are all finite (`setmoments._bounds` checked the products).
    if not lv.clean and (
        not math.isfinite(k) or not all(math.isfinite(x.value) for x in out.values())
    ):
        raise NeedsExact  # decay over too many half-lives for one sum
    return out


def walk(
    proc: LeadProcessor,
    lead: LeadState,
    lv: LeadRows | None,
    moves: list[Move],
    until: float,
    stop_early: bool = True,
) -> list[float]:
    """The lead's MQL moments under `proc`, from its candidate rows and people's moves (as
    `backtest.replay_lead` would find them from all its events). Raises NeedsExact.

    Which rows the processor is fed, by the lead's stage: in `lead`, its first event
    when it predates the lead's creation, hand-raisers and new highs where the MQL rule
    may hold (any row where it may hold once the lead has left `lead` and come back); in
    `mql`, the rows near or below the exit line; in nurture, hand-raisers, and after the
    cooldown the rows where the rule may hold. The cooldown's end is fired with the
    state of the last event before it, as `apply_events` fires it before the first event
    at or after it.

    Once people's moves are all made, the walk stops where no MQL can follow
    (`settled`; `stop_early=False` walks to the end, for the tests): the MQL moments
    are the same, the stages the lead would still pass through after them are not
    looked at (about two thirds of the walks' CPU at 20k leads went on the exits after
    an MQL, which no backtest figure reads)."""
    st = lead.engagement_state
    out: list[float] = []
    a = lv.a if lv is not None else 0
    cands = lv.cands if lv is not None else []
    may_list: list[int] | None = None
    loaded = a - 1  # the row whose state `st` holds (a - 1: none yet)
    want = a - 1  # the row whose state `st` should hold (loaded on first use)
    last = a - 1  # the last row considered
    k = km = 0
    left_lead = False
    gate = proc.mql_tri is not None and proc.mql_tri(proc.fields(lead), proc.fit(lead), math.inf)
    rule_counts = gate is not False and proc.mql_tri is not None

    def load(g: int) -> None:
        nonlocal loaded, want
        if g < a or lv is None:
            st.rules, st.last_at, st.last_id = {}, -math.inf, ""
        else:
            eid, _, t = lv.event(g)
            st.rules, st.last_at, st.last_id = _tallies(lv, g, proc.rules), t, eid
        st.memo = st.floor = st.ceiling = None
        loaded = want = g

    def sync() -> None:
        if loaded != want:
            load(want)

    def note(ts: list[Any]) -> None:
        nonlocal left_lead
        out.extend(t.at for t in ts if t.to_stage == "mql")
        if lead.stage != "lead":
            left_lead = True

    def timer(limit: float) -> None:
        """Nurture's cooldown end, when due at or before `limit`."""
        while lead.stage == "nurture":
            due = proc.next_due(lead)
            if due is None or due > limit:
                return
            if lv is not None:
                load(lv.last_before(due))
            stage = lead.stage
            note(proc.advance(lead, due, rescore=False))
            if lead.stage == stage:
                return

    def settled() -> bool:
        """With the lead in `mql` and no people's moves left: no MQL can follow.

        An MQL's only automatic move is the exit, at a moment x after every row the walk
        has passed (`last`): the state it is found with is row `last` or a later one
        (`load(g - 1)` before a dip row g > last; the last row at the end). After it,
        only these make an MQL again: a hand-raiser row, a row fed after the cooldown or
        the cooldown's end itself, both reading the state of a row at or after `last`
        (`timer` reads the last row before x + cooldown; with no cooldown, `advance`
        fires it at x with the exit's state). No row after `last` is a hand-raiser or
        hot (`LeadRows.tail`: from a row that is not, the rule holds at no later
        moment). Row `last` is read at x + cooldown or later, more than a cooldown after
        its own moment, so its positive rules have decayed by 2^-cooldown/h at least
        (`LeadRows.bound_at`): when the MQL rule is false for this lead's fields and fit
        at every engagement up to that bound, nothing after this point is an MQL.
        Without an armed exit line the lead never leaves `mql` by itself. A lead with a
        row that is not clean is walked to the end (its NeedsExact must be raised as
        before)."""
        if lv is not None and not lv.clean:
            return False
        if not lead.exit_armed or proc.exit_at is None:
            return True
        tri = proc.mql_tri
        if lv is None:
            bound = 0.0  # no events: the empty state, engagement 0
        else:
            if lv.tail > last:
                return False
            hl = lv.m.hl
            bound = lv.bound_at(last, 1.0 if hl is None else 2.0 ** (-proc.cooldown / hl))
        return tri is None or tri(proc.fields(lead), proc.fit(lead), bound) is False

    def feed(until_t: float, final: bool = False) -> bool:
        """Feed the rows up to `until_t`; with `final` (no people's moves left), True
        when the walk stopped early (`settled`)."""
        nonlocal k, km, loaded, want, last, may_list
        n = len(cands)
        while True:
            if final and lead.stage == "mql" and stop_early and settled():
                return True
            row = cands[k] if k < n else None
            stage = lead.stage
            if (
                lv is not None
                and rule_counts
                and (stage == "nurture" or (stage == "lead" and left_lead))
            ):
                # Rows where the rule may hold, between the candidates.
                if may_list is None:
                    may_list = lv.may_rows()
                km = bisect.bisect_right(may_list, last, km)
                if km < len(may_list) and (row is None or may_list[km] < row[0]):
                    g = may_list[km]
                    row = (g, float(lv.m.t[g]), False, False, False, False, True, False)
            if row is None or row[1] > until_t:
                break
            g, t, first, rec, dip, hand, may, bad = row
            if k < n and cands[k][0] == g:
                k += 1
            last = g
            if bad:
                raise NeedsExact  # a sum too large for a double: the exact replay
            if stage == "nurture":
                timer(t)
                stage = lead.stage
            if stage == "lead":
                # The first event matters by itself only when it comes before the
                # lead's creation (`apply_events` then dates the lead from it).
                c = (
                    (first and t < lead.stage_at)
                    or hand
                    or (rule_counts and (may if left_lead else rec))
                )
            elif stage == "mql":
                c = dip and lead.exit_armed and proc.exit_at is not None
            elif stage == "nurture":
                c = hand or (rule_counts and may and t >= lead.stage_at + proc.cooldown)
            else:
                c = False
            if c:
                assert lv is not None
                if loaded != g - 1 and stage != "lead":
                    # The state before the event: read by the timers of `mql` and
                    # `nurture` (`advance` at the event). In `lead`, which has none,
                    # `apply` replaces the state whole (about a third of the loads).
                    load(g - 1)
                eid, etype, _ = lv.event(g)
                ev = Event(eid, etype, t, _tallies(lv, g, proc.rules))  # type: ignore[arg-type]
                note(proc.apply_events(lead, [ev], t, rescore=False))
                loaded = want = g
        timer(until_t)
        if lv is not None:
            want = lv.last_before(until_t, inclusive=True)
        return False

    for at, to, actor, reason in moves:
        feed(at)
        if lead.stage in ("mql", "nurture") or to == "mql":
            # Only a timer (mql, nurture) or a move to MQL (its exit line) reads the
            # engagement here; otherwise the state is loaded when something does.
            sync()
        # What time made up to the move stays when the move itself is refused
        # (`replay_lead` keeps it too): a recycled MQL before a refused move to MQL.
        note(proc.advance(lead, at, rescore=False))
        try:
            moved = proc.set_stage(lead, to, actor, reason, at, rescore=False)
        except IllegalTransition:
            continue
        note([moved])
    if lead.stage not in AUTOMATIC_STAGES:
        return out
    if feed(until, final=True):
        return out
    if stop_early and (lv is None or lv.clean):
        # What is left is the timers up to `until`. In nurture, `feed`'s `timer` has
        # fired them. In `mql`, after every row: `settled` with `last` moved to the last
        # row (its exit comes after that row's moment, with its state).
        if lead.stage == "nurture":
            return out
        if lead.stage == "mql":
            last = want
            if settled():
                return out
    if lead.stage in ("mql", "nurture"):  # only these have timers (`advance`)
        sync()
        note(proc.advance(lead, until, rescore=False))
    return out


_MISSING = object()


class FitCache:
    """Fit lines by the values of the fields the fit rules read: leads with the same
    title, size, country and email domain match the same rules (as the DuckDB query
    evaluates fit once per distinct combination). Leads whose values cannot be a key
    (lists, objects) are computed one by one."""

    def __init__(self) -> None:
        self.by: dict[tuple[int, tuple[Any, ...]], list[tuple[str, float]]] = {}
        self.names: dict[int, list[str] | None] = {}

    def fill(self, proc: LeadProcessor, lead: LeadState) -> None:
        names = self.names.get(id(proc), ())
        if names == ():
            names = self.names[id(proc)] = _fit_fields(proc)
        if names is None:
            return
        fields = proc.fields(lead)
        try:
            key = (
                id(proc),
                tuple((type(v), v) for v in (fields.get(n, _MISSING) for n in names)),
            )
            hash(key)
        except TypeError:
            return
        lines = self.by.get(key)
        if lines is None:
            lines = self.by[key] = proc.fit_lines(lead)
        lead.fit_lines_cache = lines


def _fit_fields(proc: LeadProcessor) -> list[str] | None:
    """The top-level fields the fit rules read, or None when one is not a plain field
    test (then nothing is cached)."""
    from leadgate.playbook.model import AllCondition, AnyCondition, FieldCondition

    out: set[str] = set()

    def visit(c: Any) -> bool:
        if isinstance(c, FieldCondition):
            out.add(str(c.field).split(".")[0])
            return True
        if isinstance(c, AllCondition):
            return all(visit(x) for x in c.all)
        if isinstance(c, AnyCondition):
            return all(visit(x) for x in c.any)
        return False

    if not all(visit(r.if_) for r in proc.playbook.fit.rules):
        return None
    return sorted(out)
