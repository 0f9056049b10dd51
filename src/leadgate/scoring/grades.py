"""Score → grade: fit A–D, engagement 1–4."""

from __future__ import annotations

from collections.abc import Mapping


def grade_fit(score: float, thresholds: Mapping[str, float]) -> str:
    """Fit grade: the first of A, B, C whose threshold the score reaches, else D."""
    for g in ("A", "B", "C"):
        if score >= thresholds[g]:
            return g
    return "D"


def grade_engagement(score: float, thresholds: Mapping[str, float]) -> str:
    """Engagement grade: the first of 1, 2, 3 whose threshold the score reaches, else 4."""
    for g in ("1", "2", "3"):
        if score >= thresholds[g]:
            return g
    return "4"
