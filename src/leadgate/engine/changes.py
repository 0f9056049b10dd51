"""What the use cases hand back, and the hooks other packages plug into them.

`ItemResult` is one event's fate in a batch (`Engine.ingest`); `LeadChange` what one
transaction did to one lead, handed to the listeners (the webhook outbox, routing)
inside that transaction. Example: a listener

    def count(repo: Repository, changes: list[LeadChange], now: float) -> None:
        stats["moved"] += sum(bool(c.transitions) for c in changes)

appended to `engine.listeners` sees every lead each later transaction changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadgate.leads.derivation import is_absorbed
from leadgate.lifecycle.stages import Transition
from leadgate.store.repository import Repository, StoredLead

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine


@dataclass(slots=True)
class ItemResult:
    """What happened to one item of a batch."""

    index: int
    id: str | None
    status: str  # accepted | duplicate | rejected
    error: str | None = None
    lead_id: int | None = None


@dataclass(slots=True)
class LeadChange:
    """What one transaction did to one lead: handed to listeners (webhook outbox, routing)."""

    lead_id: int
    email: str
    created: bool
    transitions: list[Transition]
    score_before: float | None
    score_after: float
    grade_before: str | None
    grade_after: str
    owner: str | None
    # Rows of the stored history a re-derivation voided (a late event changed what the
    # rules did from their moment on); `transitions` then holds the derived rows that
    # replace them. Announced as `lead.stage_corrected`.
    voided: list[Transition] = field(default_factory=list)

    @classmethod
    def of(cls, s: StoredLead, transitions: list[Transition], created: bool) -> LeadChange:
        """The change of a lead just saved (its card holds the new score and grade)."""
        card = s.state.card
        assert card is not None
        return cls._made(
            s, transitions, created, card.total, card.fit_grade + card.engagement_grade
        )

    @classmethod
    def saved_all(cls, items: list[tuple[StoredLead, list[Transition], bool]]) -> list[LeadChange]:
        """As `of` for each (lead, transitions, created) `save_leads` has just written: its
        row's score and grade (`row_scores`, the card's total and grade) are at hand, not
        computed again. One loop, no call per lead: it runs for every lead of every batch."""
        out: list[LeadChange] = []
        add = out.append
        for s, ts, created in items:
            lead = s.state
            scores = s.row_scores
            assert lead.id is not None and scores is not None
            voided = s.voided
            # As in `_made`, inline.
            add(
                cls(
                    lead.id,
                    lead.email,
                    created,
                    [t for t in ts if not is_absorbed(t)] if ts else [],
                    None if created else s.score_before,
                    scores[0],
                    None if created else s.grade_before,
                    scores[1],
                    s.owner,
                    [t for t in voided if not is_absorbed(t)] if voided else [],
                )
            )
        return out

    @classmethod
    def _made(
        cls, s: StoredLead, transitions: list[Transition], created: bool, score: float, grade: str
    ) -> LeadChange:
        lead = s.state
        assert lead.id is not None
        # Absorbed moves (from == to, `leads.derivation`) are stored facts, not moves:
        # no webhook, SLA or routing for them. (Most leads of a batch have neither list:
        # built once per lead per batch, so the empty case skips the comprehension.)
        voided = s.voided
        return cls(
            lead.id,
            lead.email,
            created,
            [t for t in transitions if not is_absorbed(t)] if transitions else [],
            None if created else s.score_before,
            score,
            None if created else s.grade_before,
            grade,
            s.owner,
            [t for t in voided if not is_absorbed(t)] if voided else [],
        )


Clock = Callable[[], float]
# Called inside the transaction that made the changes, so what they write
# (an outbox row, an assignment) commits or rolls back with them.
Listener = Callable[[Repository, list[LeadChange], float], None]
# May refuse a manual move (raise IllegalTransition), e.g. SAL → SQL before BANT passes.
StageGuard = Callable[[Repository, StoredLead, str, float], None]
# Adds keys to `show` output (owner details, SLA, qualification...).
ShowExtra = Callable[[Repository, dict[str, Any]], None]


def notify(
    listeners: list[Listener], repo: Repository, changes: list[LeadChange], now: float
) -> None:
    """Call the listeners; those marked `late` (the webhook outbox) run after the others, so
    what they announce includes what the others did in this transaction (routing's owner)."""
    for listener in sorted(listeners, key=lambda f: getattr(f, "late", False)):
        listener(repo, changes, now)


# Plug-ins (the sales workflow) act once a new version is active, e.g. enrolling the
# leads already in nurture in a `retroactive` track. Kept on the engine object, like
# the listeners, so the engine itself knows nothing of them.
ActivationHook = Callable[[], dict[str, Any]]
_ACTIVATION_HOOKS = "_leadgate_activation_hooks"


def activation_hooks(engine: Engine) -> list[ActivationHook]:
    """The hooks run after each activation (a plug-in appends to or removes from it)."""
    hooks: list[ActivationHook] | None = getattr(engine, _ACTIVATION_HOOKS, None)
    if hooks is None:
        hooks = []
        setattr(engine, _ACTIVATION_HOOKS, hooks)
    return hooks
