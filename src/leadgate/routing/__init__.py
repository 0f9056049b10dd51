"""Who gets a lead: pools, rules, strategies and account matching. Pure."""

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
