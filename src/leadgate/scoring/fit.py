"""Fit score: points from lead attributes."""

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
            self._rules.append((rule.name, rule.points, test))

    def contributions(self, attributes: Mapping[str, Any]) -> list[tuple[str, float]]:
        """Every rule that matched, with its points (in playbook order)."""
        fields = attributes
        if "email_domain" not in attributes:
            fields = {**attributes, "email_domain": email_domain(attributes.get("email"))}
        return [(name, pts) for name, pts, test in self._rules if test(fields)]


def _fields_only(pred: Callable[[Mapping[str, Any], Mapping[str, float | None]], bool]) -> Any:
    empty: dict[str, float | None] = {}
    return lambda d: pred(d, empty)
