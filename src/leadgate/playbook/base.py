"""The building blocks every playbook section shares: strict models and conditions.

Split from `model` so section models kept in their own modules (`sales_sections`)
can use conditions while `model` imports those sections into `Playbook`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from leadgate.playbook.regex import RegexError
from leadgate.playbook.regex import check as check_regex
from leadgate.playbook.timebox import tick

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


# Playbook numbers stay well inside what a float adds up exactly and what the stores
# keep: a rule worth 1e308 points would make two of them sum to infinity.
NUMBER_LIMIT = 1e15


def check_number(v: Any) -> None:
    """Refuse NaN, infinity and huge numbers (anywhere inside lists and mappings too).

    NaN compares false with everything, so `points: .nan` passed every range check
    and then failed every ingest; infinity turns sums into NaN.
    """
    if isinstance(v, bool):
        return
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"not a finite number ({v}): playbooks take finite numbers only")
    if isinstance(v, int | float) and abs(v) > NUMBER_LIMIT:
        raise ValueError(f"number too large ({v:.6g}): keep numbers within ±{NUMBER_LIMIT:.0e}")
    if isinstance(v, list | tuple):
        for x in v:
            check_number(x)
    elif isinstance(v, dict):
        for x in v.values():
            check_number(x)


def _flag(v: Any) -> Any:
    if not isinstance(v, bool):
        raise ValueError(f"takes true or false, not {v!r}")
    return v


# A yes/no setting: only YAML's true/false (Pydantic alone would also take "yes", "off", 1).
Flag = Annotated[bool, BeforeValidator(_flag)]


# What other tools call our operators. They are not accepted as aliases (one spelling
# per operator keeps playbooks diffable and the SQL compiler small); they only steer the
# error message to the right name.
_OP_SYNONYMS = {
    "equals": "eq",
    "equal": "eq",
    "is": "eq",
    "==": "eq",
    "=": "eq",
    "not_equals": "ne",
    "not_equal": "ne",
    "is_not": "ne",
    "!=": "ne",
    "<>": "ne",
    ">": "gt",
    "greater_than": "gt",
    "above": "gt",
    ">=": "gte",
    "at_least": "gte",
    "<": "lt",
    "less_than": "lt",
    "below": "lt",
    "<=": "lte",
    "at_most": "lte",
    "regex": "matches",
    "match": "matches",
    "like": "matches",
    "includes": "contains",
    "has": "contains",
    "one_of": "in",
    "any_of": "in",
    "none_of": "not_in",
    "range": "between",
    "present": "exists",
    "is_set": "exists",
}


def _suggest_op(word: str, ops: tuple[str, ...]) -> str:
    """A typo gets its nearest operator; another tool's name gets ours and the full list."""
    hint = _suggest(word, ops)
    if hint:
        return hint
    key = word.strip().lower().replace(" ", "_").replace("-", "_")
    near = difflib.get_close_matches(key, list(_OP_SYNONYMS), n=1, cutoff=0.75)
    target = _OP_SYNONYMS.get(key) or (_OP_SYNONYMS[near[0]] if near else None)
    listed = "operators: " + ", ".join(ops) + "; there are no aliases"
    if target in ops:
        return f" (did you mean '{target}'? {listed})"
    return f" ({listed})"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    @field_validator("*")
    @classmethod
    def _finite(cls, v: Any) -> Any:
        tick()  # every field of every model: the loader's time box holds inside validation
        check_number(v)
        return v


class FieldCondition(_Strict):
    """`{field, op, value}`: a test on a lead attribute or an event property."""

    field: str = Field(min_length=1)
    op: str
    value: Any = None

    @field_validator("op")
    @classmethod
    def _known_op(cls, v: str) -> str:
        if v not in FIELD_OPS:
            raise ValueError(f"unknown operator '{v}'{_suggest_op(v, FIELD_OPS)}")
        return v

    @model_validator(mode="after")
    def _value_fits_op(self) -> FieldCondition:
        op, v = self.op, self.value
        if op in ("in", "not_in"):
            if not isinstance(v, list) or not v:
                raise ValueError(f"'{op}' needs a non-empty list as value")
            for i, x in enumerate(v):
                if not _is_scalar(x):
                    raise ValueError(
                        f"'{op}' takes a list of text, numbers or true/false; item {i} is {x!r}"
                    )
        elif op == "between":
            _check_between(v)
        elif op in ("gt", "gte", "lt", "lte"):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"'{op}' needs a number as value, got {v!r}")
        elif op == "matches":
            if not isinstance(v, str):
                raise ValueError("'matches' needs a regular expression string as value")
            tick()
            try:
                re.compile(v)
                check_regex(v)  # the portable subset every SQL engine runs alike
            except (re.error, RegexError) as exc:
                # The pattern as the user wrote it: repr() would double every backslash.
                raise ValueError(f"bad regular expression '{v}': {exc}") from None
            except RecursionError:
                raise ValueError("regular expression nested too deeply") from None
        elif op == "exists":
            if v is None:
                object.__setattr__(self, "value", True)
            elif not isinstance(v, bool):
                raise ValueError("'exists' takes true or false as value")
        elif op == "contains":
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                raise ValueError(f"'contains' needs text or a number as value, got {v!r}")
        elif not _is_scalar(v):
            raise ValueError(
                f"'{op}' needs one value (text, a number or true/false), got {v!r}"
                + ("; use 'in' for a list" if isinstance(v, list) else "")
            )
        return self


def _is_scalar(v: Any) -> bool:
    """What eq/ne/in compare with: text, a number or a boolean (not null, list, mapping)."""
    return isinstance(v, str | int | float)  # bool is an int


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
            raise ValueError(f"unknown score operator '{v}'{_suggest_op(v, SCORE_OPS)}")
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
# No model_rebuild() here: with defer_build, the condition models resolve `Condition`
# when their validator is first needed (by then it is defined), and building them now
# cost every process that imports the playbook ~10-20 ms, including `lead show`
# (issue 17; tests/sales/test_unvalidated_defaults.py validates each one on its own).


def any_leaf(cond: Any, test: Callable[[Any], bool]) -> bool:
    """Whether `test` holds for any leaf test of a condition (through all/any/not)."""
    if isinstance(cond, AllCondition):
        return any(any_leaf(c, test) for c in cond.all)
    if isinstance(cond, AnyCondition):
        return any(any_leaf(c, test) for c in cond.any)
    if isinstance(cond, NotCondition):
        return any_leaf(cond.not_, test)
    return test(cond)


def _reads_scores(cond: Any) -> bool:
    return any_leaf(cond, lambda c: isinstance(c, ScoreCondition))
