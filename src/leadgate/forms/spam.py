"""Is this submission a bot's? The form's `spam:` rules, decided without I/O.

The adapter gathers the facts (the honeypot's value, seconds since the form was
served, recent submissions from this address and for this email, the email's domain)
and `verdict` answers with the first rule broken, or None:

    >>> verdict(SpamRules(), Facts(honeypot="", filled_seconds=0.3), frozenset())
    'too_fast'

Rejections are counted by reason (`leadgate forms rejections`), never stored as leads.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from leadgate.playbook.forms_section import SpamRules

# `origin`: a call from a page not in the form's allowed_origins (counted by the adapter).
REASONS = ("honeypot", "too_fast", "rate_ip", "rate_email", "disposable", "origin")
DETAILS = {
    "honeypot": "the form was filled by a robot",
    "too_fast": "the form was sent too fast after it was shown: take a moment and send again",
    "rate_ip": "too many submissions from this address: try again later",
    "rate_email": "too many submissions for this email: try again later",
    "disposable": "a disposable email address: use your work email",
}


@dataclass(frozen=True, slots=True)
class Facts:
    """What the adapter saw of one submission."""

    honeypot: str = ""
    filled_seconds: float = 1e9
    from_ip: int = 0  # submissions from this address within the rule's window, before this
    for_email: int = 0  # the same for this email
    domain: str = ""


def verdict(rules: SpamRules, facts: Facts, disposable: Container[str]) -> str | None:
    """The reason to refuse (one of REASONS), or None to accept."""
    if facts.honeypot.strip():
        return "honeypot"
    if facts.filled_seconds < rules.min_fill_seconds:
        return "too_fast"
    if rules.per_ip is not None and facts.from_ip >= rules.per_ip.count:
        return "rate_ip"
    if rules.per_email is not None and facts.for_email >= rules.per_email.count:
        return "rate_email"
    if rules.block_disposable and facts.domain and _disposable(facts.domain, disposable):
        return "disposable"
    return None


def _disposable(domain: str, listed: Container[str]) -> bool:
    # mail.mailinator.com is as disposable as mailinator.com.
    parts = domain.lower().split(".")
    return any(".".join(parts[i:]) in listed for i in range(len(parts) - 1))
