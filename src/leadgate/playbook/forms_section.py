"""The playbook's `forms:` section: lead-capture forms, their steps, fields and spam rules.

A form is a list of steps, each a list of fields; `show_if` (the playbook's condition
language) hides a step or a field unless earlier answers or what is known of the lead
say otherwise. Each field may feed a lead attribute (`attribute:`) and/or a
qualification criterion (`qualification:`), so a prospect answering "budget approved"
records `budget=met` with her answer as its note:

    forms:
      demo:
        hand_raiser: demo_request          # a submission makes an MQL at once
        allowed_origins: ["https://www.example.com"]
        ask_at_most: 3
        steps:
          - fields:
              - {name: email, type: email, label: Work email, required: true}
              - {name: need, type: select, options: [scoring, routing, just looking]}
          - show_if: {field: need, op: ne, value: just looking}
            fields:
              - name: budget
                type: select
                options: [budget approved, no budget yet]
                qualification: {criterion: budget, answers: {budget approved: met}}

Pure schema, like `sales_sections`: `Playbook` checks what needs the whole playbook
(the framework's criteria, the hand-raiser events); the loader places every error at
file:line. The semantics (profiling, validation of answers) live in `leadgate.forms`.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from leadgate.playbook.base import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    Flag,
    NotCondition,
    _Strict,
)

FieldType = Literal[
    "email",
    "text",
    "textarea",
    "number",
    "select",
    "multi-select",
    "country",
    "phone",
    "checkbox",
    "consent",
    "hidden",
]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
FORM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
# Names the form itself uses on the wire (hosted page and snippet: lg_ticket, lg_step...).
RESERVED_PREFIX = "lg_"


def condition_fields(cond: Any) -> list[str]:
    """The field names a condition reads (in order of appearance)."""
    if isinstance(cond, FieldCondition):
        return [cond.field]
    if isinstance(cond, AllCondition):
        return [f for c in cond.all for f in condition_fields(c)]
    if isinstance(cond, AnyCondition):
        return [f for c in cond.any for f in condition_fields(c)]
    if isinstance(cond, NotCondition):
        return condition_fields(cond.not_)
    return []


class Option(_Strict):
    """A choice of a select: what is stored (`value`) and what is shown (`label`)."""

    value: str = Field(min_length=1, max_length=200)
    label: str | None = None


class QualificationMap(_Strict):
    """Which criterion an answer informs, and the status each answer records."""

    criterion: str = Field(min_length=1)
    # answer → met / not_met / unknown; answers not listed record nothing.
    answers: dict[str, Literal["met", "not_met", "unknown"]] = Field(min_length=1)


class ConsentText(_Strict):
    """The words a consent box shows, and their version (recorded with each consent)."""

    text: str = Field(min_length=1, max_length=2000)
    version: str = Field(min_length=1, max_length=64)


class FormField(_Strict):
    name: str
    type: FieldType
    label: str | None = None
    help: str | None = None
    required: Flag = False
    options: list[Option | str] = Field(default_factory=list)
    placeholder: str | None = None
    min: float | None = None
    max: float | None = None
    max_length: int = Field(default=500, ge=1, le=10_000)
    show_if: Condition | None = None
    # The lead attribute this answer is stored as (the email field is the lead's email).
    attribute: str | None = None
    qualification: QualificationMap | None = None
    consent: ConsentText | None = None
    # A hidden field's value when the page does not give one (`?name=` on the page URL).
    value: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not FIELD_NAME.match(v):
            raise ValueError(
                f"'{v}' is not a field name: lower-case letters, digits and _, starting "
                "with a letter"
            )
        if v.startswith(RESERVED_PREFIX):
            raise ValueError(f"names starting with '{RESERVED_PREFIX}' are the form's own")
        return v

    @field_validator("options")
    @classmethod
    def _options(cls, v: list[Option | str]) -> list[Option | str]:
        seen: set[str] = set()
        for i, o in enumerate(v):
            value = o if isinstance(o, str) else o.value
            if not value.strip():
                raise ValueError(f"option {i} is empty")
            if value.lower() in seen:
                raise ValueError(f"option '{value}' is listed twice")
            seen.add(value.lower())
        return v

    @property
    def choices(self) -> list[Option]:
        """The options as (value, label) pairs."""
        return [Option(value=o) if isinstance(o, str) else o for o in self.options]

    @property
    def text(self) -> str:
        """What the form shows as the field's label."""
        if self.type == "consent" and self.consent is not None and not self.label:
            return self.consent.text
        return self.label or self.name.replace("_", " ").capitalize()

    @model_validator(mode="after")
    def _consistent(self) -> FormField:
        t = self.type
        if t in ("select", "multi-select") and not self.options:
            raise ValueError(f"options: a {t} field needs its options")
        if t not in ("select", "multi-select") and self.options:
            raise ValueError(f"options: only select and multi-select fields take options, not {t}")
        if t == "consent" and self.consent is None:
            raise ValueError("consent: a consent field needs its text and version")
        if t != "consent" and self.consent is not None:
            raise ValueError("consent: only a consent field takes consent text")
        if t == "hidden" and self.required:
            raise ValueError("required: a hidden field is never asked, so it cannot be required")
        if t != "number" and (self.min is not None or self.max is not None):
            raise ValueError("min: only number fields take min and max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min: {self.min} is above max {self.max}")
        if self.attribute is not None:
            if t == "email":
                raise ValueError("attribute: the email field is the lead's email itself")
            if t == "consent":
                raise ValueError("attribute: a consent is recorded as a consent, not an attribute")
            if not FIELD_NAME.match(self.attribute):
                raise ValueError(f"attribute: '{self.attribute}' is not an attribute name")
        q = self.qualification
        if q is not None:
            if t in ("email", "consent", "hidden"):
                raise ValueError(f"qualification: a {t} field cannot answer a criterion")
            if t == "select":
                values = {o.value.lower() for o in self.choices}
                for answer in q.answers:
                    if answer.lower() not in values:
                        raise ValueError(
                            f"qualification.answers: '{answer}' is not one of the options"
                        )
        return self


