"""Fit score: points from lead attributes, each matching rule's points in cents.

A rule of 10.337 points shows (and counts) 10.34, so two such rules make a fit of 20.68
and the explanation lines add up to the score shown, as engagement's lines do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from leadgate.playbook.conditions import compile_condition, compile_field
from leadgate.playbook.model import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    FitSection,
    NotCondition,
)


def email_domain(email: str | None) -> str | None:
    """The part after the last '@', lower-cased: what `email_domain` rules test."""
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


# Plain values, whose equality (with the same type) gives the same answer to every test.
_KEYABLE = frozenset({str, int, float, bool, type(None)})
# Distinct combinations of the read fields' values kept (cleared when full).
_CACHE_SIZE = 65536


class FitRules:
    """A playbook's fit rules, compiled once."""

    def __init__(self, section: FitSection):
        self.section = section
        self._rules: list[tuple[str, float, Callable[[Mapping[str, Any]], bool]]] = []
        # The fields the rules read: leads with the same values of them (same types)
        # match the same rules, so `lines` answers from a cache (many leads share a
        # title, a size, a country or an email domain).
        read: set[str] = set()
        for rule in section.rules:
            _fields_read(rule.if_, read)
        self._read = tuple(sorted(read))
        self._cache: dict[tuple[Any, ...], list[tuple[str, float]]] = {}
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

    def lines(self, attributes: Mapping[str, Any]) -> list[tuple[str, float]]:
        """`contributions`, from a cache keyed on the values of the fields the rules
        read when they are plain (text, numbers, booleans, none). The list may be shared
        between leads: do not change it."""
        fields = attributes
        if "email_domain" not in attributes:
            fields = {**attributes, "email_domain": email_domain(attributes.get("email"))}
        values = tuple(map(fields.get, self._read))
        types = tuple(map(type, values))
        if not _KEYABLE.issuperset(types):
            return self.contributions(fields)
        # Types too: 1, 1.0 and True are equal keys that some tests tell apart.
        key = values + types
        out = self._cache.get(key)
        if out is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            out = self._cache[key] = self.contributions(fields)
        return out


def _fields_read(cond: Condition | None, out: set[str]) -> None:
    """Add the names of the fields a condition tests to `out` (score tests read none)."""
    if isinstance(cond, FieldCondition):
        out.add(cond.field)
    elif isinstance(cond, AllCondition):
        for c in cond.all:
            _fields_read(c, out)
    elif isinstance(cond, AnyCondition):
        for c in cond.any:
            _fields_read(c, out)
    elif isinstance(cond, NotCondition):
        _fields_read(cond.not_, out)


def _fields_only(pred: Callable[[Mapping[str, Any], Mapping[str, float | None]], bool]) -> Any:
    empty: dict[str, float | None] = {}
    return lambda d: pred(d, empty)
