"""Stages and which moves between them a person may make.

Forward moves follow the funnel one step at a time; a skip (lead → sql) needs
the playbook's `stages.allow_skip`. Every other move needs a reason, from the
playbook's list for the target stage when it has one. Nothing here deletes a
lead: every move is a new `Transition`.

The graph (docs/playbook.md, "The stage graph"), from the seeds' lifecycle: what
sales cannot work now goes back to marketing, from any sales stage, never lost:

    lead → mql → sal → sql → sqo → customer        forward, no reason
    sal → mql                                      sales returns it to marketing
    sql → sal                                      qualification reopened
    customer → sqo                                 a won deal reopened
    sal | sql | sqo | customer → nurture           recycled (lost, churned, not now)
    lead | mql → nurture                           not ready
    nurture → mql                                  re-qualified (also automatic)
    any stage → disqualified; disqualified → lead | nurture (reopened)

Example: `check_manual("customer", "nurture", "churned", playbook)` passes;
without a reason it raises IllegalTransition listing where the lead may go.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadgate.playbook.model import Playbook

FUNNEL = ("lead", "mql", "sal", "sql", "sqo", "customer")
STAGES = (*FUNNEL, "nurture", "disqualified")

# The moves the machine knows, beyond skips the playbook may allow.
_MOVES: dict[str, tuple[str, ...]] = {
    "lead": ("mql", "nurture", "disqualified"),
    "mql": ("sal", "nurture", "disqualified"),
    "sal": ("sql", "mql", "nurture", "disqualified"),
    "sql": ("sqo", "sal", "nurture", "disqualified"),
    "sqo": ("customer", "nurture", "disqualified"),
    "customer": ("sqo", "nurture", "disqualified"),
    "nurture": ("mql", "disqualified"),
    "disqualified": ("lead", "nurture"),
}
# Moves without a reason: forward in the funnel (one step, or a skip the playbook
# allows), and nurture → mql (what the machine itself does once a lead re-qualifies).
_RANK = {s: i for i, s in enumerate(FUNNEL)}


def stage_name(value: str) -> str:
    """'SAL' or ' Sal ' → 'sal': stage names ignore case and surrounding spaces everywhere."""
    return value.strip().casefold()


@dataclass(frozen=True, slots=True)
class Transition:
    """A stage change as stored: from, to, when (epoch s), who (rule or user), why."""

    from_stage: str
    to_stage: str
    at: float
    actor: str
    reason: str | None = None


class IllegalTransition(ValueError):
    """A move the machine refuses. `allowed` lists where the lead may go from here."""

    def __init__(self, message: str, allowed: list[str]):
        self.allowed = allowed
        super().__init__(message)


def allowed_targets(stage: str, playbook: Playbook) -> list[str]:
    """Where a person may move a lead that is in `stage`."""
    out = list(_MOVES.get(stage, ()))
    for skip in playbook.stages.allow_skip:
        if skip.from_ == stage and skip.to not in out:
            out.append(skip.to)
    return out


def needs_reason(from_stage: str, to_stage: str) -> bool:
    """Every move but forward in the funnel (and nurture → mql) needs a reason."""
    if (from_stage, to_stage) == ("nurture", "mql"):
        return False
    if from_stage in _RANK and to_stage in _RANK:
        return _RANK[to_stage] <= _RANK[from_stage]
    return True


def check_manual(from_stage: str, to_stage: str, reason: str | None, playbook: Playbook) -> None:
    """Raise IllegalTransition unless a person may make this move with this reason."""
    allowed = check_graph(from_stage, to_stage, playbook)
    if needs_reason(from_stage, to_stage):
        if not reason or not reason.strip():
            raise IllegalTransition(
                f"moving from '{from_stage}' to '{to_stage}' needs a reason", allowed
            )
        listed = playbook.stages.reasons.get(to_stage)
        if listed and not reason_listed(reason, listed):
            raise IllegalTransition(
                f"reason '{reason}' is not in the playbook's list for '{to_stage}': "
                + ", ".join(listed),
                allowed,
            )


def check_graph(from_stage: str, to_stage: str, playbook: Playbook) -> list[str]:
    """Raise IllegalTransition unless the graph has this move; else where the lead may go."""
    if to_stage not in STAGES:
        raise IllegalTransition(
            f"unknown stage '{to_stage}'", allowed_targets(from_stage, playbook)
        )
    allowed = allowed_targets(from_stage, playbook)
    if to_stage == from_stage:
        raise IllegalTransition(f"the lead is already in stage '{to_stage}'", allowed)
    if to_stage not in allowed:
        targets = ", ".join(allowed) if allowed else "none"
        raise IllegalTransition(
            f"cannot move from '{from_stage}' to '{to_stage}' (allowed: {targets})", allowed
        )
    return allowed


def reason_listed(reason: str, listed: list[str]) -> bool:
    """A reason matches a listed one exactly (any case), or as 'listed: details'."""
    r = reason.strip().casefold()
    for item in listed:
        i = item.casefold()
        if r == i or r.startswith(i + ":"):
            return True
    return False


# The reason an import's moves carry (`leadgate lead import`, actor `import:FILE`).
IMPORTED = "imported"


def check_import(from_stage: str, to_stage: str, playbook: Playbook) -> None:
    """Raise IllegalTransition unless an import may bring a lead from `from_stage` to
    `to_stage`: forward in the funnel by any number of steps (the steps in between
    happened in the other system), or any move the graph allows a person (back, out,
    reopened), with the reason `imported` whatever the playbook lists: the other
    system's reason is not known."""
    if from_stage in _RANK and to_stage in _RANK and _RANK[to_stage] > _RANK[from_stage]:
        return
    check_graph(from_stage, to_stage, playbook)
