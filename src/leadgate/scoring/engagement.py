"""Engagement score: points from events, with caps, negative points and exponential decay.

Definition (the SQL compiler implements the same one):
1. Events are taken in (occurred_at, id) order, whatever order they arrived in.
2. An event scores under every rule whose event type matches and whose `if`
   holds on its properties, unless a cap stops it: `max_per_lead` counts the
   rule's earlier scored events; `max_per_days {count, days}` counts the rule's
   scored events in the half-open window (t - days, t].
3. Each scored point decays to `points * 2 ** (-(as_of - occurred_at) / half_life)`;
   events after `as_of` do not exist yet.
4. Manual adjustments are events of type `manual_adjustment`; they decay only if
   `engagement.adjustments.decay` says so.

The incremental `EngagementState` keeps, per rule, the scored count, the rolling
window and the decayed value at the rule's last scored event, so an in-order
event costs O(1) and the score "as of" any later moment is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from leadgate.playbook.conditions import compile_condition, compile_field
from leadgate.playbook.model import EngagementSection, FieldCondition
from leadgate.scoring.cents import round2

DAY = 86400.0
ADJUSTMENT = "manual_adjustment"
# Below this magnitude a value rounds to zero cents (0.005 itself is stored just above
# 0.005, and rounds up): `total` skips rounding it.
_NO_CENT = 0.0049


class Event(NamedTuple):
    """An event as scoring sees it. `at` is epoch seconds (UTC)."""

    id: str
    type: str
    at: float
    properties: Mapping[str, Any]


class EventLike(Protocol):
    """Anything with an event's four fields (an `Event`, or a validated incoming event:
    scoring those as they are saves building a copy of each)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def properties(self) -> Mapping[str, Any]: ...


@dataclass(slots=True)
class Tally:
    """One rule's running total for one lead."""

    count: int = 0
    value: float = 0.0
    anchor: float = 0.0
    window: list[float] = field(default_factory=list)


