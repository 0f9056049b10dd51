"""Apply events, edits, manual stage moves and the passing of time to a lead.

One code path for everything: the real-time ingest, `lead adjust`, `stage set`,
the scheduler's tick and a replay of history all call these methods, so a
backtest and production can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from leadgate.leads.derivation import TIME_ORDER, Era, Move, derive
from leadgate.leads.exit_timer import exit_due
from leadgate.leads.record import LeadState
from leadgate.lifecycle.stages import Transition, check_manual
from leadgate.playbook.base import any_leaf
from leadgate.playbook.conditions import (
    Predicate,
    as_number,
    compile_condition,
    compile_tri,
    uses_scores,
)
from leadgate.playbook.model import (
    AllCondition,
    Condition,
    Playbook,
    ScoreCondition,
)
from leadgate.scoring.engagement import ADJUSTMENT, EngagementState, EventLike
from leadgate.scoring.fit import email_domain
from leadgate.scoring.scorecard import ScoreCard, Scorer

DAY = 86400.0
# The attribute `leadgate predict` stores the model's probability in; `{score: predicted}`
# reads it (a lead never scored has none, and the test is false).
PREDICTED = "predicted"
# The stages the rules (or time) move a lead out of; the others wait for a person.
AUTOMATIC_STAGES = frozenset({"lead", "mql", "nurture"})
_TIMED_STAGES = frozenset({"mql", "nurture"})
# Scores that change only when a lead's attributes (or fit adjustments) do.
_STATIC_SCORES = frozenset({"fit"})
# Distinct fit values whose MQL-gate verdict a processor keeps (cleared when full).
_GATE_MEMO = 4096
# A score card built in C from its values (`ScoreCard` is a named tuple): once per lead
# per batch.
_new_card = tuple.__new__


class LateEvents(ValueError):
    """Raised by `apply_events` without a history when the events are not in time order
    after everything that shaped the lead (see `LeadProcessor.in_order`), before the lead
    is changed: the caller derives the lead's history again instead."""


def _fmt(x: float) -> str:
    return f"{x:g}"


