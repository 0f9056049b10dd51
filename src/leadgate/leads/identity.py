"""Which spellings of an address are one person: the canonical key of an email.

Case and surrounding spaces never make two people (`normalize_email`); the playbook's
`identity:` section may add rules per domain (see `IdentitySection`). Pure: no I/O.

Example: with `ignore_dots: [gmail.com]`, `strip_plus: [gmail.com]` and
`domain_aliases: {googlemail.com: gmail.com}`,
`canonical_email(" J.Doe+News@GoogleMail.com ", rules)` is `jdoe@gmail.com`.
"""

from __future__ import annotations

from leadgate.leads.record import normalize_email
from leadgate.playbook.identity_sections import IdentitySection


def _applies(domains: list[str], domain: str) -> bool:
    return "*" in domains or domain in domains


def canonical_email(email: str, rules: IdentitySection) -> str:
    """The key two addresses share when the rules say they are one person."""
    e = normalize_email(email)
    local, at, domain = e.rpartition("@")
    if not at:
        return e
    domain = rules.domain_aliases.get(domain, domain)
    if _applies(rules.strip_plus, domain) and "+" in local:
        stripped = local.split("+", 1)[0]
        local = stripped or local  # "+tag@" alone is a whole address, not a tag
    if _applies(rules.ignore_dots, domain):
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def has_rules(rules: IdentitySection) -> bool:
    """Whether any rule beyond case and spaces is in force (else the key is the email)."""
    return bool(rules.ignore_dots or rules.strip_plus or rules.domain_aliases)
