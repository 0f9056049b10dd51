"""Saved segments: named conditions over what is known of a lead, in the rules' language.

A playbook's `segments:` maps a name to a condition. A segment sees the lead's
attributes (plus `email` and `email_domain`, as fit rules do) and, under these names,
its stored state: `stage`, `grade` (B2), `fit_grade` (B), `engagement_grade` (2) and
`owner`; `source` is the attribute of that name. Score tests read the stored scores
(`fit`, `engagement`, `total`) and `predicted` (the probability `leadgate predict` stored
as the `predicted` attribute; none when absent). Pure: the store-side twin, which selects
the same leads in SQL, is `leadgate.analytics.sqlsegments`.

    segments:
      hot_enterprise:
        all:
          - {field: company_size, op: gt, value: 1000}
          - {score: fit, op: gte, value: 40}
      open_mqls: {field: stage, op: eq, value: mql}

Example:
    >>> from leadgate.playbook.model import FieldCondition
    >>> seg = compile_segment(FieldCondition(field="stage", op="eq", value="MQL"))
    >>> fields, scores = lead_view("ana@acme.io", {"stage": "x"}, stage="mql", grade="B2",
    ...                            owner=None, fit=30.0, engagement=35.0, total=65.0)
    >>> seg(fields, scores), fields["fit_grade"], fields["email_domain"]
    (True, 'B', 'acme.io')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from leadgate.playbook.base import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    NotCondition,
    _suggest,
)
from leadgate.playbook.conditions import Predicate, Scores, compile_condition

# The lead's own state, under these field names (they win over attributes so named).
LEAD_FIELDS = ("stage", "grade", "fit_grade", "engagement_grade", "owner")
# Field names that are scores: a segment tests them with {score: ...}, never as fields.
_SCORE_FIELDS = ("fit", "engagement", "total", "score")
SEGMENT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_STAGES = ("lead", "mql", "sal", "sql", "sqo", "customer", "nurture", "disqualified")
_VALUES: dict[str, tuple[str, ...]] = {
    "stage": _STAGES,
    "grade": tuple(f + e for f in "ABCD" for e in "1234"),
    "fit_grade": tuple("ABCD"),
    "engagement_grade": tuple("1234"),
}


def predicted_of(attributes: Mapping[str, Any]) -> float | None:
    """The stored probability: the `predicted` attribute when it is a JSON number."""
    v = attributes.get("predicted")
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def lead_view(
    email: str,
    attributes: Mapping[str, Any],
    *,
    stage: str,
    grade: str | None,
    owner: str | None,
    fit: float | None,
    engagement: float | None,
    total: float | None,
) -> tuple[dict[str, Any], Scores]:
    """(fields, scores) as a segment sees a stored lead (see the module doc)."""
    fields = dict(attributes)
    fields.setdefault("email", email)
    if "email_domain" not in fields:
        e = fields.get("email")
        dom = e.rsplit("@", 1)[1].strip().lower() if isinstance(e, str) and "@" in e else ""
        fields["email_domain"] = dom or None
    fields["stage"] = stage
    fields["grade"] = grade
    fields["fit_grade"] = grade[:1] if grade else None
    fields["engagement_grade"] = grade[1:] if grade else None
    fields["owner"] = owner
    scores = {
        "fit": fit,
        "engagement": engagement,
        "total": total,
        "predicted": predicted_of(attributes),
    }
    return fields, scores


def compile_segment(cond: Condition) -> Predicate:
    """The segment's test over `lead_view`'s (fields, scores)."""
    return compile_condition(cond)


def compile_segments(segments: Mapping[str, Condition]) -> dict[str, Predicate]:
    """Every segment of a playbook, compiled once."""
    return {name: compile_condition(c) for name, c in segments.items()}


def check_segments(segments: dict[str, Condition]) -> dict[str, Condition]:
    """Names are lower_case identifiers; lead-state fields take only values they can have
    (`stage: mqll` is an error, not a segment that is always empty)."""
    for name, cond in segments.items():
        if not SEGMENT_NAME.match(name):
            raise ValueError(f"{name}: segment name '{name}' must be lower_case letters, digits, _")
        _check(cond, name)
    return segments


def _check(cond: Condition, path: str) -> None:
    if isinstance(cond, AllCondition | AnyCondition):
        key = "all" if isinstance(cond, AllCondition) else "any"
        for i, c in enumerate(cond.all if isinstance(cond, AllCondition) else cond.any):
            _check(c, f"{path}.{key}[{i}]")
    elif isinstance(cond, NotCondition):
        _check(cond.not_, f"{path}.not")
    elif isinstance(cond, FieldCondition):
        if cond.field in _SCORE_FIELDS:
            score = "total" if cond.field == "score" else cond.field
            raise ValueError(
                f"{path}.field: '{cond.field}' is a score, not a field: write "
                f"{{score: {score}, op: ..., value: ...}}"
            )
        allowed = _VALUES.get(cond.field)
        if allowed is None or cond.op not in ("eq", "ne", "in", "not_in"):
            return
        values = cond.value if isinstance(cond.value, list) else [cond.value]
        for v in values:
            text = str(v).strip()
            key = text.lower() if cond.field == "stage" else text.upper()
            if key not in allowed:
                raise ValueError(
                    f"{path}.value: unknown {cond.field.replace('_', ' ')} '{text}'"
                    f"{_suggest(key, allowed)} (one of {', '.join(allowed)})"
                )
