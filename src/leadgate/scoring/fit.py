"""Fit score: points from lead attributes, each matching rule's points in cents.

A rule of 10.337 points shows (and counts) 10.34, so two such rules make a fit of 20.68
and the explanation lines add up to the score shown, as engagement's lines do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from leadgate.playbook.conditions import compile_condition, compile_field
from leadgate.playbook.model import FieldCondition, FitSection


def email_domain(email: str | None) -> str | None:
    """The part after the last '@', lower-cased: what `email_domain` rules test."""
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


class FitRules:
    """A playbook's fit rules, compiled once."""

    def __init__(self, section: FitSection):
        self.section = section
        self._rules: list[tuple[str, float, Callable[[Mapping[str, Any]], bool]]] = []
        for rule in section.rules:
            cond = rule.if_
            if isinstance(cond, FieldCondition):
                test = compile_field(cond)
            else:
                pred = compile_condition(cond)
                test = _fields_only(pred)
            # Cents here, so the lines shown and every sum of them (the card's fit, the
            # processor's, the compiled SQL's) agree exactly.
            self._rules.append((rule.name, round(rule.points, 2), test))

    def contributions(self, attributes: Mapping[str, Any]) -> list[tuple[str, float]]:
        """Every rule that matched, with its points in cents (in playbook order)."""
        fields = attributes
        if "email_domain" not in attributes:
            fields = {**attributes, "email_domain": email_domain(attributes.get("email"))}
        return [(name, pts) for name, pts, test in self._rules if test(fields)]


def _fields_only(pred: Callable[[Mapping[str, Any], Mapping[str, float | None]], bool]) -> Any:
    empty: dict[str, float | None] = {}
    return lambda d: pred(d, empty)
