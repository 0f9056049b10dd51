"""The sales workflow: reps, routing, acceptance SLA, qualification, handoff, SQO, queue.

`install(engine)` registers the workflow's hooks on an Engine (assignment on MQL,
the SAL→SQL and SQL→SQO guards, the extra `lead show` keys) and returns the
`Sales` object; `sales_of(engine)` finds it again (installing on first use).

Nothing is imported eagerly here: `leadgate lead show` and the other commands install
the workflow on every call, and the service module pulls in the store and the engine.
The playbook's own `routing:`/`sla:`/`frameworks:`/`nurture:` models live in
`leadgate.playbook.sales_sections` (the core owns its schema).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine
    from leadgate.sales.playbook_sections import SalesSections
    from leadgate.sales.service import Sales

_ATTR = "_leadgate_sales"


def install(
    engine: Engine,
    sections: SalesSections | Mapping[str, Any] | None = None,
    framework: str | None = None,
) -> Sales:
    """Register the sales hooks on `engine` (idempotent) and return the workflow.

    `sections` overrides the playbook's `routing:`/`sla:`/`frameworks:`/`nurture:`
    (for tests, or before the playbook model carries them); `framework` overrides
    `stages.sql.framework` the same way.
    """
    from leadgate.engine.activation import activation_hooks
    from leadgate.sales.service import Sales

    existing: Sales | None = getattr(engine, _ATTR, None)
    if existing is not None and sections is None and framework is None:
        return existing
    sales = Sales(engine, sections, framework)
    if existing is not None:
        engine.listeners.remove(existing.on_changes)
        engine.stage_guards.remove(existing.guard)
        engine.show_extras.remove(existing.show_extra)
        activation_hooks(engine).remove(existing.on_activate)
    engine.listeners.append(sales.on_changes)
    engine.stage_guards.append(sales.guard)
    engine.show_extras.append(sales.show_extra)
    activation_hooks(engine).append(sales.on_activate)
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


__all__ = ["Sales", "SalesSections", "install", "sales_of"]
