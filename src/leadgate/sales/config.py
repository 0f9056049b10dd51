"""The sales settings of one playbook version, compiled once.

The sections come from the `Playbook` model's `routing:`/`sla:`/`frameworks:`/`nurture:`
fields, or from sections handed to `install()` (which then win).
"""

from __future__ import annotations

from dataclasses import dataclass

from leadgate.playbook.conditions import compile_condition
from leadgate.playbook.model import Playbook
from leadgate.playbook.sales_sections import Pool, RouteRule, SalesSections
from leadgate.qualification.frameworks import Framework, Policy
from leadgate.routing.core import Router, RoutingRule, free_mail_domains
from leadgate.sales.nurture import Tracks
from leadgate.sales.view import qualification_policy
from leadgate.sla.calendar import BusinessCalendar

_KEYS = ("routing", "sla", "frameworks", "nurture")
# With no routing section, MQLs rotate among every BDR and SQLs among every AE.
# Valid as written, so not validated: validating builds Pool's validator at import, for
# every command (issue 17). tests/sales test_default_pools_are_what_validation_makes.
DEFAULT_BDR_POOL = Pool.model_construct(name="bdrs", role="bdr")
DEFAULT_AE_POOL = Pool.model_construct(name="aes", role="ae")


@dataclass(frozen=True)
class SalesConfig:
    """Everything the sales workflow needs from one playbook version."""

    version: int | None
    playbook: Playbook
    sections: SalesSections
    framework: Framework
    policy: Policy
    accept_within_hours: float
    router: Router
    handoff_router: Router
    pools: dict[str, Pool]
    free_domains: frozenset[str]
    tracks: Tracks

    def calendar(
        self, timezone: str | None, hours: str | None, days: str | None
    ) -> BusinessCalendar:
        """A rep's calendar: their own zone/hours/days where set, the playbook's otherwise."""
        cal = self.sections.sla.calendar
        return BusinessCalendar.build(
            timezone or cal.timezone,
            days or cal.days,
            hours or cal.hours,
            cal.holidays,
        )


def sections_of(playbook: Playbook, raw_yaml: str | None = None) -> SalesSections:
    """The sales sections of a playbook: its `routing`/`sla`/`frameworks`/`nurture` fields.

    `raw_yaml` is no longer read (the playbook schema owns the sections, so a key the
    model does not know is refused at load time); it stays for existing callers.
    """
    del raw_yaml
    # Built without validating again: each section is the playbook's, validated when it
    # loaded (the frameworks' names by the same check_framework_names). Validating would
    # build SalesSections' own validator first, a cost every command that opens the store
    # paid (`lead show`: ~8 ms of its start-up, issue 17).
    return SalesSections.model_construct(**{k: getattr(playbook, k) for k in _KEYS})


def _rules(rules: list[RouteRule]) -> list[RoutingRule]:
    return [
        RoutingRule(r.name, r.pool, compile_condition(r.if_) if r.if_ is not None else None)
        for r in rules
    ]


def build_config(
    playbook: Playbook,
    version: int | None,
    sections: SalesSections,
    framework: str | None = None,
) -> SalesConfig:
    """Compile the sales settings of a playbook."""
    fw, policy = qualification_policy(playbook, sections.frameworks, framework)
    routing = sections.routing
    pools = {p.name: p for p in routing.pools}
    pools.setdefault(DEFAULT_BDR_POOL.name, DEFAULT_BDR_POOL)
    pools.setdefault(DEFAULT_AE_POOL.name, DEFAULT_AE_POOL)
    router = Router(_rules(routing.rules), routing.default_pool or DEFAULT_BDR_POOL.name)
    handoff = Router(
        _rules(routing.handoff_rules), routing.handoff_default_pool or DEFAULT_AE_POOL.name
    )
    free = free_mail_domains(routing.free_email_domains)
    return SalesConfig(
        version,
        playbook,
        sections,
        fw,
        policy,
        playbook.stages.sal.accept_within_hours,
        router,
        handoff,
        pools,
        free,
        Tracks(sections.nurture, playbook.segments),
    )
