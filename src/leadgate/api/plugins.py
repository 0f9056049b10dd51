"""What the API's engine carries besides the core: the plug-ins every process that serves
the API installs, so an event stored by any of them is routed, announced and shown alike.

    prepare_engine(engine, ctx.mark_outbox)   # predictive view, sales routing, webhooks
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from leadgate.engine.engine import Engine
from leadgate.predictive.hooks import install as install_predictive
from leadgate.webhooks import OutboxWriter


def module_exists(name: str) -> bool:
    """Whether an optional module is installed (a missing parent counts as absent)."""
    # find_spec of a submodule imports its parent: a missing parent means "absent" too.
    parent = name.rsplit(".", 1)[0]
    if importlib.util.find_spec(parent) is None:
        return False
    return importlib.util.find_spec(name) is not None


def prepare_engine(engine: Engine, on_outbox: Callable[[], None]) -> None:
    """Install the plug-ins an API engine needs; `on_outbox` is told when a transaction
    wrote webhook outbox rows (the delivery loop wakes up)."""
    # GET /leads/{id} carries the stored conversion probability and its factors.
    install_predictive(engine)
    if module_exists("leadgate.sales.service"):
        # At start, not on the first sales request: an MQL posted before any sales call
        # must be routed and get its SLA too, in every process that writes events.
        from leadgate.sales import install as install_sales

        install_sales(engine)
    if not any(isinstance(x, OutboxWriter) for x in engine.listeners):
        engine.listeners.append(OutboxWriter(on_outbox))
