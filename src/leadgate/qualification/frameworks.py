"""What a discovery call must establish before an SAL may become an SQL.

A framework is a list of criteria, each answered met / not_met / unknown. Its
pass policy needs at least `min_criteria_met` of them met and every `required`
one met; the evaluation says exactly which are missing so a refusal can tell
the rep what to ask next.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

STATUSES = ("met", "not_met", "unknown")
_STATUS_ALIASES = {"not met": "not_met", "not-met": "not_met", "notmet": "not_met"}


class QualificationError(ValueError):
    """A bad answer: unknown criterion or value. `field` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class Criterion:
    """One thing to establish, with the question a rep asks to establish it."""

    key: str
    label: str
    prompt: str


@dataclass(frozen=True, slots=True)
class Framework:
    """A named set of criteria, with its own default policy."""

    name: str
    label: str
    criteria: tuple[Criterion, ...]
    min_criteria_met: int | None = None  # None: every criterion
    required: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Criterion keys in order."""
        return tuple(c.key for c in self.criteria)

    def criterion(self, key: str) -> Criterion:
        """A criterion by key (case-insensitive), or QualificationError with a suggestion."""
        k = key.strip().lower().replace("-", "_").replace(" ", "_")
        for c in self.criteria:
            if c.key == k:
                return c
        close = difflib.get_close_matches(k, list(self.keys), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise QualificationError(
            key,
            f"'{key}' is not a criterion of {self.label}{hint}: one of {', '.join(self.keys)}",
        )


def _fw(
    name: str, label: str, items: Iterable[tuple[str, str, str]], min_met: int | None = None
) -> Framework:
    return Framework(name, label, tuple(Criterion(k, lbl, p) for k, lbl, p in items), min_met)


BUNDLED: dict[str, Framework] = {
    f.name: f
    for f in (
        _fw(
            "bant",
            "BANT",
            [
                ("budget", "Budget", "Is there budget set aside for this, and how much?"),
                ("authority", "Authority", "Who signs off, and are they involved?"),
                ("need", "Need", "What problem must this solve, and what does it cost today?"),
                ("timeline", "Timeline", "When does a solution need to be in place?"),
            ],
        ),
        _fw(
            "champ",
            "CHAMP",
            [
                ("challenges", "Challenges", "What challenges are you trying to solve?"),
                ("authority", "Authority", "Who else is involved in the decision?"),
                ("money", "Money", "Is there budget, or a way to find it?"),
                ("prioritization", "Prioritization", "How high is this on your list, and why now?"),
            ],
        ),
        _fw(
            "anum",
            "ANUM",
            [
                ("authority", "Authority", "Are we talking to the person who decides?"),
                ("need", "Need", "What need would this meet?"),
                ("urgency", "Urgency", "What happens if nothing changes this quarter?"),
                ("money", "Money", "Can the budget be found?"),
            ],
        ),
        _fw(
            "meddic",
            "MEDDIC",
            [
                ("metrics", "Metrics", "Which numbers will prove this worked?"),
                ("economic_buyer", "Economic buyer", "Who owns the budget, and have we met?"),
                ("decision_criteria", "Decision criteria", "How will the options be compared?"),
                ("decision_process", "Decision process", "What are the steps to a signature?"),
                ("identify_pain", "Identify pain", "What pain makes this worth doing?"),
                ("champion", "Champion", "Who inside will sell this for us?"),
            ],
        ),
        _fw(
            "gpctba_ci",
            "GPCTBA/C&I",
            [
                ("goals", "Goals", "What are your goals for this year?"),
                ("plans", "Plans", "How do you plan to reach them?"),
                ("challenges", "Challenges", "What stands in the way?"),
                ("timeline", "Timeline", "By when must it be done?"),
                ("budget", "Budget", "What budget is there for it?"),
                ("authority", "Authority", "Who decides?"),
                (
                    "negative_consequences",
                    "Negative consequences",
                    "What happens if the goals are missed?",
                ),
                (
                    "positive_implications",
                    "Positive implications",
                    "What does success mean for you and the company?",
                ),
            ],
        ),
    )
}


def parse_status(value: str, field: str = "status") -> str:
    """'met', 'not_met' (or 'not met') or 'unknown', else QualificationError."""
    v = value.strip().lower()
    v = _STATUS_ALIASES.get(v, v)
    if v not in STATUSES:
        raise QualificationError(field, f"'{value}' is not an answer: one of {', '.join(STATUSES)}")
    return v


@dataclass(frozen=True, slots=True)
class Policy:
    """How many criteria must be met, and which ones always."""

    min_criteria_met: int
    required: tuple[str, ...] = ()

    @classmethod
    def for_framework(
        cls, fw: Framework, min_criteria_met: int | None = None, required: Iterable[str] = ()
    ) -> Policy:
        """The effective policy: an explicit minimum wins over the framework's, capped at the
        number of criteria (asking 4 of MEDDIC's 6 is fine; 7 of 6 could never pass)."""
        n = len(fw.criteria)
        want = min_criteria_met if min_criteria_met is not None else fw.min_criteria_met
        need = n if want is None else min(want, n)
        req: list[str] = []
        for r in (*fw.required, *required):
            key = fw.criterion(r).key
            if key not in req:
                req.append(key)
        return cls(need, tuple(req))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Where a lead stands against the policy."""

    framework: str
    passed: bool
    met: tuple[str, ...]
    missing: tuple[str, ...]  # criteria not met yet, required ones first
    required_missing: tuple[str, ...]
    needed: int

    def message(self, label: str) -> str:
        """One line a rep can act on."""
        if self.passed:
            return f"{label} passed ({len(self.met)} of {self.needed} needed met)"
        parts = []
        if len(self.met) < self.needed:
            parts.append(f"{len(self.met)} of {self.needed} criteria met")
        if self.required_missing:
            parts.append("required not met: " + ", ".join(self.required_missing))
        return f"{label} not passed ({'; '.join(parts)}); missing: {', '.join(self.missing)}"


def evaluate(fw: Framework, policy: Policy, answers: Mapping[str, str]) -> Evaluation:
    """Check the answers (criterion key → status) against the policy."""
    met = tuple(k for k in fw.keys if answers.get(k) == "met")
    req_missing = tuple(k for k in policy.required if answers.get(k) != "met")
    others = tuple(k for k in fw.keys if answers.get(k) != "met" and k not in req_missing)
    passed = len(met) >= policy.min_criteria_met and not req_missing
    return Evaluation(
        fw.name, passed, met, req_missing + others, req_missing, policy.min_criteria_met
    )