class LeadProcessor:
    """A playbook version compiled for processing leads. Reuse it for every lead."""

    def __init__(self, playbook: Playbook, version: int | None = None):
        self.playbook = playbook
        self.version = version
        self.scorer = Scorer(playbook, version)
        self.rules = self.scorer.engagement
        st = playbook.stages
        self._mql_rule = compile_condition(st.mql.when) if st.mql.when is not None else None
        self._mql_gate, self._mql_rest, rest = _split_static(st.mql.when)
        # When the rule's fields-and-fit part reads no field, its verdict is a function
        # of the fit alone: decided once per fit value, not once per lead (each new lead
        # would otherwise run the compiled condition through a lazy score mapping).
        self._gate_by_fit: dict[float, bool] | None = (
            {} if self._mql_gate is not None and not _reads_fields(st.mql.when) else None
        )
        # The rule (and the rest of it), three-valued against a bound of the engagement:
        # False when no engagement up to the bound meets it.
        self.mql_tri = compile_tri(st.mql.when) if st.mql.when is not None else None
        self._mql_rest_tri = compile_tri(rest) if rest is not None else None
        self.hand_raisers = frozenset(st.mql.hand_raisers)
        g = playbook.fit.grades
        self._fit_grades = (g["A"], g["B"], g["C"])
        g = playbook.engagement.grades
        self._engagement_grades = (g["1"], g["2"], g["3"])
        self.cooldown = st.recycle.cooldown_days * DAY
        self.exit_at = st.recycle.mql_exit_engagement
        # The rest of the rule when it is one `engagement gte/gt N`: its three-valued
        # test against a bound is `round(bound, 2) < N` (see compile_tri), inline.
        self._rest_need = _engagement_need(rest)

    # -- scores -----------------------------------------------------------------

    def fields(self, lead: LeadState) -> Mapping[str, Any]:
        """The lead's attributes as conditions see them: plus `email` and `email_domain`."""
        if lead.fields_cache is None:
            attrs = dict(lead.attributes)
            attrs.setdefault("email", lead.email)
            if "email_domain" not in attrs:
                attrs["email_domain"] = email_domain(attrs.get("email"))
            lead.fields_cache = attrs
        return lead.fields_cache

    def fit_lines(self, lead: LeadState) -> list[tuple[str, float]]:
        """The fit rules that match the lead (cached with its fields)."""
        if lead.fit_lines_cache is None:
            lead.fit_lines_cache = self.scorer.fit_rules.lines(self.fields(lead))
        return lead.fit_lines_cache

    def fit(self, lead: LeadState) -> float:
        """Fit points now (attributes never decay, so this is cached until they change)."""
        if lead.fit_cache is None:
            total = sum(p for _, p in self.fit_lines(lead))
            total += sum(lead.engagement_state.fit_adjustments.values())
            lead.fit_cache = round(total, 2)
        return lead.fit_cache

    def engagement(self, lead: LeadState, at: float) -> float:
        """Engagement as of `at`, rounded exactly as the score card rounds it."""
        return self.rules.total(lead.engagement_state, at)

    def scores(self, lead: LeadState, at: float) -> dict[str, float | None]:
        """What score conditions read at `at`."""
        fit = self.fit(lead)
        eng = self.engagement(lead, at)
        total = round(fit + eng, 2)
        return {"fit": fit, "engagement": eng, "total": total, PREDICTED: predicted(lead)}

    def rescore(self, lead: LeadState, as_of: float) -> None:
        """Refresh the lead's scores and grades as of a moment (after any change).

        The card kept here has no explanation: storing a lead needs only the numbers,
        and `Scorer.card` builds the explanation when someone asks for it.
        """
        fit = lead.fit_cache
        if fit is None:
            fit = self.fit(lead)
        eng = self.rules.total(lead.engagement_state, as_of)
        # `grade_fit` and `grade_engagement`, inline on thresholds read once.
        fa, fb, fc = self._fit_grades
        fg = "A" if fit >= fa else "B" if fit >= fb else "C" if fit >= fc else "D"
        ea, eb, ec = self._engagement_grades
        eg = "1" if eng >= ea else "2" if eng >= eb else "3" if eng >= ec else "4"
        version = self.version
        lead.card = _new_card(ScoreCard, (fit, eng, fg, eg, (), as_of, version))
        lead.playbook_version = version
        # Only these stages have timers (`next_due`).
        lead.next_due_at = self.next_due(lead) if lead.stage in _TIMED_STAGES else None

    # -- events -----------------------------------------------------------------

    def apply_events(
        self,
        lead: LeadState,
        events: Iterable[EventLike],
        now: float,
        history: Callable[[], Iterable[EventLike]] | None = None,
        rescore: bool = True,
        moves: Callable[[], Sequence[Move]] | None = None,
    ) -> list[Transition]:
        """Score new events into the lead and make the automatic stage moves they cause.

        Events older than what the lead has already seen (or than a person's last move)
        are placed by their time: the lead's whole history is derived again from
        `history()` (every stored event of the lead, the new ones included) and
        `moves()` (people's moves), see `derive`. Returns the transitions made, in time
        order; after a re-derivation, the whole derived history.
        `rescore=False` leaves the lead's card as it was (a replay that keeps only the
        transitions): no rule reads the card, so the moves are the same.
        """
        if type(events) is list and len(events) == 1:
            new = events  # nothing to sort (most leads of a batch have one event)
        else:
            new = sorted(events, key=TIME_ORDER)
            if not new:
                return []
        out: list[Transition] = []
        st = lead.engagement_state
        first = new[0]
        # In order: after everything that shaped the lead, its events (by time, then id)
        # and people's moves (an event at the instant of a move counts before it, so it
        # is late), and the moves time made: a timer fired or spent up to "now" (the
        # decay exit, a cooldown's end) after the event's time would have gone otherwise
        # had the event arrived first (a timer due at the event's instant fires before
        # it). A lead's creation is not such a move (below). Inline: this runs for
        # every lead of every batch.
        spent = lead.timer_spent_at
        if (
            first.at > lead.settled_at
            and (first.at > st.last_at or (first.at == st.last_at and first.id > st.last_id))
            and (first.at >= lead.stage_at or (lead.stage == "lead" and lead.stage_reason is None))
            and (spent is None or first.at >= spent)
        ):
            if lead.stage == "lead" and lead.stage_reason is None and first.at < lead.stage_at:
                # A lead's creation is an arrival like any other: a contact imported
                # before its history arrived was a lead from its first event on.
                lead.stage_at = first.at
            rules = self.rules
            apply, may_lower, exit_at = rules.apply, rules.may_lower, self.exit_at
            at_least = rules.at_least
            hand_raisers = self.hand_raisers
            need = self._rest_need
            for ev in new:
                stage = lead.stage
                if stage in _TIMED_STAGES:  # only these have timers to fire
                    out += self.advance(lead, ev.at, rescore=False)
                    stage = lead.stage
                before = st.memo
                apply(st, ev)
                etype = ev.type
                if etype == ADJUSTMENT and ev.properties.get("score") == "fit":
                    lead.fit_cache = lead.fields_cache = lead.fit_lines_cache = None
                if stage == "lead" and etype not in hand_raisers:
                    # `_evaluate`'s first answers, inline: the rule's fields-and-fit part,
                    # decided for these very fields and fit by this processor, fails; or
                    # it holds and the engagement's ceiling is below `engagement >= N`.
                    gate = lead.mql_gate_cache
                    if (
                        gate is not None
                        and gate[2] is self
                        and gate[0] is lead.fields_cache
                        and gate[1] == lead.fit_cache
                    ):
                        if not gate[3]:
                            continue
                        if need is not None:
                            bound = rules.at_most(st, max(ev.at, lead.stage_at))
                            if bound != math.inf and round(bound, 2) < need:
                                continue
                if stage in AUTOMATIC_STAGES:
                    if (
                        lead.stage == "mql"
                        and exit_at is not None
                        and lead.stage_at <= ev.at
                        and (
                            (
                                before is not None
                                and before[0] is rules
                                and before[1] == ev.at
                                and before[2] >= exit_at
                                and ev.type not in may_lower
                            )
                            or at_least(st, ev.at, exit_at)
                        )
                    ):
                        # An MQL's only automatic move is the exit. Either the timer
                        # check just found the engagement at or above the line at this
                        # very moment and this event only adds points (each rule's value,
                        # its cents and their sum are monotone), or the floor, which
                        # survives only such events, still holds it above the line.
                        continue
                    out += self._evaluate(lead, ev.at, ev.type)
        else:
            # A late event can change any automatic move from its moment on, so the
            # whole history is derived again from the facts (every event, people's
            # moves), exactly as if everything had arrived in time order.
            if history is None:
                raise LateEvents("a late event needs the lead's history to be placed in time")
            return derive(
                lead,
                history(),
                () if moves is None else moves(),
                [Era(-math.inf, self)],
                now,
                rescore=rescore,
            )
        if lead.stage in _TIMED_STAGES:
            out += self.advance(lead, now, rescore=False)
        if rescore:
            self.rescore(lead, max(now, lead.engagement_state.last_at))
        return out

    def reevaluate(self, lead: LeadState, at: float) -> list[Transition]:
        """Check the automatic rules again at `at` (after a playbook change or a rebuild)."""
        return self._evaluate(lead, at, "")

    def update_attributes(
        self, lead: LeadState, attributes: Mapping[str, Any], now: float
    ) -> list[Transition]:
        """Merge new attribute values (fit may change, and with it the stage)."""
        changed = {k: v for k, v in attributes.items() if lead.attributes.get(k) != v}
        if not changed:
            return []
        lead.attributes.update(changed)
        lead.fit_cache = lead.fields_cache = lead.fit_lines_cache = None
        out = self.advance(lead, now, rescore=False)
        out += self._evaluate(lead, now, "")
        self.rescore(lead, now)
        return out

    # -- stages -----------------------------------------------------------------

    def set_stage(
        self,
        lead: LeadState,
        to: str,
        actor: str,
        reason: str | None,
        at: float,
        rescore: bool = True,
    ) -> Transition:
        """A person moves the lead. Raises IllegalTransition when the machine forbids it.
        `rescore` as in `apply_events`."""
        self.advance(lead, at, rescore=False)
        check_manual(lead.stage, to, reason, self.playbook)
        t = self.record_move(lead, Move(to, at, actor, reason))
        if rescore:
            self.rescore(lead, at)
        return t

    def record_move(self, lead: LeadState, move: Move) -> Transition:
        """A person's move as a fact: made whatever the stage (it was checked when the
        person made it, or happened in another system), after time has been advanced
        to it. The person wins over what the rules derived; the history shows both."""
        lead.settled_at = max(lead.settled_at, move.at)
        return self._move(lead, move.to, max(move.at, lead.stage_at), move.actor, move.reason)

    def take_over(
        self,
        lead: LeadState,
        old: LeadProcessor,
        state: EngagementState,
        at: float,
        old_due: float | None = -math.inf,
        same_fit: bool = False,
    ) -> list[Transition]:
        """This version takes over from `old` at `at` (its activation): time runs to `at`
        under the old rules, the engagement becomes `state` (the lead's events up to
        `at` under these rules), and the rules are checked again at `at`.

        `old_due`: when the old rules' next timer is due, if the caller knows it (a stored
        lead's `next_due_at`): none due by `at` spares running time under them.
        `same_fit`: the fit section is unchanged, so the lead's fit need not be computed
        again."""
        out = [] if old_due is None or old_due > at else old.advance(lead, at, rescore=False)
        lead.engagement_state = state
        if not same_fit:
            lead.fit_cache = lead.fields_cache = lead.fit_lines_cache = None
        lead.mql_gate_cache = None
        lead.playbook_version = self.version
        lead.settled_at = max(lead.settled_at, at)
        out += self.advance(lead, at, rescore=False)
        out += self._evaluate(lead, at, "")
        return out

    def advance(self, lead: LeadState, t: float, rescore: bool = True) -> list[Transition]:
        """Make the moves that time alone causes up to `t` (decay exit, cooldown end)."""
        out: list[Transition] = []
        for _ in range(4):  # mql → nurture → mql is the longest chain time can cause
            due = self._due_by(lead, t)
            if due is None:
                break
            before = lead.stage
            out += self._evaluate(lead, due, "", timed=True)
            if lead.stage == before:
                # Nothing moved, and nothing but an event can make it move now: the exit
                # timer fires only where the check holds (`_exit_due`), so this is a
                # cooldown whose end found the MQL rule unmet. Spent.
                lead.timer_spent_at = due
                break
        if rescore:
            self.rescore(lead, t)
        return out

    def _due_by(self, lead: LeadState, t: float) -> float | None:
        """The timer that fires at or before `t`, if any. Cheap when none does: decay is
        monotone between events, so an MQL still above the exit line at `t` was above
        it all along and the exact crossing need not be solved."""
        stage = lead.stage
        if stage == "mql":
            if not lead.exit_armed or self.exit_at is None:
                return None
            # The bound first: it answers most of these checks with one power of two.
            if self.rules.at_least(lead.engagement_state, t, self.exit_at):
                return None
            if self.engagement(lead, t) >= self.exit_at:
                return None
        elif stage != "nurture":
            return None
        due = self.next_due(lead)
        return due if due is not None and due <= t else None

    def next_due(self, lead: LeadState) -> float | None:
        """When time alone could next change this lead's stage (for the scheduler)."""
        due: float | None = None
        if lead.stage == "mql" and lead.exit_armed and self.exit_at is not None:
            due = self._exit_due(lead, self.exit_at)
        elif lead.stage == "nurture" and self._mql_rule is not None:
            due = lead.stage_at + self.cooldown
        if due is not None and lead.timer_spent_at is not None and due <= lead.timer_spent_at:
            return None
        return due

    def _exit_due(self, lead: LeadState, line: float) -> float | None:
        """The first whole second, after the lead's last event and stage change, at which
        the exit check itself (`engagement < line`, each rule in cents) holds; None when
        decay alone never takes it there (see `exit_timer.exit_due`)."""
        st = lead.engagement_state
        return exit_due(self.rules, st, max(st.last_at, lead.stage_at), line)

    def _evaluate(
        self, lead: LeadState, at: float, event_type: str, timed: bool = False
    ) -> list[Transition]:
        stage = lead.stage
        if stage not in AUTOMATIC_STAGES:
            return []
        at = max(at, lead.stage_at)
        if stage == "mql":
            if self.exit_at is None or not lead.exit_armed:
                return []
            eng = self.engagement(lead, at)
            if eng < self.exit_at:
                why = "decayed" if timed else "fell"
                return [
                    self._move(
                        lead,
                        "nurture",
                        at,
                        "rule:mql_exit",
                        f"engagement {why} to {_fmt(eng)}, below {_fmt(self.exit_at)}, "
                        "before sales accepted",
                    )
                ]
            return []
        raised = event_type in self.hand_raisers
        if stage == "nurture" and not raised and at < lead.stage_at + self.cooldown:
            return []
        if raised:
            actor, reason = "rule:hand_raiser", f"hand-raiser event '{event_type}'"
        else:
            if self._mql_rule is None:
                return []
            fields = self.fields(lead)
            if self._mql_gate is not None:
                # The part of the rule that reads only fields and fit cannot change
                # until they do: decided once per lead, not at every event.
                fit = self.fit(lead)
                gate = lead.mql_gate_cache
                if gate is None or gate[0] is not fields or gate[1] != fit or gate[2] is not self:
                    by_fit = self._gate_by_fit
                    if by_fit is None:
                        verdict = self._mql_gate(fields, _LazyScores(self, lead, at))
                    else:
                        known = by_fit.get(fit)
                        if known is None:
                            if len(by_fit) >= _GATE_MEMO:
                                by_fit.clear()  # fit adjustments can make any value
                            known = by_fit[fit] = self._mql_gate(
                                fields, _LazyScores(self, lead, at)
                            )
                        verdict = known
                    gate = lead.mql_gate_cache = (fields, fit, self, verdict)
                if not gate[3]:
                    return []
            tri = self._mql_rest_tri
            if tri is not None:
                # A ceiling of the engagement often settles it without computing any rule.
                bound = self.rules.at_most(lead.engagement_state, at)
                if bound != math.inf:
                    need = self._rest_need
                    if need is not None:
                        if round(bound, 2) < need:  # `tri` of `engagement >= need`
                            return []
                    elif tri(fields, self.fit(lead), bound) is False:
                        return []
            scores = _LazyScores(self, lead, at)
            if self._mql_rest is not None and not self._mql_rest(fields, scores):
                return []
            actor = "rule:mql" if stage == "lead" else "rule:recycle"
            reason = (
                f"MQL rule met (fit {_fmt(scores['fit'] or 0)}, "
                f"engagement {_fmt(scores['engagement'] or 0)})"
            )
        return [self._move(lead, "mql", at, actor, reason)]

    def _move(
        self, lead: LeadState, to: str, at: float, actor: str, reason: str | None
    ) -> Transition:
        t = Transition(lead.stage, to, at, actor, reason)
        lead.stage, lead.stage_at, lead.stage_reason = to, at, reason
        lead.timer_spent_at = None
        if to == "mql":
            lead.exit_armed = self.exit_at is not None and self.engagement(lead, at) >= self.exit_at
        return t