@dataclass(slots=True)
class EngagementState:
    """Everything needed to extend a lead's engagement score with later events."""

    last_at: float = -math.inf
    last_id: str = ""
    rules: dict[int, Tally] = field(default_factory=dict)
    # label -> [value at anchor, anchor, decays (1/0)]
    adjustments: dict[str, list[float]] = field(default_factory=dict)
    fit_adjustments: dict[str, float] = field(default_factory=dict)
    # (rules, at, total) of the last `EngagementRules.total`: the lifecycle asks for the
    # same moment twice around an event that scores nothing (a third of all calls in a
    # backtest). `apply` clears it whenever it changes a tally.
    memo: tuple[object, float, float] | None = field(default=None, compare=False, repr=False)
    # (rules, t0, positive part, negative part, slack) of an exact total at t0: a lower
    # bound of the engagement at any later moment (see `EngagementRules.at_least`). It
    # outlives events that add points; negative points and adjustments drop it.
    floor: tuple[object, float, float, float, float] | None = field(
        default=None, compare=False, repr=False
    )
    # [rules, t0, positive part, points added since, slack]: an upper bound of the
    # engagement at any later moment (see `EngagementRules.at_most`). Added points raise
    # it; negative points keep it; adjustments drop it.
    ceiling: list[Any] | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (stored with the lead)."""
        return {
            "t": None if self.last_at == -math.inf else self.last_at,
            "i": self.last_id,
            "r": {str(k): [t.count, t.value, t.anchor, t.window] for k, t in self.rules.items()},
            "a": self.adjustments,
            "f": self.fit_adjustments,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> EngagementState:
        """Inverse of `to_json`; None gives an empty state."""
        if not data:
            return cls()
        t = data.get("t")
        return cls(
            last_at=-math.inf if t is None else float(t),
            last_id=str(data.get("i", "")),
            rules={
                int(k): Tally(int(v[0]), float(v[1]), float(v[2]), list(v[3]))
                for k, v in data.get("r", {}).items()
            },
            adjustments={k: list(v) for k, v in data.get("a", {}).items()},
            fit_adjustments=dict(data.get("f", {})),
        )


class _Rule(NamedTuple):
    position: int
    label: str
    points: float
    test: Callable[[Mapping[str, Any]], bool] | None
    max_per_lead: int | None
    window_count: int | None
    window_seconds: float


def adjustment_label(properties: Mapping[str, Any]) -> str:
    """How a manual adjustment shows in explanations."""
    reason = str(properties.get("reason") or "no reason given")
    return f"manual: {reason}"


class EngagementRules:
    """A playbook's engagement rules, compiled once."""

    def __init__(self, section: EngagementSection):
        self.section = section
        self.half_life = section.half_life_days * DAY if section.half_life_days else None
        self.adjustments_decay = section.adjustments.decay
        self.rules: list[_Rule] = []
        self.by_type: dict[str, list[_Rule]] = {}
        for i, r in enumerate(section.rules):
            test = None
            if isinstance(r.if_, FieldCondition):
                # What compile_condition would call, without its two wrappers.
                test = compile_field(r.if_)
            elif r.if_ is not None:
                pred = compile_condition(r.if_)
                empty: dict[str, float | None] = {}
                test = _bind(pred, empty)
            rule = _Rule(
                i,
                r.label,
                r.points,
                test,
                r.max_per_lead,
                r.max_per_days.count if r.max_per_days else None,
                r.max_per_days.days * DAY if r.max_per_days else 0.0,
            )
            self.rules.append(rule)
            self.by_type.setdefault(r.event, []).append(rule)
        # Event types that can lower the engagement when they arrive: any other event
        # leaves it as it was or higher at that moment, so the lifecycle need not look
        # for a fall below the exit line after it.
        self.may_lower: frozenset[str] = frozenset(
            {r.event for r in section.rules if r.points < 0} | {ADJUSTMENT}
        )
        # The event types whose properties scoring reads; a replay may skip decoding
        # the properties of every other event.
        self.property_types = frozenset(
            {r.event for r in section.rules if r.if_ is not None} | {ADJUSTMENT}
        )

    def carry_over(self, old: EngagementRules) -> dict[int, tuple[int, float]] | None:
        """How to reuse states built under `old` without replaying events, or None.

        Possible when decay is unchanged and every rule here has a twin in `old` with the
        same event, filter and caps (only the points may differ): every scored event of
        a rule carries the same points, so its decayed value scales by new/old points.
        Returns {new position: (old position, factor)}.
        """
        if self.half_life != old.half_life or self.adjustments_decay != old.adjustments_decay:
            return None
        spec = old.section.rules
        mapping: dict[int, tuple[int, float]] = {}
        used: set[int] = set()
        for i, rule in enumerate(self.section.rules):
            key = rule.model_dump(exclude={"points", "name"}, by_alias=True)
            for j, candidate in enumerate(spec):
                if (
                    j not in used
                    and candidate.model_dump(exclude={"points", "name"}, by_alias=True) == key
                ):
                    mapping[i] = (j, rule.points / candidate.points)
                    used.add(j)
                    break
            else:
                return None
        return mapping

    def decay(self, dt: float) -> float:
        """The factor a point keeps after `dt` seconds."""
        if self.half_life is None or dt <= 0:
            return 1.0
        return float(2.0 ** (-dt / self.half_life))

    def apply(self, state: EngagementState, ev: EventLike) -> bool:
        """Add one event to the state. False (and no change) if it is older than the state."""
        at = ev.at
        if at < state.last_at or (at == state.last_at and ev.id < state.last_id):
            return False
        state.last_at, state.last_id = at, ev.id
        etype = ev.type
        if etype == ADJUSTMENT:
            self._adjust(state, ev)
            return True
        rules = self.by_type.get(etype)
        if not rules:
            return True
        hl = self.half_life
        tallies = state.rules
        for rule in rules:
            test = rule.test
            if test is not None and not test(ev.properties):
                continue
            state.memo = None
            points = rule.points
            if points < 0:
                state.floor = None
            tally = tallies.get(rule.position)
            if tally is None:
                tally = tallies[rule.position] = Tally(anchor=at)
            if rule.max_per_lead is not None and tally.count >= rule.max_per_lead:
                continue
            if rule.window_count is not None:
                start = at - rule.window_seconds
                w = tally.window
                while w and w[0] <= start:
                    w.pop(0)
                if len(w) >= rule.window_count:
                    continue
                w.append(at)
            tally.count += 1
            c = state.ceiling
            if c is not None and points > 0:
                c[3] += points
                c[4] += 0.01
            # `self.decay(at - tally.anchor)` inline, the same arithmetic.
            dt = at - tally.anchor
            if hl is None or dt <= 0:
                tally.value = tally.value + points  # x * 1.0 is exactly x
            else:
                tally.value = tally.value * (2.0 ** (-dt / hl)) + points
            tally.anchor = at
        return True

    def _adjust(self, state: EngagementState, ev: EventLike) -> None:
        state.memo = state.floor = state.ceiling = None
        props = ev.properties
        pts = float(props.get("points", 0))
        label = adjustment_label(props)
        if props.get("score") == "fit":
            # Fit counts in cents, as a fit rule does (see scoring/fit.py): the line shown
            # for the adjustment is then exactly what the fit adds up.
            state.fit_adjustments[label] = state.fit_adjustments.get(label, 0.0) + round(pts, 2)
            return
        decays = 1.0 if self.adjustments_decay else 0.0
        cur = state.adjustments.get(label)
        if cur is None:
            state.adjustments[label] = [pts, ev.at, decays]
        else:
            factor = self.decay(ev.at - cur[1]) if cur[2] else 1.0
            cur[0] = cur[0] * factor + pts
            cur[1] = ev.at

    def carried(
        self, state: EngagementState, mapping: dict[int, tuple[int, float]]
    ) -> EngagementState:
        """A state built under an older playbook, rewritten for this one (see carry_over)."""
        rules: dict[int, Tally] = {}
        for new, (old, factor) in mapping.items():
            t = state.rules.get(old)
            if t is not None:
                rules[new] = Tally(t.count, t.value * factor, t.anchor, list(t.window))
        return EngagementState(
            state.last_at, state.last_id, rules, state.adjustments, state.fit_adjustments
        )

    def replay(self, events: Iterable[EventLike], as_of: float | None = None) -> EngagementState:
        """Build the state from scratch: events in (occurred_at, id) order, none after as_of."""
        state = EngagementState()
        for ev in sorted(events, key=lambda e: (e.at, e.id)):
            if as_of is not None and ev.at > as_of:
                break
            self.apply(state, ev)
        return state

    def contributions(self, state: EngagementState, as_of: float) -> list[tuple[str, float]]:
        """Each rule's and adjustment's decayed points as of `as_of` (unrounded)."""
        out: list[tuple[str, float]] = []
        for rule in self.rules:
            tally = state.rules.get(rule.position)
            if tally is not None and tally.count:
                out.append((rule.label, tally.value * self.decay(as_of - tally.anchor)))
        for label, (value, anchor, decays) in state.adjustments.items():
            out.append((label, value * self.decay(as_of - anchor) if decays else value))
        return out

    def total(self, state: EngagementState, at: float) -> float:
        """Engagement as of `at`, each rule rounded to cents then summed, as the card shows it.

        The hot path of ingest: the same arithmetic as `contributions`, without the labels.
        """
        memo = state.memo
        if memo is not None and memo[0] is self and memo[1] == at:
            return memo[2]
        hl = self.half_life
        out = neg = 0.0
        n = 0
        for tally in state.rules.values():
            if tally.count:
                v = tally.value
                if hl is not None and at > tally.anchor:
                    v *= 2.0 ** (-(at - tally.anchor) / hl)
                n += 1
                if -_NO_CENT < v < _NO_CENT:
                    # Rounds to a zero (of either sign): adds nothing to `out`, which
                    # starts at +0.0, nor to `neg`. `round` to cents is the costly step
                    # here, and a decayed rule (old activity) is mostly this case.
                    continue
                r = round(v, 2)
                out += r
                if r < 0:
                    neg += r
        if state.adjustments:
            for value, anchor, decays in state.adjustments.values():
                if decays and hl is not None and at > anchor:
                    value *= 2.0 ** (-(at - anchor) / hl)
                out += round(value, 2)
        elif at >= state.last_at:
            # Only from a moment after every tally's anchor: before an anchor a value
            # does not decay yet, so it would not scale by 2^-(t - t0)/h from there.
            pos = out - neg
            slack = 0.01 * (n + 1) + 1e-9 * (pos - neg + 1.0)
            state.floor = (self, at, pos, neg, slack)
            state.ceiling = [self, at, pos, 0.0, slack]
        if out:  # a zero (all rules decayed to nothing) is its own rounding
            out = round2(out)  # a sum of cents: mostly its own rounding too
        state.memo = (self, at, out)
        return out

    def total_at(self, state: EngagementState) -> Callable[[float], float]:
        """`t -> total(state, t)` for many moments of a state that does not change in
        between (the exit timer's search): the same arithmetic in the same order, without
        the memo, floor and ceiling `total` leaves on the state."""
        hl = self.half_life
        terms = [(t.value, t.anchor) for t in state.rules.values() if t.count]
        adjustments = list(state.adjustments.values())

        def total_at(at: float) -> float:
            out = 0.0
            for v, anchor in terms:
                if hl is not None and at > anchor:
                    v *= 2.0 ** (-(at - anchor) / hl)
                out += round(v, 2)
            for value, anchor, decays in adjustments:
                if decays and hl is not None and at > anchor:
                    value *= 2.0 ** (-(at - anchor) / hl)
                out += round(value, 2)
            return round2(out)

        return total_at

    def at_least(self, state: EngagementState, at: float, x: float) -> bool:
        """True when the engagement as of `at` is surely >= x, from the state's floor
        (no rule's value is computed); False means "not known", not "below".

        Exact as a bound: from the floor's moment t0 on, each positive rule's cents are
        at least k = 2^-(at - t0)/h times its cents then, less a cent (half for each
        rounding); a negative rule's cents only rise towards 0 (a cent of slack); points
        added since t0 only raise it. The slack also covers the float error.
        """
        f = state.floor
        if f is None or f[0] is not self or at < f[1]:
            return False
        return self.decay(at - f[1]) * f[2] + f[3] - f[4] >= x

    def at_most(self, state: EngagementState, at: float) -> float:
        """An upper bound of the engagement as of `at` from the state's ceiling (no rule's
        value is computed); infinity when there is none.

        From the ceiling's moment t0 on, each positive rule's cents are at most
        k = 2^-(at - t0)/h times its cents then, plus a cent; a negative rule's stay at or
        below 0; each point added since t0 adds at most itself (and a cent of rounding).
        """
        c = state.ceiling
        if c is None or c[0] is not self or at < c[1]:
            return math.inf
        return float(self.decay(at - c[1]) * c[2] + c[3] + c[4])

    def split(self, state: EngagementState, at: float) -> tuple[float, float]:
        """(decaying part, constant part) of the engagement as of `at`."""
        decaying = 0.0
        constant = 0.0
        hl = self.half_life
        # `self.decay(dt)` inline (the exit timer's search calls this twice a search):
        # 1.0 without a half-life or before the anchor, and x * 1.0 is exactly x.
        for tally in state.rules.values():
            if tally.count:
                dt = at - tally.anchor
                if hl is None or dt <= 0:
                    decaying += tally.value
                else:
                    decaying += tally.value * (2.0 ** (-dt / hl))
        for value, anchor, decays in state.adjustments.values():
            if decays:
                dt = at - anchor
                if hl is None or dt <= 0:
                    decaying += value
                else:
                    decaying += value * (2.0 ** (-dt / hl))
            else:
                constant += value
        if self.half_life is None:
            return 0.0, decaying + constant
        return decaying, constant

    def crossing_time(self, state: EngagementState, at: float, threshold: float) -> float | None:
        """The first moment after `at` when engagement falls below `threshold` through decay.

        None when decay alone never takes it there (no decay, or the constant part
        holds it up). Exact: E(t) = D·2^(-(t-at)/h) + C, solved for E(t) = threshold.
        """
        if self.half_life is None:
            return None
        d, c = self.split(state, at)
        if d + c < threshold:
            return at
        if d <= 0 or c >= threshold:
            return None
        return at + self.half_life * math.log2(d / (threshold - c))


def _bind(
    pred: Callable[[Mapping[str, Any], Mapping[str, float | None]], bool],
    scores: Mapping[str, float | None],
) -> Callable[[Mapping[str, Any]], bool]:
    return lambda props: pred(props, scores)
