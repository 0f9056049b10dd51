"""Every edge of the stage graph: allowed or refused, with or without a reason.

The table below is the lifecycle as docs/playbook.md ("The stage graph") states it,
written out by hand so the code cannot agree with itself by construction.
"""

from __future__ import annotations

import itertools

import pytest

from leadgate.lifecycle.stages import STAGES, IllegalTransition, check_manual
from leadgate.playbook.loader import bundled_playbook

# to-stage: "fwd" (no reason needed) or "why" (a reason is required)
GRAPH: dict[str, dict[str, str]] = {
    "lead": {"mql": "fwd", "nurture": "why", "disqualified": "why"},
    "mql": {"sal": "fwd", "nurture": "why", "disqualified": "why"},
    "sal": {"sql": "fwd", "mql": "why", "nurture": "why", "disqualified": "why"},
    "sql": {"sqo": "fwd", "sal": "why", "nurture": "why", "disqualified": "why"},
    "sqo": {"customer": "fwd", "nurture": "why", "disqualified": "why"},
    "customer": {"sqo": "why", "nurture": "why", "disqualified": "why"},
    "nurture": {"mql": "fwd", "disqualified": "why"},
    "disqualified": {"lead": "why", "nurture": "why"},
}
# A reason from the bundled playbook's list when it has one for the target stage.
REASON = {"nurture": "recycled", "disqualified": "not a fit"}

PB, _ = bundled_playbook()
EDGES = list(itertools.product(STAGES, STAGES))


@pytest.mark.parametrize(("frm", "to"), EDGES, ids=[f"{a}->{b}" for a, b in EDGES])
def test_every_edge(frm: str, to: str) -> None:
    kind = GRAPH[frm].get(to)
    reason = REASON.get(to, "sales returned it")
    if kind is None:
        with pytest.raises(IllegalTransition) as exc:
            check_manual(frm, to, reason, PB)
        assert sorted(exc.value.allowed) == sorted(GRAPH[frm])
        return
    check_manual(frm, to, reason, PB)
    if kind == "fwd":
        check_manual(frm, to, None, PB)
    else:
        with pytest.raises(IllegalTransition, match="needs a reason"):
            check_manual(frm, to, None, PB)


def test_a_churned_customer_goes_to_nurture_with_the_listed_reason() -> None:
    check_manual("customer", "nurture", "churned", PB)
    check_manual("customer", "nurture", "churned: budget cut", PB)
    with pytest.raises(IllegalTransition, match="not in the playbook's list"):
        check_manual("customer", "nurture", "bored", PB)


def test_no_stage_is_a_dead_end() -> None:
    assert all(GRAPH[s] for s in STAGES)
