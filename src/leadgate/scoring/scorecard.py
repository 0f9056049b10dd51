"""The whole score of a lead at a moment: fit, engagement, grades and the explanation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from leadgate.playbook.model import Playbook
from leadgate.scoring.engagement import EngagementRules, EngagementState
from leadgate.scoring.fit import FitRules
from leadgate.scoring.grades import grade_engagement, grade_fit


@dataclass(frozen=True, slots=True)
class Contribution:
    """One line of an explanation: a rule (or adjustment) and the points it gives now."""

    score: str  # "fit" or "engagement"
    rule: str
    points: float


class ScoreCard(NamedTuple):
    """Scores as of `as_of`. Each score is exactly the sum of its explanation lines.

    A value: nothing changes a card, a change makes a new one. A named tuple, not a
    dataclass: ingest builds one per lead per batch, and a tuple is built in C
    (`tuple.__new__(ScoreCard, values)` on the hot path, no Python `__init__`).
    """

    fit: float
    engagement: float
    fit_grade: str
    engagement_grade: str
    explanation: tuple[Contribution, ...]
    as_of: float
    playbook_version: int | None = None

    @property
    def total(self) -> float:
        """fit + engagement."""
        return round(self.fit + self.engagement, 2)

    @property
    def grade(self) -> str:
        """Combined grade such as "B2"."""
        return self.fit_grade + self.engagement_grade

    def scores(self) -> dict[str, float | None]:
        """The values score conditions read."""
        return {"fit": self.fit, "engagement": self.engagement, "total": self.total}


class Scorer:
    """A playbook compiled for scoring. Build once per playbook version, reuse for every lead."""

    def __init__(self, playbook: Playbook, version: int | None = None):
        self.playbook = playbook
        self.version = version
        self.fit_rules = FitRules(playbook.fit)
        self.engagement = EngagementRules(playbook.engagement)

    def card(
        self,
        attributes: Mapping[str, Any],
        state: EngagementState,
        as_of: float,
        fit_lines: list[tuple[str, float]] | None = None,
    ) -> ScoreCard:
        """Score a lead as of a moment from its attributes and engagement state.

        `fit_lines` may pass the fit rules' contributions when the caller has them cached.
        """
        lines: list[Contribution] = []
        fit = 0.0
        if fit_lines is None:
            fit_lines = self.fit_rules.contributions(attributes)
        for rule, pts in fit_lines:
            lines.append(Contribution("fit", rule, pts))
            fit += pts
        for label, value in state.fit_adjustments.items():
            # A sum of cents (0.1 + 0.2 is 0.30000000000000004 in binary): shown in cents.
            pts = round(value, 2)
            lines.append(Contribution("fit", label, pts))
            fit += pts
        eng = 0.0
        for label, raw in self.engagement.contributions(state, as_of):
            pts = round(raw, 2)
            eng += pts
            if pts != 0:
                lines.append(Contribution("engagement", label, pts))
        fit = round(fit, 2)
        eng = round(eng, 2)
        return ScoreCard(
            fit=fit,
            engagement=eng,
            fit_grade=grade_fit(fit, self.playbook.fit.grades),
            engagement_grade=grade_engagement(eng, self.playbook.engagement.grades),
            explanation=tuple(lines),
            as_of=as_of,
            playbook_version=self.version,
        )