class Step(_Strict):
    name: str | None = None
    title: str | None = None
    show_if: Condition | None = None
    fields: list[FormField] = Field(min_length=1)


class RateLimit(_Strict):
    """At most `count` submissions in any `minutes`-long window."""

    count: int = Field(ge=1)
    minutes: float = Field(gt=0)


class SpamRules(_Strict):
    # A field no person sees (hidden by style, skipped by screen readers): bots fill it.
    honeypot: str = "website"
    min_fill_seconds: float = Field(default=3.0, ge=0)
    per_ip: RateLimit | None = Field(default_factory=lambda: RateLimit(count=10, minutes=10))
    per_email: RateLimit | None = Field(default_factory=lambda: RateLimit(count=5, minutes=60))
    block_disposable: Flag = True
    check_deliverability: Flag = False

    @field_validator("honeypot")
    @classmethod
    def _honeypot(cls, v: str) -> str:
        if not FIELD_NAME.match(v):
            raise ValueError(f"'{v}' is not a field name")
        return v


class Form(_Strict):
    title: str | None = None
    description: str | None = None
    submit_label: str = "Send"
    thank_you: str = "Thank you: we will be in touch."
    # An event type of `stages.mql.hand_raisers`, sent with the submission.
    hand_raiser: str | None = None
    booking_url: str | None = None
    allowed_origins: list[str] = Field(default_factory=list)
    ask_at_most: int | None = Field(default=None, ge=1)
    spam: SpamRules = Field(default_factory=SpamRules)
    steps: list[Step] = Field(min_length=1)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        out = []
        for i, o in enumerate(v):
            o = o.strip().rstrip("/")
            if o != "*" and not _ORIGIN.match(o):
                raise ValueError(
                    f"origin {i} '{o}' is not scheme://host[:port] (no path), e.g. "
                    "https://www.example.com"
                )
            out.append(o.lower())
        return out

    @field_validator("booking_url")
    @classmethod
    def _booking(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://\S+$", v):
            raise ValueError(f"'{v}' is not an http(s) URL")
        return v

    @property
    def fields(self) -> list[FormField]:
        """Every field, in the playbook's order."""
        return [f for s in self.steps for f in s.fields]

    @model_validator(mode="after")
    def _consistent(self) -> Form:
        first_step = self.steps[0].fields
        emails = [
            (si, fi)
            for si, s in enumerate(self.steps)
            for fi, f in enumerate(s.fields)
            if f.type == "email"
        ]
        if len(emails) != 1:
            raise ValueError(
                "steps: a form needs exactly one email field (the lead's address), "
                f"found {len(emails)}"
            )
        si, fi = emails[0]
        if si != 0:
            raise ValueError(f"steps[{si}].fields[{fi}]: the email field belongs on the first step")
        if self.steps[0].show_if is not None:
            raise ValueError("steps[0].show_if: the first step is always shown")
        email = first_step[fi]
        if not email.required or email.show_if is not None:
            raise ValueError(f"steps[0].fields[{fi}]: the email field is required and always shown")
        seen: dict[str, tuple[int, int]] = {}
        for si, s in enumerate(self.steps):
            for fi, f in enumerate(s.fields):
                if f.name in seen:
                    raise ValueError(f"steps[{si}].fields[{fi}].name: '{f.name}' is used twice")
                if f.name == self.spam.honeypot:
                    raise ValueError(
                        f"steps[{si}].fields[{fi}].name: '{f.name}' is the honeypot's name"
                    )
                seen[f.name] = (si, fi)
        # show_if reads answers given before it: a later field is never answered yet.
        for si, s in enumerate(self.steps):
            for name in condition_fields(s.show_if):
                at = seen.get(name)
                if at is not None and at[0] >= si:
                    raise ValueError(
                        f"steps[{si}].show_if: reads '{name}', which is asked on this step "
                        "or later; a step may depend on earlier answers only"
                    )
            for fi, f in enumerate(s.fields):
                for name in condition_fields(f.show_if):
                    at = seen.get(name)
                    if at is not None and at >= (si, fi):
                        raise ValueError(
                            f"steps[{si}].fields[{fi}].show_if: reads '{name}', which comes "
                            "at or after this field"
                        )
        return self


def check_forms(
    forms: dict[str, Form], criteria: tuple[str, ...], framework: str, hand_raisers: list[str]
) -> None:
    """What needs the whole playbook: criteria of the framework in force, hand-raisers."""
    for name, form in forms.items():
        if not FORM_NAME.match(name):
            raise ValueError(
                f"forms.{name}: '{name}' is not a form name (lower-case letters, digits, _ and -)"
            )
        if form.hand_raiser is not None and form.hand_raiser not in hand_raisers:
            raise ValueError(
                f"forms.{name}.hand_raiser: '{form.hand_raiser}' is not one of "
                f"stages.mql.hand_raisers ({', '.join(hand_raisers) or 'none'})"
            )
        for si, s in enumerate(form.steps):
            for fi, f in enumerate(s.fields):
                q = f.qualification
                if q is not None and q.criterion not in criteria:
                    raise ValueError(
                        f"forms.{name}.steps[{si}].fields[{fi}].qualification.criterion: "
                        f"'{q.criterion}' is not a criterion of {framework} "
                        f"({', '.join(criteria)})"
                    )
