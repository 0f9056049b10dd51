"""Qualification frameworks (BANT and friends) and their pass policies. Pure."""

from leadgate.qualification.frameworks import (
    BUNDLED,
    STATUSES,
    Criterion,
    Evaluation,
    Framework,
    Policy,
    QualificationError,
    evaluate,
    parse_status,
)

__all__ = [
    "BUNDLED",
    "STATUSES",
    "Criterion",
    "Evaluation",
    "Framework",
    "Policy",
    "QualificationError",
    "evaluate",
    "parse_status",
]
