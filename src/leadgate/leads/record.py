"""The lead as the core sees it."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadgate.scoring.engagement import EngagementState
from leadgate.scoring.scorecard import ScoreCard


def normalize_email(email: str) -> str:
    """The key leads are matched on: trimmed, lower-cased and in Unicode NFC (neither
    case nor a canonically-equivalent spelling makes two people).

    `josé@x.com` typed with a precomposed é (U+00E9) and `jose\u0301@x.com` (e and a
    combining acute, as macOS file names and some CRMs export it) are one address: NFC,
    as RFC 6532 section 3.1 asks and email-validator returns. Not NFKC: compatibility
    forms (`ﬁ`, `①`, full-width letters) may be distinct mailboxes to the server that
    owns the local part, and folding two people into one lead is worse than one person
    in two (a merge can join two leads; nothing splits one).
    """
    e = email.strip().lower()
    # Lower-casing can leave a string that is not NFC, so NFC comes after it; ASCII text
    # (nearly every address) is NFC already and `isascii` costs nothing.
    return e if e.isascii() else unicodedata.normalize("NFC", e)


@dataclass(slots=True)
class LeadState:
    """One lead's current state. The store saves it; the processor changes it."""

    email: str
    attributes: dict[str, Any]
    created_at: float
    id: int | None = None
    stage: str = "lead"
    stage_at: float = 0.0
    stage_reason: str | None = None
    # Whether decay may still take this MQL back to nurture: only when its
    # engagement was at or above the exit line when it became an MQL.
    exit_armed: bool = False
    engagement_state: EngagementState = field(default_factory=EngagementState)
    card: ScoreCard | None = None
    next_due_at: float | None = None
    # The last timer (decay exit, cooldown end) that fired without moving the lead.
    timer_spent_at: float | None = None
    # The latest moment a fact other than an event shaped this lead's history: a
    # person's move, or a playbook version taking over. An event at or before it
    # cannot be scored on top of the current state: the history is re-derived.
    settled_at: float = -math.inf
    playbook_version: int | None = None
    fit_cache: float | None = None
    fields_cache: dict[str, Any] | None = None
    fit_lines_cache: list[tuple[str, float]] | None = None
    # (fields and fit it was decided on, the deciding LeadProcessor, verdict) of the MQL
    # rule's fields-and-fit part.
    mql_gate_cache: tuple[Mapping[str, Any], float, object, bool] | None = None

    def __post_init__(self) -> None:
        if not self.stage_at:
            self.stage_at = self.created_at
