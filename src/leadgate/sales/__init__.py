"""The sales workflow: reps, routing, acceptance SLA, qualification, handoff, SQO, queue.

`install(engine)` registers the workflow's hooks on an Engine (assignment on MQL,
the SAL→SQL and SQL→SQO guards, the extra `lead show` keys) and returns the
`Sales` object; `sales_of(engine)` finds it again (installing on first use).
`attach(engine)` registers the same hooks without making the workflow: every CLI command
attaches it, and the first hook that needs the workflow makes it.

Nothing is imported eagerly here: the service module pulls in the store, the engine and
every part of the workflow, which a `leadgate lead show` does not need.
The playbook's own `routing:`/`sla:`/`frameworks:`/`nurture:` models live in
`leadgate.playbook.sales_sections` (the core owns its schema).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine, LeadChange
    from leadgate.qualification.frameworks import Framework, Policy
    from leadgate.sales.playbook_sections import SalesSections
    from leadgate.sales.service import Sales
    from leadgate.store.repository import Repository, StoredLead

_ATTR = "_leadgate_sales"
_HOOKS = "_leadgate_sales_hooks"


class _Hooks:
    """The workflow's engine hooks: each makes the workflow on its first call and hands
    over to it, except the show extra, which reads through `leadgate.sales.view` while no
    workflow is made. A one-shot `lead show` then never imports `leadgate.sales.service`
    (routing, the scheduler, nurture mail: a tenth of its start-up, issue 17)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._policies: dict[int, tuple[Framework, Policy]] = {}

    def _sales(self) -> Sales:
        return install(self.engine)

    def on_changes(self, repo: Repository, changes: list[LeadChange], now: float) -> None:
        self._sales().on_changes(repo, changes, now)

    def guard(self, repo: Repository, stored: StoredLead, to: str, now: float) -> None:
        self._sales().guard(repo, stored, to, now)

    def on_activate(self) -> dict[str, Any]:
        return self._sales().on_activate()

    def show_extra(self, repo: Repository, out: dict[str, Any]) -> None:
        made: Sales | None = getattr(self.engine, _ATTR, None)
        if made is not None:
            made.show_extra(repo, out)
            return
        # What the workflow made now would compile: the playbook's own sections.
        from leadgate.engine.engine import NoPlaybook
        from leadgate.sales import view

        version = view.active_version(repo)
        policy = self._policies.get(version)
        if policy is None:
            pb = self.engine.stored_playbook(repo, version)
            if pb is None:
                raise NoPlaybook("no active playbook: run `leadgate init`")
            policy = self._policies[version] = view.qualification_policy(pb, pb.frameworks)
        view.show_extra(repo, out, *policy, self.engine.clock())


def attach(engine: Engine) -> None:
    """Register the sales hooks on `engine` (idempotent) without making the workflow:
    it is made by the first hook that needs it, or by `install`/`sales_of`."""
    if getattr(engine, _HOOKS, None) is not None:
        return
    from leadgate.engine.changes import activation_hooks

    hooks = _Hooks(engine)
    engine.listeners.append(hooks.on_changes)
    engine.stage_guards.append(hooks.guard)
    engine.show_extras.append(hooks.show_extra)
    activation_hooks(engine).append(hooks.on_activate)
    setattr(engine, _HOOKS, hooks)


def install(
    engine: Engine,
    sections: SalesSections | Mapping[str, Any] | None = None,
    framework: str | None = None,
) -> Sales:
    """Register the sales hooks on `engine` (idempotent) and return the workflow.

    `sections` overrides the playbook's `routing:`/`sla:`/`frameworks:`/`nurture:`
    (for tests, or before the playbook model carries them); `framework` overrides
    `stages.sql.framework` the same way. The hooks, registered once, hand over to the
    workflow made last.
    """
    existing: Sales | None = getattr(engine, _ATTR, None)
    if existing is not None and sections is None and framework is None:
        return existing
    from leadgate.sales.service import Sales

    attach(engine)
    sales = Sales(engine, sections, framework)
    setattr(engine, _ATTR, sales)
    return sales


def sales_of(engine: Engine) -> Sales:
    """The workflow installed on `engine` (installed now if it was not)."""
    return install(engine)


def __getattr__(name: str) -> Any:
    if name == "Sales":
        from leadgate.sales.service import Sales

        return Sales
    if name == "SalesSections":
        from leadgate.sales.playbook_sections import SalesSections

        return SalesSections
    raise AttributeError(name)


__all__ = ["Sales", "SalesSections", "attach", "install", "sales_of"]
