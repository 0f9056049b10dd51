"""The backtest's pruning: which leads a replay provably never makes an MQL.

`can_move(proc, lead, counts, human)` is False only when replaying the lead under
`proc`'s playbook cannot enter MQL: no people's move to MQL, no hand-raiser event, and an
MQL rule that is false whatever the engagement up to `engagement_bound` (what its events
can give at most). Split out of `backtest` (its names are still importable there).

Example:
    >>> from leadgate.playbook.loader import bundled_playbook, load_playbook
    >>> pb = load_playbook(bundled_playbook()[1], "p")
    >>> engagement_bound(pb, {}) > 0
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from leadgate.leads import LeadProcessor, LeadState
from leadgate.playbook.model import Playbook
from leadgate.scoring.engagement import ADJUSTMENT


def engagement_bound(pb: Playbook, type_counts: Mapping[str, int]) -> float:
    """An upper bound of the engagement a lead with these event counts can ever reach.

    Every positive rule scoring every event of its type, undecayed, up to `max_per_lead`
    (filters, rolling caps, decay and negative points only lower it), plus a cent per
    rounded contribution (each rule's share is rounded to cents before the sum).
    """
    top = 0.0
    rules = pb.engagement.rules
    for r in rules:
        n = type_counts.get(r.event, 0)
        if r.points > 0 and n:
            top += r.points * (n if r.max_per_lead is None else min(n, r.max_per_lead))
    return top + 0.01 * (len(rules) + 2)


def can_move(
    proc: LeadProcessor,
    lead: LeadState,
    types: set[str] | Mapping[str, int],
    human: bool,
    human_mql: bool | None = None,
) -> bool:
    """False only when replaying this lead provably enters MQL never.

    `human`: people moved the lead; `human_mql` (None: same as human): one of those moves
    went to MQL. Moves to other stages cannot make an MQL, and the backtest counts MQLs
    only. `types` may be counts per event type, which also bounds the engagement.
    """
    if human if human_mql is None else human_mql:
        return True
    if set(types) & proc.hand_raisers:
        return True
    when = proc.playbook.stages.mql.when
    if when is None:
        return False
    if ADJUSTMENT in types:
        return True  # a fit adjustment changes fit mid-history
    bound = engagement_bound(proc.playbook, types) if isinstance(types, Mapping) else math.inf
    return rule_may_hold(proc, lead, bound)


def rule_may_hold(proc: LeadProcessor, lead: LeadState, bound: float) -> bool:
    """`can_move`'s last test: the MQL rule (which exists) is not false for this lead at
    every engagement up to `bound`."""
    # The bound alone often rules the lead out: then its fields and fit (regexes) are
    # never computed.
    return not bound_rules_out(proc, bound) and lead_may_hold(proc, lead, bound)


def bound_rules_out(proc: LeadProcessor, bound: float) -> bool:
    """The MQL rule (which exists) is false at every engagement up to `bound`, whatever
    the lead's fields and fit: nothing of the lead need be computed."""
    tri = proc.mql_tri
    assert tri is not None  # compiled whenever the rule exists
    return tri(None, None, bound) is False


def lead_may_hold(proc: LeadProcessor, lead: LeadState, bound: float) -> bool:
    """`rule_may_hold`'s second test, with the lead's fields and fit."""
    tri = proc.mql_tri
    assert tri is not None
    return tri(proc.fields(lead), proc.fit(lead), bound) is not False
