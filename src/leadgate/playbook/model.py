"""Playbook schema (Pydantic v2): what a valid playbook looks like.

Validation lives here so a bad playbook is refused when it is loaded, never
when a lead happens to hit the broken rule. Cross-field checks (grade order,
regexes, duplicate names) are validators on the models.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator, model_validator

from leadgate.playbook.base import FIELD_OPS as FIELD_OPS
from leadgate.playbook.base import SCORE_NAMES as SCORE_NAMES
from leadgate.playbook.base import SCORE_OPS as SCORE_OPS
from leadgate.playbook.base import AllCondition as AllCondition
from leadgate.playbook.base import AnyCondition as AnyCondition
from leadgate.playbook.base import Condition as Condition
from leadgate.playbook.base import FieldCondition as FieldCondition
from leadgate.playbook.base import Flag, _reads_scores, _Strict, _suggest, any_leaf
from leadgate.playbook.base import NotCondition as NotCondition
from leadgate.playbook.base import ScoreCondition as ScoreCondition
from leadgate.playbook.domains import DOMAIN_FIELDS
from leadgate.playbook.forms_section import Form, check_forms
from leadgate.playbook.identity_sections import IdentitySection, check_browser_events
from leadgate.playbook.sales_sections import (
    CustomFramework,
    NurtureSection,
    RoutingSection,
    SlaSection,
    check_framework_names,
)
from leadgate.playbook.segments import check_segments
from leadgate.qualification.frameworks import BUNDLED

STAGES = ("lead", "mql", "sal", "sql", "sqo", "customer", "nurture", "disqualified")
FRAMEWORKS = tuple(BUNDLED)
# Event types the engine itself writes; rules may not score them.
RESERVED_EVENTS = ("manual_adjustment",)


def _xn_pattern(cond: Any) -> bool:
    """A `matches` on a domain field whose pattern names an `xn--` label (see warnings)."""
    return (
        isinstance(cond, FieldCondition)
        and cond.op == "matches"
        and cond.field in DOMAIN_FIELDS
        and "xn--" in str(cond.value).lower()
    )


class _PointsRule(_Strict):
    """What fit and engagement rules share: points, and a condition that reads no score."""

    points: float

    @field_validator("if_", check_fields=False)
    @classmethod
    def _fields_only(cls, v: Any) -> Any:
        if _reads_scores(v):
            raise ValueError("rules test fields and properties, not scores")
        return v

    @field_validator("points")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("a rule worth 0 points does nothing")
        return v


class FitRule(_PointsRule):
    """Points for who the lead is (explicit data)."""

    name: str = Field(min_length=1)
    if_: Condition = Field(alias="if")


def _grades_descending(grades: dict[str, float], names: tuple[str, ...]) -> dict[str, float]:
    unknown = [g for g in grades if g not in names]
    if unknown:
        raise ValueError(f"unknown grade '{unknown[0]}': grades are {', '.join(names)}")
    missing = [g for g in names if g not in grades]
    if missing:
        raise ValueError(f"grade '{missing[0]}' has no threshold")
    values = [grades[g] for g in names]
    for hi, lo, a, b in zip(values, values[1:], names, names[1:], strict=False):
        if hi <= lo:
            raise ValueError(f"impossible thresholds: {a} ({hi}) must be above {b} ({lo})")
    return {g: grades[g] for g in names}


class FitSection(_Strict):
    rules: list[FitRule] = Field(default_factory=list)
    grades: dict[str, float] = Field(default_factory=lambda: {"A": 50.0, "B": 30.0, "C": 10.0})

    @field_validator("grades")
    @classmethod
    def _grades(cls, v: dict[str, float]) -> dict[str, float]:
        return _grades_descending(v, ("A", "B", "C"))

    @model_validator(mode="after")
    def _unique_names(self) -> FitSection:
        _unique([r.name for r in self.rules], "fit rule")
        return self


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"two {what}s are named '{n}': names must be unique")
        seen.add(n)


class WindowCap(_Strict):
    """At most `count` scored occurrences in any rolling `days` window."""

    count: int = Field(ge=1)
    days: float = Field(gt=0)


class EngagementRule(_PointsRule):
    """Points for what the lead did (implicit data)."""

    event: str = Field(min_length=1)
    if_: Condition | None = Field(default=None, alias="if")
    max_per_lead: int | None = Field(default=None, ge=1)
    max_per_days: WindowCap | None = None
    name: str | None = None

    @field_validator("event")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_EVENTS:
            raise ValueError(f"'{v}' is written by leadgate itself and cannot be scored by a rule")
        return v

    @property
    def label(self) -> str:
        """The name shown in explanations: the given name, else the event (and its filter)."""
        if self.name:
            return self.name
        if isinstance(self.if_, FieldCondition):
            return f"{self.event} ({self.if_.field} {self.if_.op} {self.if_.value})"
        if self.if_ is not None:
            return f"{self.event} (filtered)"
        return self.event


class Adjustments(_Strict):
    """How manual point adjustments (`lead adjust`) behave."""

    decay: Flag = False


class EngagementSection(_Strict):
    half_life_days: float | None = Field(default=None, gt=0)
    rules: list[EngagementRule] = Field(default_factory=list)
    grades: dict[str, float] = Field(default_factory=lambda: {"1": 60.0, "2": 30.0, "3": 10.0})
    adjustments: Adjustments = Field(default_factory=Adjustments)
    known_events: list[str] = Field(default_factory=list)

    @field_validator("grades", mode="before")
    @classmethod
    def _grades(cls, v: Any) -> Any:
        if isinstance(v, dict):
            v = {str(k): val for k, val in v.items()}
            return _grades_descending(v, ("1", "2", "3"))
        return v

    @model_validator(mode="after")
    def _unique_labels(self) -> EngagementSection:
        _unique([r.label for r in self.rules], "engagement rule")
        return self


class MqlStage(_Strict):
    when: Condition | None = None
    hand_raisers: list[str] = Field(default_factory=list)


class SalStage(_Strict):
    accept_within_hours: float = Field(default=24, gt=0)

    @field_validator("accept_within_hours")
    @classmethod
    def _at_most_ninety_days(cls, v: float) -> float:
        # Longer is no acceptance SLA, and counted in working hours it could outrun the
        # three years a calendar is searched (`sla.add_business_hours`). (Infinity and
        # NaN are left to the finite check every field has, which names them.)
        if math.isfinite(v) and v > 2160:
            raise ValueError(f"{v:g} hours is over 90 days (2,160 hours): too long for an SLA")
        return v


class SqlStage(_Strict):
    """`framework` is a bundled one or one of the playbook's `frameworks:` (checked by
    `Playbook`, which sees both)."""

    framework: str = Field(default="bant", min_length=1)
    min_criteria_met: int = Field(default=4, ge=0)


class RecycleStage(_Strict):
    cooldown_days: float = Field(default=30, ge=0)
    mql_exit_engagement: float | None = None


class Skip(_Strict):
    from_: str = Field(alias="from")
    to: str

    @field_validator("from_", "to")
    @classmethod
    def _stage(cls, v: str) -> str:
        # Stage names ignore case everywhere (`stage set … SAL`), here too.
        v = v.strip().lower() if isinstance(v, str) else v
        if v not in STAGES:
            raise ValueError(f"unknown stage '{v}'{_suggest(v, STAGES)}")
        return v


class Stages(_Strict):
    mql: MqlStage = Field(default_factory=MqlStage)
    sal: SalStage = Field(default_factory=SalStage)
    sql: SqlStage = Field(default_factory=SqlStage)
    recycle: RecycleStage = Field(default_factory=RecycleStage)
    allow_skip: list[Skip] = Field(default_factory=list)
    reasons: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("reasons")
    @classmethod
    def _reason_stages(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for stage, listed in v.items():
            key = stage.strip().lower()  # stage names ignore case everywhere
            if key not in STAGES:
                raise ValueError(f"unknown stage '{stage}'{_suggest(key, STAGES)}")
            if key in out:
                raise ValueError(f"stage '{key}' is listed twice (names ignore case)")
            out[key] = listed
        return out


# Days an anonymous browser event (a visitor nobody identified) is kept when the playbook
# says nothing else (`retention.anonymous_events_days`; docs/privacy.md).
ANONYMOUS_EVENTS_DAYS = 90


class Retention(_Strict):
    """`retention:` - erase leads inactive (no event, no move, no edit) for longer than
    `erase_inactive_after_days` while in one of `stages`; delete anonymous browser events
    older than `anonymous_events_days` (see docs/privacy.md)."""

    erase_inactive_after_days: int | None = Field(default=None, ge=1)
    stages: list[str] = Field(default_factory=list)
    anonymous_events_days: int = Field(default=ANONYMOUS_EVENTS_DAYS, ge=1)

    @field_validator("stages")
    @classmethod
    def _stages(cls, v: list[str]) -> list[str]:
        out = []
        for s in v:
            key = s.strip().lower() if isinstance(s, str) else s
            if key not in STAGES:
                raise ValueError(f"unknown stage '{s}'{_suggest(key, STAGES)}")
            if key not in out:
                out.append(key)
        return out

    @model_validator(mode="after")
    def _erase_needs_stages(self) -> Retention:
        # The lead part is optional (a playbook may set only the anonymous events' days),
        # but half of it means nothing.
        if (self.erase_inactive_after_days is None) != (not self.stages):
            raise ValueError(
                "erase_inactive_after_days and stages go together: name both "
                "(erase leads inactive that long in those stages) or neither"
            )
        return self


class Playbook(_Strict):
    """A whole playbook. Immutable once loaded; activate a new version to change it."""

    name: str = Field(min_length=1)
    description: str | None = None
    fit: FitSection = Field(default_factory=FitSection)
    engagement: EngagementSection = Field(default_factory=EngagementSection)
    stages: Stages = Field(default_factory=Stages)
    # The sales workflow's sections (leadgate.sales reads them; see docs/sales.md).
    routing: RoutingSection = Field(default_factory=RoutingSection)
    sla: SlaSection = Field(default_factory=SlaSection)
    frameworks: dict[str, CustomFramework] = Field(default_factory=dict)
    nurture: NurtureSection = Field(default_factory=NurtureSection)
    # Lead-capture forms (leadgate.forms serves them; see docs/forms.md).
    forms: dict[str, Form] = Field(default_factory=dict)
    # Tracking and identity (docs/tracking.md): what a browser key may post, and which
    # spellings of an address are one person.
    browser_events: list[str] = Field(default_factory=list)
    identity: IdentitySection = Field(default_factory=IdentitySection)

    @field_validator("browser_events")
    @classmethod
    def _browser_events(cls, v: list[str]) -> list[str]:
        return check_browser_events(v)

    # Saved segments: named conditions over a lead's state (leadgate.playbook.segments).
    segments: dict[str, Condition] = Field(default_factory=dict)

    @field_validator("segments")
    @classmethod
    def _segments(cls, v: dict[str, Condition]) -> dict[str, Condition]:
        return check_segments(v)

    @model_validator(mode="after")
    def _track_segments(self) -> Playbook:
        for i, t in enumerate(self.nurture.tracks):
            if t.segment is not None and t.segment not in self.segments:
                names = ", ".join(self.segments) or "none defined"
                raise ValueError(
                    f"nurture.tracks[{i}].segment: unknown segment '{t.segment}'"
                    f"{_suggest(t.segment, list(self.segments))} (segments: {names})"
                )
        return self

    # People's rights: erasure of inactive leads (leadgate.privacy.retention).
    retention: Retention | None = None

    @field_validator("frameworks")
    @classmethod
    def _framework_names(cls, v: dict[str, CustomFramework]) -> dict[str, CustomFramework]:
        return check_framework_names(v)

    @model_validator(mode="after")
    def _framework_known(self) -> Playbook:
        name = self.stages.sql.framework
        if name not in FRAMEWORKS and name not in self.frameworks:
            choices = [*FRAMEWORKS, *self.frameworks]
            hint = _suggest(name, choices)
            defined = ", ".join(self.frameworks) or "none"
            raise ValueError(
                f"stages.sql.framework: unknown framework '{name}'{hint}: bundled are "
                f"{', '.join(FRAMEWORKS)}; defined in frameworks: {defined}"
            )
        return self

    @model_validator(mode="after")
    def _forms_fit(self) -> Playbook:
        if self.forms:
            name = self.stages.sql.framework
            custom = self.frameworks.get(name)
            if custom is None and name not in BUNDLED:
                return self  # reported by _framework_known
            keys = tuple(c.key for c in custom.criteria) if custom else BUNDLED[name].keys
            check_forms(self.forms, keys, name, self.stages.mql.hand_raisers)
        return self

    @model_validator(mode="after")
    def _mql_reachable(self) -> Playbook:
        mql = self.stages.mql
        exit_at = self.stages.recycle.mql_exit_engagement
        if mql.when is None and not mql.hand_raisers:
            raise ValueError("stages.mql needs a 'when' rule or at least one hand-raiser event")
        if exit_at is not None and isinstance(mql.when, AllCondition):
            for c in mql.when.all:
                if (
                    isinstance(c, ScoreCondition)
                    and c.score == "engagement"
                    and c.op in ("gte", "gt")
                    and isinstance(c.value, int | float)
                    and exit_at > c.value
                ):
                    raise ValueError(
                        f"impossible threshold: stages.recycle.mql_exit_engagement ({exit_at}) "
                        f"is above the MQL engagement threshold ({c.value}), so every MQL "
                        "would leave at once"
                    )
        return self

    def warnings(self) -> list[str]:
        """Things that are legal but probably wrong (an event type nobody sends)."""
        out: list[str] = []
        known = set(self.engagement.known_events)
        if known:
            for i, r in enumerate(self.engagement.rules):
                if r.event not in known:
                    out.append(
                        f"engagement.rules[{i}].event: event type '{r.event}' is not in "
                        f"engagement.known_events{_suggest(r.event, sorted(known))}"
                    )
            for ev in self.stages.mql.hand_raisers:
                if ev not in known:
                    out.append(f"stages.mql.hand_raisers: event type '{ev}' is not in known_events")
        for where, cond in self._conditions():
            if any_leaf(cond, _xn_pattern):
                out.append(
                    f"{where}: a 'matches' pattern on {'/'.join(sorted(DOMAIN_FIELDS))} with "
                    "'xn--' matches only leads still stored in that form: addresses are stored "
                    "with the domain in Unicode (bücher.de); write the pattern in Unicode, or "
                    "use eq/in/contains, which take either spelling"
                )
        return out

    def _conditions(self) -> list[tuple[str, Condition]]:
        """Every condition that tests a lead's fields, with where it is written."""
        out: list[tuple[str, Condition]] = [
            (f"fit.rules[{i}].if", r.if_) for i, r in enumerate(self.fit.rules)
        ]
        if self.stages.mql.when is not None:
            out.append(("stages.mql.when", self.stages.mql.when))
        for key in ("rules", "handoff_rules"):
            for i, rr in enumerate(getattr(self.routing, key)):
                if rr.if_ is not None:
                    out.append((f"routing.{key}[{i}].if", rr.if_))
        for i, t in enumerate(self.nurture.tracks):
            if t.if_ is not None:
                out.append((f"nurture.tracks[{i}].if", t.if_))
        out += [(f"segments.{name}", c) for name, c in self.segments.items()]
        return out
