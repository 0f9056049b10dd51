"""Fit (who they are) and engagement (what they did) scoring: pure functions, no I/O."""

from leadgate.scoring.engagement import EngagementRules, EngagementState, Event
from leadgate.scoring.fit import FitRules
from leadgate.scoring.grades import grade_engagement, grade_fit
from leadgate.scoring.scorecard import Contribution, ScoreCard, Scorer

__all__ = [
    "Contribution",
    "EngagementRules",
    "EngagementState",
    "Event",
    "FitRules",
    "ScoreCard",
    "Scorer",
    "grade_engagement",
    "grade_fit",
]
