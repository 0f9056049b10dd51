"""Who gets a lead: pools, rules, strategies and account matching. Pure.

The names are imported on first use: the playbook's schema imports
`leadgate.routing.strategies` alone, and reading a stored playbook (every `lead show`)
does not need the routing rules (issue 17).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadgate.routing.core import (
        FREE_EMAIL_DOMAINS,
        STRATEGIES,
        AccountMatch,
        Candidate,
        Decision,
        PoolState,
        Router,
        RoutingRule,
        company_domain,
        decide,
        pick,
    )

__all__ = [
    "FREE_EMAIL_DOMAINS",
    "STRATEGIES",
    "AccountMatch",
    "Candidate",
    "Decision",
    "PoolState",
    "Router",
    "RoutingRule",
    "company_domain",
    "decide",
    "pick",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("leadgate.routing.core"), name)
    raise AttributeError(f"module 'leadgate.routing' has no attribute {name!r}")
