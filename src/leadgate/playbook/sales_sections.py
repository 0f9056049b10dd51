"""The playbook sections the sales workflow reads: `routing:`, `sla:`, `frameworks:`, `nurture:`.

Pydantic models in the playbook's own style (extra keys forbidden, every problem
named). They are fields of `leadgate.playbook.model.Playbook`, so `playbook check`,
`playbook schema` and the loader's file:line: field errors cover them. Pure: they
lean only on the pure `qualification`, `routing` and `sla` packages.

A validator that checks several fields at once starts its message with the path
of the offending key relative to its model (`rules[0].pool: ...`); the loader
turns that into the full path and its line.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from leadgate.playbook.base import Condition, Flag, _Strict
from leadgate.qualification.frameworks import BUNDLED
from leadgate.routing.strategies import STRATEGIES


def _check_template(v: str) -> None:
    """Refuse a template that does not parse (ValueError, for the validator).

    Jinja2 is imported here, by the first playbook that has a template, not with the
    playbook models: most playbooks have none, and `lead show` (which loads the active
    playbook) would pay ~0.02-0.03 CPU-s for it (issue 17).
    """
    from leadgate.playbook.templates import TemplateProblem, check_template

    try:
        check_template(v)
    except TemplateProblem as exc:
        raise ValueError(str(exc)) from None


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# -- routing ---------------------------------------------------------------------


class Pool(_Strict):
    """A group of reps that share leads: listed by name, or everyone of a team and/or role."""

    name: str = Field(min_length=1)
    reps: list[str] = Field(default_factory=list)
    team: str | None = None
    role: str | None = None
    strategy: str = "round_robin"
    weights: dict[str, float] = Field(default_factory=dict)

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        if v not in STRATEGIES:
            raise ValueError(f"unknown strategy '{v}': one of {', '.join(STRATEGIES)}")
        return v

    @field_validator("role")
    @classmethod
    def _role(cls, v: str | None) -> str | None:
        if v is not None and v not in ("bdr", "ae", "manager"):
            raise ValueError(f"unknown role '{v}': one of bdr, ae, manager")
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for rep, w in v.items():
            if w <= 0:
                raise ValueError(f"weight of '{rep}' must be above 0")
        return v

    @model_validator(mode="after")
    def _members(self) -> Pool:
        if not self.reps and self.team is None and self.role is None:
            raise ValueError(f"pool '{self.name}' needs reps, a team or a role")
        return self


class RouteRule(_Strict):
    """The first rule whose `if` matches the lead picks its pool (no `if`: always)."""

    name: str = Field(min_length=1)
    if_: Condition | None = Field(default=None, alias="if")
    pool: str = Field(min_length=1)


class RoutingSection(_Strict):
    """MQLs go to BDR pools by `rules`; SQLs to AE pools by `handoff_rules`."""

    pools: list[Pool] = Field(default_factory=list)
    rules: list[RouteRule] = Field(default_factory=list)
    default_pool: str | None = None
    handoff_rules: list[RouteRule] = Field(default_factory=list)
    handoff_default_pool: str | None = None
    account_matching: Flag = True
    free_email_domains: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pools_known(self) -> RoutingSection:
        seen: set[str] = set()
        for i, p in enumerate(self.pools):
            if p.name in seen:
                raise ValueError(f"pools[{i}].name: two pools are named '{p.name}'")
            seen.add(p.name)
        for where, rules in (("rules", self.rules), ("handoff_rules", self.handoff_rules)):
            for i, r in enumerate(rules):
                if r.pool not in seen:
                    raise ValueError(
                        f"{where}[{i}].pool: unknown pool '{r.pool}'{_pools_hint(r.pool, seen)}"
                    )
        for key in ("default_pool", "handoff_default_pool"):
            v = getattr(self, key)
            if v is not None and v not in seen:
                raise ValueError(f"{key}: unknown pool '{v}'{_pools_hint(v, seen)}")
        return self


def _pools_hint(name: str, pools: set[str]) -> str:
    if not pools:
        return ": routing.pools defines none"
    close = difflib.get_close_matches(name, sorted(pools), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f": pools are {', '.join(sorted(pools))}"


# -- SLA -------------------------------------------------------------------------


class Calendar(_Strict):
    """Working time, used for reps who set none of their own. Holidays apply to everyone."""

    timezone: str = "UTC"
    days: list[str] | str = "mon-fri"
    hours: str = "09:00-17:00"
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone", "days", "hours")
    @classmethod
    def _parses(cls, v: Any, info: ValidationInfo) -> Any:
        # The calendar's own parsers judge each field (the SLA clock uses them too),
        # imported here: reading a stored playbook validates nothing (issue 17).
        from leadgate.sla import calendar

        parsers: dict[str | None, Any] = {
            "timezone": calendar.zone,
            "days": calendar.parse_days,
            "hours": calendar.parse_hours,
        }
        try:
            parsers[info.field_name](v)
        except calendar.CalendarError as exc:
            raise ValueError(exc.message) from None
        return v


class Escalation(_Strict):
    """What happens when an MQL is not accepted in time."""

    reassign: Flag = True
    notify: Flag = True  # a `lead.sla_breached` notice for the webhooks
    max_reassignments: int = Field(default=2, ge=0)


class SlaSection(_Strict):
    """`stages.sal.accept_within_hours` is counted in this calendar's working hours."""

    business_hours: Flag = True
    calendar: Calendar = Field(default_factory=Calendar)
    escalation: Escalation = Field(default_factory=Escalation)


