"""Which steps and fields a visitor sees, and what a finished form records. Pure.

`walk` goes through the form in the playbook's order with the answers given so far and
what is known of the lead: a step or field whose `show_if` fails is skipped; a field
whose attribute (or criterion) the store already knows is not asked again (progressive
profiling); once `ask_at_most` new questions are asked, the rest wait for a later visit.
The email, consent boxes and hidden fields are always on the form and never count.

    known = Known(attributes={"company_size": 300})
    steps = walk(form, known, {"email": "ann@acme.com", "need": "scoring"})
    steps[1].asked    # the fields of the second step this visitor is asked

`submission` checks a whole form the same way (every answer parsed, every asked
required field present) and says what it records: the lead's attributes, the
qualification answers with their notes, the consents given. The hosted page, the
snippet and the server all go through these two functions, so a step shown in the
browser is the step the server expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadgate.forms.answers import FormError, parse_answer, qualification_of
from leadgate.playbook.base import Condition
from leadgate.playbook.conditions import Predicate, compile_condition
from leadgate.playbook.forms_section import Form, FormField, Step

# Field types that are always on the form and not counted by `ask_at_most`.
ALWAYS = ("email", "consent", "hidden")
_COMPILED: dict[int, tuple[Condition, Predicate]] = {}


def _holds(cond: Condition | None, ctx: Mapping[str, Any], scores: Mapping[str, Any]) -> bool:
    if cond is None:
        return True
    hit = _COMPILED.get(id(cond))
    if hit is None or hit[0] is not cond:
        hit = (cond, compile_condition(cond))
        _COMPILED[id(cond)] = hit  # the condition is kept alive with it: the id stays its own
    return hit[1](ctx, scores)


@dataclass(frozen=True, slots=True)
class Known:
    """What the store knows of the visitor's lead (nothing for a stranger)."""

    attributes: Mapping[str, Any] = field(default_factory=dict)
    # Criteria of the framework whose status is met or not_met.
    criteria: frozenset[str] = frozenset()
    scores: Mapping[str, float | None] = field(default_factory=dict)
    lead_id: int | None = None
    stage: str | None = None


@dataclass(frozen=True, slots=True)
class StepView:
    """A step as one visitor sees it: the fields asked (in order)."""

    index: int
    step: Step
    asked: tuple[FormField, ...]


def is_known(f: FormField, known: Known) -> bool:
    """Whether the store already holds what this field would tell."""
    if f.type in ALWAYS or (f.attribute is None and f.qualification is None):
        return False
    if f.attribute is not None and known.attributes.get(f.attribute) in (None, "", []):
        return False
    return f.qualification is None or f.qualification.criterion in known.criteria


def walk(
    form: Form, known: Known, answers: Mapping[str, Any], profile: bool = True
) -> list[StepView]:
    """The visible steps, each with the fields asked, given parsed `answers`.

    `profile=False`: every field whose `show_if` holds, known or not, uncapped.
    """
    ctx: dict[str, Any] = dict(known.attributes)
    asked_new = 0
    cap = form.ask_at_most
    out: list[StepView] = []
    for i, step in enumerate(form.steps):
        if not _holds(step.show_if, ctx, known.scores):
            continue
        asked: list[FormField] = []
        for f in step.fields:
            if not _holds(f.show_if, ctx, known.scores):
                continue
            counts = f.type not in ALWAYS
            if profile and (
                is_known(f, known) or (counts and cap is not None and asked_new >= cap)
            ):
                pass  # not asked on this visit
            else:
                asked.append(f)
                asked_new += counts
            # What later conditions read under the field's name: this visit's answer, else
            # what the store knows (the same whether or not the field was asked).
            value = answers.get(f.name)
            if value is None and f.attribute is not None:
                value = known.attributes.get(f.attribute)
            if value is not None:
                ctx[f.name] = value
                if f.attribute is not None:
                    ctx[f.attribute] = value
        if asked:
            out.append(StepView(i, step, tuple(asked)))
    return out


def parse_answers(form: Form, raw: Mapping[str, Any], lenient: bool = False) -> dict[str, Any]:
    """Every answer of `raw` parsed (the form's fields only; others are refused).

    `lenient`: answers that do not parse are left out instead (to show a form again
    with its error, on the steps the good answers open).
    """
    by_name = {f.name: f for f in form.fields}
    for key in raw:
        if key not in by_name and not lenient:
            raise FormError(key, "this form has no such field")
    out: dict[str, Any] = {}
    region: str | None = None
    for f in form.fields:  # in order: a phone reads the country answered before it
        if f.name in raw:
            try:
                value = parse_answer(f, raw[f.name], region)
            except FormError:
                if not lenient:
                    raise
                continue
            if value is not None and value is not False:
                out[f.name] = value
            if f.type == "country" and isinstance(value, str):
                region = value
    return out


def _check_required(view: StepView, answers: Mapping[str, Any]) -> None:
    for f in view.asked:
        if f.required and answers.get(f.name) in (None, False, []):
            raise FormError(f.name, "required" if f.type != "consent" else "consent is required")


def next_step(form: Form, known: Known, raw: Mapping[str, Any], current: int) -> StepView | None:
    """Check the step at form index `current` (-1: none yet) and give the next one.

    None: the form is complete (submit it). FormError names a bad or missing answer.
    """
    answers = parse_answers(form, raw)
    steps = walk(form, known, answers)
    for view in steps:
        if view.index <= current:
            _check_required(view, answers)
    return next((v for v in steps if v.index > current), None)


@dataclass(slots=True)
class Submission:
    """What a finished form records."""

    email: str
    answers: dict[str, Any]
    attributes: dict[str, Any]
    qualification: dict[str, tuple[str, str]]
    # (field name, consent text version, consent text) of each box ticked.
    consents: list[tuple[str, str, str]]


def submission(form: Form, known: Known, raw: Mapping[str, Any]) -> Submission:
    """Check a whole form's answers; what it records. Raises FormError naming a field.

    Answers to fields a visitor was not shown (a step hidden by an earlier answer she
    changed) are dropped; answers to fields skipped as already known are kept (the
    visitor may have been shown them before the store learnt them).
    """
    answers = parse_answers(form, raw)
    steps = walk(form, known, answers)
    for view in steps:
        _check_required(view, answers)
    open_fields = {f.name for v in walk(form, known, answers, profile=False) for f in v.asked}
    kept = {k: v for k, v in answers.items() if k in open_fields}
    email = kept.get(next(f.name for f in form.fields if f.type == "email"))
    if not isinstance(email, str):
        raise FormError(next(f.name for f in form.fields if f.type == "email"), "required")
    attributes: dict[str, Any] = {}
    qualification: dict[str, tuple[str, str]] = {}
    consents: list[tuple[str, str, str]] = []
    for f in form.fields:
        value = kept.get(f.name)
        if value is None:
            continue
        if f.attribute is not None:
            attributes[f.attribute] = value
        q = qualification_of(f, value)
        if q is not None and f.qualification is not None:
            qualification[f.qualification.criterion] = q
        if f.type == "consent" and value is True and f.consent is not None:
            consents.append((f.name, f.consent.version, f.consent.text))
    return Submission(email, kept, attributes, qualification, consents)