def _split_static(
    cond: Condition | None,
) -> tuple[Predicate | None, Predicate | None, Condition | None]:
    """An MQL rule as (the part that reads only fields and fit, the rest, the rest's
    condition), each None when empty.

    Only a top-level `all` is split; the rule holds exactly when both parts do.
    """
    if cond is None:
        return None, None, None
    parts = cond.all if isinstance(cond, AllCondition) else [cond]
    static = [c for c in parts if uses_scores(c) <= _STATIC_SCORES]
    rest = [c for c in parts if not uses_scores(c) <= _STATIC_SCORES]

    def joined(cs: list[Condition]) -> Condition | None:
        if not cs:
            return None
        return cs[0] if len(cs) == 1 else AllCondition(all=cs)

    static_c, rest_c = joined(static), joined(rest)
    return (
        None if static_c is None else compile_condition(static_c),
        None if rest_c is None else compile_condition(rest_c),
        rest_c,
    )


def _reads_fields(cond: Condition | None) -> bool:
    """Whether a condition tests any field (rather than only scores)."""
    # A leaf that is not a score test is a field test, or anything new: assume it reads.
    return cond is not None and any_leaf(cond, lambda c: not isinstance(c, ScoreCondition))


def _engagement_need(cond: Condition | None) -> float | None:
    """N when `cond` is one `engagement gte/gt N` (what `compile_tri` bounds), else None."""
    if (
        isinstance(cond, ScoreCondition)
        and cond.score == "engagement"
        and cond.op in ("gt", "gte")
        and isinstance(cond.value, int | float)
    ):
        return float(cond.value)
    return None


