"""The building blocks every playbook section shares: strict models and conditions.

Split from `model` so section models kept in their own modules (`sales_sections`)
can use conditions while `model` imports those sections into `Playbook`.
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

from leadgate.playbook.regex import RegexError
from leadgate.playbook.regex import check as check_regex

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
                check_regex(v)  # the portable subset every SQL engine runs alike
            except (re.error, RegexError) as exc:
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