# -- frameworks ------------------------------------------------------------------


class CriterionDef(_Strict):
    """One criterion of a custom framework."""

    key: str
    label: str | None = None
    prompt: str = ""

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"criterion key '{v}' must be lower_case letters, digits, _")
        return v


class CustomFramework(_Strict):
    """A framework of the playbook's own (select it with `stages.sql.framework`)."""

    label: str | None = None
    criteria: list[CriterionDef] = Field(min_length=1)
    min_criteria_met: int | None = Field(default=None, ge=0)
    required: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> CustomFramework:
        keys = [c.key for c in self.criteria]
        for i, k in enumerate(keys):
            if k in keys[:i]:
                raise ValueError(f"criteria[{i}].key: two criteria share the key '{k}'")
        for i, r in enumerate(self.required):
            if r not in keys:
                raise ValueError(f"required[{i}]: criterion '{r}' is not among the criteria")
        if self.min_criteria_met is not None and self.min_criteria_met > len(keys):
            raise ValueError(
                f"min_criteria_met: impossible policy: min_criteria_met {self.min_criteria_met} "
                f"with {len(keys)} criteria"
            )
        return self


# -- nurture ---------------------------------------------------------------------


class SendStep(_Strict):
    """Send one message: by e-mail (`smtp`, to the lead) or as a `lead.nurture_message`
    webhook. `subject`/`body` are Jinja2 templates over the lead's fields; `template`
    names one of `nurture.templates` instead."""

    channel: str
    template: str | None = None
    subject: str | None = None
    body: str | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if v not in ("smtp", "webhook"):
            raise ValueError(f"send.channel must be smtp or webhook, not '{v}'")
        return v

    @field_validator("subject", "body")
    @classmethod
    def _parses(cls, v: str | None) -> str | None:
        if v is not None:
            _check_template(v)
        return v

    @model_validator(mode="after")
    def _content(self) -> SendStep:
        if self.template is None and (self.subject is None or self.body is None):
            raise ValueError("send needs a template, or both subject and body")
        return self


Target = int | Literal["end"]


class BranchStep(_Strict):
    """Go to `goto` if the lead has an `on_event` event since the branch began; waits up
    to `within_days` for it (checked when the window closes), else goes to `else`
    (default: the next step). A target is a step index (from 0) or `end`."""

    on_event: str = Field(min_length=1)
    within_days: float | None = Field(default=None, gt=0)
    goto: Target
    else_: Target | None = Field(default=None, alias="else")


class NurtureStep(_Strict):
    """One step of a track: wait, send a message, or branch on an event."""

    wait_days: float | None = Field(default=None, gt=0)
    send: SendStep | None = None
    branch: BranchStep | None = None

    @model_validator(mode="after")
    def _one(self) -> NurtureStep:
        n = sum(x is not None for x in (self.wait_days, self.send, self.branch))
        if n != 1:
            raise ValueError("a step is exactly one of wait_days, send, branch")
        return self

    def waits(self) -> bool:
        """Whether this step can hold a lead until later (so a loop through it ends)."""
        return self.wait_days is not None or (
            self.branch is not None and self.branch.within_days is not None
        )