def predicted(lead: LeadState) -> float | None:
    """The stored conversion probability of the lead, if it has one."""
    return as_number(lead.attributes.get(PREDICTED))


class _LazyScores(Mapping[str, float | None]):
    """Scores computed only if the rule reads them (a poor fit never pays for decay)."""

    __slots__ = ("_at", "_cache", "_lead", "_proc")

    def __init__(self, proc: LeadProcessor, lead: LeadState, at: float):
        self._proc, self._lead, self._at = proc, lead, at
        self._cache: dict[str, float | None] = {}

    def __getitem__(self, key: str) -> float | None:
        cache = self._cache
        if key not in cache:
            if key == "fit":
                cache[key] = self._proc.fit(self._lead)
            elif key == "engagement":
                cache[key] = self._proc.engagement(self._lead, self._at)
            elif key == "total":
                cache[key] = round((self["fit"] or 0.0) + (self["engagement"] or 0.0), 2)
            elif key == PREDICTED:
                cache[key] = predicted(self._lead)
            else:
                cache[key] = None
        return cache[key]

    def get(self, key: str, default: Any = None) -> Any:
        """As `[]` (the condition compiler calls this; Mapping.get would go through KeyError)."""
        return self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("fit", "engagement", "total", PREDICTED))

    def __len__(self) -> int:
        return 4
