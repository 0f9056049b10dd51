"""When decay alone takes an MQL below the exit line: the timer `next_due` stores.

The check that moves the lead is `engagement < line` with each rule's points in cents, so
the moment is searched with that very arithmetic (`EngagementRules.total_at`), between
the crossings of the unrounded sum with the line moved by the most rounding can add or
take away. Example: two rules of 15 points with a half-life of a day, line 10: the sum
crosses 10 while each rule still shows 5.00, and the timer is the first whole second at
which the cents add up below 10.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

from leadgate.scoring.engagement import EngagementRules, EngagementState


def exit_due(rules: EngagementRules, st: EngagementState, ref: float, line: float) -> float | None:
    """The first whole second after `ref` (the lead's last event or stage change) at which
    the exit check itself (`engagement < line`, each rule rounded to cents) holds;
    None when decay alone never takes it there.

    The exact crossing of the unrounded sum is a guess: per-rule rounding can keep
    the checked total at the line for a while after it (two rules of 15 with a
    half-life of a day: the sum crosses 10 while each rule still shows 5.00). So the
    guess is verified with the check's arithmetic, and searched between the
    crossings of the line moved by the most rounding can add or take away.
    """
    start = math.floor(ref) + 1.0

    total_at = rules.total_at(st)

    def below(t: float) -> bool:
        return total_at(t) < line

    # Totals at later moments would move the state's floor, ceiling and memo there
    # (making them useless for the checks at earlier moments): keep them as they are.
    kept = st.memo, st.floor, st.ceiling
    try:
        return _search(rules, st, ref, start, line, below)
    finally:
        st.memo, st.floor, st.ceiling = kept


def cents_below(line: float) -> int:
    """The most whole cents whose total is below `line` as the check compares them
    (`round(total, 2) < line`): 999 for 10, 1000 for 10.005, 0 for 0.004 or 1e-10."""
    c = math.floor(line * 100)
    while c / 100 >= line:
        c -= 1
    while (c + 1) / 100 < line:
        c += 1
    return c


def _search(
    rules: EngagementRules,
    st: EngagementState,
    ref: float,
    start: float,
    line: float,
    below: Callable[[float], bool],
) -> float | None:
    # The check holds once the cents are at most `cents_below(line)`: one rounded term
    # then once its value is below `edge`, which is `line - 0.005` only for a line in
    # whole cents (a line of 10.005 holds at 10.00, a line of 0.004 at 0.00).
    edge = (cents_below(line) + 0.5) / 100
    guess = rules.crossing_time(st, ref, edge)
    if guess is not None:
        t = max(start, math.ceil(guess))
        terms = sum(1 for tally in st.rules.values() if tally.count) + len(st.adjustments)
        # One rounded term past `edge` is below the line once rounded. A sum of several
        # can be held at the line by rounding, or taken below it before: the guess is
        # the answer only if the second before it is not below yet.
        if (terms == 1 and t - guess > 1e-3) or (below(t) and (t == start or not below(t - 1))):
            return t
    # Each rule's cents (and each adjustment's) are within half a cent of its value.
    half_cents = 0.005 * (len(st.rules) + len(st.adjustments))
    hi_cross = rules.crossing_time(st, ref, edge - half_cents)
    if hi_cross is None:
        # The unrounded value never gets that far below the line; the cents may still,
        # once every decaying term rounds to 0.00 (a line of a cent or less).
        hi_cross = _cents_gone(st, rules.half_life)
        if hi_cross is None:
            return None
    hi = max(start, math.ceil(hi_cross))
    lo_cross = rules.crossing_time(st, ref, edge + half_cents + 0.01)
    lo = start if lo_cross is None else max(start, math.floor(lo_cross))
    if hi > lo and rules.half_life is not None:
        # The search below finds the second where the check starts to hold. When the
        # total only falls with time (no negative part), that second is unique: a
        # guess from where each rule's cents step down, checked by two totals, is
        # the search's own answer (of its type: `hi` itself, else a whole number).
        e = first_step_below(st, rules.half_life, lo, line)
        if e is not None and lo < e <= hi and below(e) and not below(e - 1):
            return hi if e == hi else e
    if not below(hi):
        return None  # the constant part holds the rounded total at the line
    if below(lo):
        return lo
    while hi - lo > 1.0:  # below(hi) and not below(lo)
        mid = math.floor((lo + hi) / 2)
        if not lo < mid < hi:
            # Past 2**53 seconds (a half-life of 1e11 days) floats are more than a second
            # apart: the midpoint is a bound again, and `hi` the first float that holds.
            break
        if below(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _cents_gone(st: EngagementState, hl: float | None) -> float | None:
    """A moment from which every decaying term rounds to 0.00 (None without decay)."""
    if hl is None:
        return None
    values = [(t.value, t.anchor) for t in st.rules.values() if t.count]
    values += [(v, a) for v, a, decays in st.adjustments.values() if decays]
    # 0.004: a value that small is 0.00 however the float rounds.
    return max(
        (a + hl * math.log2(abs(v) / 0.004) for v, a in values if abs(v) > 0.004), default=0.0
    )


def first_step_below(st: EngagementState, hl: float, lo: float, line: float) -> int | None:
    """A guess of the first whole second after `lo` at which the engagement, each rule
    in cents, is below `line`: the moments where each rule's cents step down, merged.
    None unless the total only falls with time (no negative value, a half-life short
    enough that every second lowers each value: then `below` is monotone and the
    exit search may probe anywhere). Only a guess: the caller checks it."""
    if hl > 1e11:
        return None
    terms: list[tuple[float, float]] = []
    cents = 0
    for t in st.rules.values():
        if t.count:
            if t.value < 0:
                return None
            terms.append((t.value, t.anchor))
    for value, anchor, decays in st.adjustments.values():
        if decays:
            if value < 0:
                return None
            terms.append((value, anchor))
        else:
            cents += round(value * 100)
    # (moment the term's cents step from c to c - 1, value, anchor, c)
    steps: list[tuple[float, float, float, int]] = []
    for v, a in terms:
        c = round(v * 2.0 ** (-(lo - a) / hl) * 100) if lo > a else round(v * 100)
        cents += c
        if c >= 1:
            steps.append((a + hl * math.log2(100 * v / (c - 0.5)), v, a, c))
    want = math.ceil(line * 100 - 1e-6) - 1  # the most cents that are below the line
    heapq.heapify(steps)
    at = lo
    for _ in range(256):
        if cents <= want:
            return math.ceil(at)
        if not steps:
            return None
        at, v, a, c = heapq.heappop(steps)
        cents -= 1
        if c > 1:
            c -= 1
            heapq.heappush(steps, (a + hl * math.log2(100 * v / (c - 0.5)), v, a, c))
    return None
