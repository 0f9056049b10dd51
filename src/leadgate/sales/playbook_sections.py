"""The sales sections of a playbook: now part of the playbook schema itself.

They live in `leadgate.playbook.sales_sections` (the core must not import this
adapter package); this module keeps the old import path working.
"""

from leadgate.playbook.sales_sections import (
    BranchStep,
    Calendar,
    CriterionDef,
    CustomFramework,
    Escalation,
    MessageTemplate,
    NurtureSection,
    NurtureStep,
    NurtureTrack,
    Pool,
    RouteRule,
    RoutingSection,
    SalesSections,
    SendStep,
    SlaSection,
    SmtpSettings,
    Target,
)

__all__ = [
    "BranchStep",
    "Calendar",
    "CriterionDef",
    "CustomFramework",
    "Escalation",
    "MessageTemplate",
    "NurtureSection",
    "NurtureStep",
    "NurtureTrack",
    "Pool",
    "RouteRule",
    "RoutingSection",
    "SalesSections",
    "SendStep",
    "SlaSection",
    "SmtpSettings",
    "Target",
]