class NurtureTrack(_Strict):
    """A segment (condition) and the timed steps its nurtured leads go through.

    The condition sees the lead's fields plus `nurture_reason`, and its scores. `segment`
    names one of the playbook's `segments:`; the lead must be in it too."""

    name: str = Field(min_length=1)
    if_: Condition | None = Field(default=None, alias="if")
    segment: str | None = Field(default=None, min_length=1)
    steps: list[NurtureStep] = Field(min_length=1)
    # On activation, also enrol the leads already in nurture that match and are in no
    # track (otherwise only leads entering nurture from now on are enrolled).
    retroactive: bool = False

    @model_validator(mode="after")
    def _targets(self) -> NurtureTrack:
        n = len(self.steps)
        for i, st in enumerate(self.steps):
            if st.branch is None:
                continue
            for key, t in (("goto", st.branch.goto), ("else", st.branch.else_)):
                if t is None or t == "end":
                    continue
                assert isinstance(t, int)
                if not 0 <= t < n:
                    raise ValueError(
                        f"steps[{i}].branch.{key}: no step {t} (steps are 0 to {n - 1}, or end)"
                    )
                if t <= i and not any(s.waits() for s in self.steps[t : i + 1]):
                    raise ValueError(
                        f"steps[{i}].branch.{key}: going back to step {t} loops without a "
                        "wait; add a wait_days step or a within_days"
                    )
        return self


class SmtpSettings(_Strict):
    """Where e-mail goes. Environment variables override these (LEADGATE_SMTP_HOST, _PORT,
    _FROM, _STARTTLS, _SSL, _TIMEOUT); credentials only come from the environment
    (LEADGATE_SMTP_USER, LEADGATE_SMTP_PASSWORD), never from the playbook."""

    host: str | None = None
    port: int = Field(default=25, ge=1, le=65535)
    from_: str | None = Field(default=None, alias="from")
    starttls: Flag = False
    ssl: Flag = False
    timeout: float = Field(default=10.0, gt=0)


class MessageTemplate(_Strict):
    """A reusable message: subject and body templates."""

    subject: str
    body: str

    @field_validator("subject", "body")
    @classmethod
    def _parses(cls, v: str) -> str:
        _check_template(v)
        return v


class NurtureSection(_Strict):
    """Tracks (the first whose `if` matches a lead entering nurture enrols it), shared
    templates, SMTP settings, and the events after which no more e-mail is sent."""

    tracks: list[NurtureTrack] = Field(default_factory=list)
    templates: dict[str, MessageTemplate] = Field(default_factory=dict)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    stop_on_events: list[str] = Field(default_factory=lambda: ["unsubscribe"])

    @model_validator(mode="after")
    def _known(self) -> NurtureSection:
        seen: set[str] = set()
        for n, t in enumerate(self.tracks):
            if t.name in seen:
                raise ValueError(f"tracks[{n}].name: two tracks are named '{t.name}'")
            seen.add(t.name)
            for i, st in enumerate(t.steps):
                tpl = st.send.template if st.send is not None else None
                if tpl is not None and tpl not in self.templates:
                    raise ValueError(
                        f"tracks[{n}].steps[{i}].send.template: unknown template '{tpl}' "
                        f"in track '{t.name}'"
                    )
        return self


# -- together --------------------------------------------------------------------


class SalesSections(_Strict):
    """The four sections together, as the sales workflow reads them from a `Playbook`
    (or as handed to `leadgate.sales.install(engine, sections=...)`)."""

    routing: RoutingSection = Field(default_factory=RoutingSection)
    sla: SlaSection = Field(default_factory=SlaSection)
    frameworks: dict[str, CustomFramework] = Field(default_factory=dict)
    nurture: NurtureSection = Field(default_factory=NurtureSection)

    @field_validator("frameworks")
    @classmethod
    def _names(cls, v: dict[str, CustomFramework]) -> dict[str, CustomFramework]:
        return check_framework_names(v)


def check_framework_names(v: dict[str, CustomFramework]) -> dict[str, CustomFramework]:
    """Custom framework names are lower_case identifiers and do not shadow a bundled one."""
    for name in v:
        if not _NAME.match(name):
            raise ValueError(
                f"{name}: framework name '{name}' must be lower_case letters, digits, _"
            )
        if name in BUNDLED:
            raise ValueError(f"{name}: '{name}' is a bundled framework; give yours another name")
    return v
