"""Playbook schema (Pydantic v2): what a valid playbook looks like.

Validation lives here so a bad playbook is refused when it is loaded, never
when a lead happens to hit the broken rule. Cross-field checks (grade order,
regexes, duplicate names) are validators on the models.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

FIELD_OPS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "matches",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "exists",
)
SCORE_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
SCORE_NAMES = ("fit", "engagement", "total", "predicted")
STAGES = ("lead", "mql", "sal", "sql", "sqo", "customer", "nurture", "disqualified")
FRAMEWORKS = ("bant", "champ", "anum", "meddic", "gpctba_ci")
# Event types the engine itself writes; rules may not score them.
RESERVED_EVENTS = ("manual_adjustment",)


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldCondition(_Strict):
    """`{field, op, value}`: a test on a lead attribute or an event property."""

    field: str = Field(min_length=1)
    op: str
    value: Any = None

    @field_validator("op")
    @classmethod
    def _known_op(cls, v: str) -> str:
        if v not in FIELD_OPS:
            raise ValueError(f"unknown operator '{v}'{_suggest(v, FIELD_OPS)}")
        return v

    @model_validator(mode="after")
    def _value_fits_op(self) -> FieldCondition:
        op, v = self.op, self.value
        if op in ("in", "not_in"):
            if not isinstance(v, list) or not v:
                raise ValueError(f"'{op}' needs a non-empty list as value")
        elif op == "between":
            _check_between(v)
        elif op in ("gt", "gte", "lt", "lte"):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"'{op}' needs a number as value, got {v!r}")
        elif op == "matches":
            if not isinstance(v, str):
                raise ValueError("'matches' needs a regular expression string as value")
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"bad regular expression {v!r}: {exc}") from None
        elif op == "exists":
            if v is None:
                object.__setattr__(self, "value", True)
            elif not isinstance(v, bool):
                raise ValueError("'exists' takes true or false as value")
        elif op == "contains":
            if v is None or isinstance(v, list | dict):
                raise ValueError("'contains' needs a string or number as value")
        elif v is None or isinstance(v, dict):
            raise ValueError(f"'{op}' needs a value")
        return self


def _check_between(v: Any) -> None:
    if (
        not isinstance(v, list)
        or len(v) != 2
        or any(isinstance(x, bool) or not isinstance(x, int | float) for x in v)
    ):
        raise ValueError(f"'between' needs [low, high] numbers, got {v!r}")
    if v[0] > v[1]:
        raise ValueError(f"'between' low {v[0]} is above high {v[1]}: no value can match")


class ScoreCondition(_Strict):
    """`{score: fit|engagement|total|predicted, op, value}`."""

    score: str
    op: str
    value: Any

    @field_validator("score")
    @classmethod
    def _known_score(cls, v: str) -> str:
        if v not in SCORE_NAMES:
            raise ValueError(f"unknown score '{v}'{_suggest(v, SCORE_NAMES)}")
        return v

    @field_validator("op")
    @classmethod
    def _known_op(cls, v: str) -> str:
        if v not in SCORE_OPS:
            raise ValueError(f"unknown score operator '{v}'{_suggest(v, SCORE_OPS)}")
        return v

    @model_validator(mode="after")
    def _numeric(self) -> ScoreCondition:
        if self.op == "between":
            _check_between(self.value)
        elif isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise ValueError(f"score conditions compare with a number, got {self.value!r}")
        return self


class AllCondition(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotCondition(_Strict):
    not_: Condition = Field(alias="not")


def _condition_kind(v: Any) -> str | None:
    if isinstance(v, BaseModel):
        return {
            FieldCondition: "<field>",
            ScoreCondition: "<score>",
            AllCondition: "<all>",
            AnyCondition: "<any>",
            NotCondition: "<not>",
        }.get(type(v))
    if not isinstance(v, dict):
        return None
    # Tags are spelled <kind> so they never look like a YAML key in error locations.
    for key in ("all", "any", "not", "score", "field"):
        if key in v:
            return f"<{key}>"
    return None


Condition = Annotated[
    Annotated[FieldCondition, Tag("<field>")]
    | Annotated[ScoreCondition, Tag("<score>")]
    | Annotated[AllCondition, Tag("<all>")]
    | Annotated[AnyCondition, Tag("<any>")]
    | Annotated[NotCondition, Tag("<not>")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message=(
            "a condition needs 'field' (with op, value), 'score', 'all', 'any' or 'not'"
        ),
    ),
]
AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()


def _reads_scores(cond: Any) -> bool:
    if isinstance(cond, ScoreCondition):
        return True
    if isinstance(cond, AllCondition):
        return any(_reads_scores(c) for c in cond.all)
    if isinstance(cond, AnyCondition):
        return any(_reads_scores(c) for c in cond.any)
    if isinstance(cond, NotCondition):
        return _reads_scores(cond.not_)
    return False


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

    decay: bool = False


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


class SqlStage(_Strict):
    framework: str = "bant"
    min_criteria_met: int = Field(default=4, ge=0)

    @field_validator("framework")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in FRAMEWORKS:
            raise ValueError(f"unknown framework '{v}'{_suggest(v, FRAMEWORKS)}")
        return v


class RecycleStage(_Strict):
    cooldown_days: float = Field(default=30, ge=0)
    mql_exit_engagement: float | None = None


class Skip(_Strict):
    from_: str = Field(alias="from")
    to: str

    @field_validator("from_", "to")
    @classmethod
    def _stage(cls, v: str) -> str:
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
        for stage in v:
            if stage not in STAGES:
                raise ValueError(f"unknown stage '{stage}'{_suggest(stage, STAGES)}")
        return v


class Playbook(_Strict):
    """A whole playbook. Immutable once loaded; activate a new version to change it."""

    name: str = Field(min_length=1)
    description: str | None = None
    fit: FitSection = Field(default_factory=FitSection)
    engagement: EngagementSection = Field(default_factory=EngagementSection)
    stages: Stages = Field(default_factory=Stages)

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
        return out
