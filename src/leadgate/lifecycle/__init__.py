"""The stage machine: Lead → MQL → SAL → SQL → SQO → Customer, nurture, disqualified."""

from leadgate.lifecycle.stages import (
    FUNNEL,
    STAGES,
    IllegalTransition,
    Transition,
    allowed_targets,
    check_manual,
)

__all__ = [
    "FUNNEL",
    "STAGES",
    "IllegalTransition",
    "Transition",
    "allowed_targets",
    "check_manual",
]
