"""The person an export or an erasure is about, and what erasure cuts out of text.

`Person.scrub` replaces the person's strings (their address, its local part, removed
values, their names word by word) with `[erased]`:

    >>> p = Person(1, "al@acme.com", {"first_name": "Al"})
    >>> p.add_tokens(["al@acme.com"]); p.add_words(["Al"])
    >>> p.scrub("met Al (al@acme.com) and Alan")
    'met [erased] ([erased]) and Alan'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# Attributes that identify a person and are never kept, even when a playbook reads them
# (a condition on them sees nothing after an erasure).
IDENTIFIERS = frozenset(
    {
        "email",
        "name",
        "first_name",
        "last_name",
        "full_name",
        "firstname",
        "lastname",
        "phone",
        "mobile",
        "mobile_phone",
        "phone_number",
        "address",
        "street",
        "street_address",
        "postal_code",
        "zip",
        "linkedin",
        "linkedin_url",
        "twitter",
        "ip",
        "ip_address",
        "birthday",
        "date_of_birth",
        "notes",
        "comment",
        "message",
    }
)
# Kept whatever the playbook reads: what reports break down by, not about the person.
REPORTED = frozenset({"source", "campaign", "country", "industry", "company_size"})
ERASED = "[erased]"
# Personal strings shorter than this are not cut out of free text (a two-letter country
# code or a first name like "Al" would cut through unrelated words).
MIN_TOKEN = 4


@dataclass
class Person:
    """One person while their data is exported or erased."""

    lead_id: int
    email: str
    attributes: dict[str, Any]
    # Fields kept on erasure (read by a stored playbook, or reported on), not identifiers.
    kept: frozenset[str] = frozenset()
    # Strings to cut out of free text: the address, its local part, every removed value.
    tokens: list[str] = field(default_factory=list)
    # Short names ("Al", "Jo") cut out as whole words only, so other words keep theirs.
    words: list[str] = field(default_factory=list)
    pseudonym: str = ""
    # Other addresses of the person (aliases a merge left, identity spellings, the one
    # an erasure was asked for): cut out wherever the lead's own address is.
    spellings: list[str] = field(default_factory=list)
    # Event ids that carried a personal string, and what they are called now.
    renamed: dict[str, str] = field(default_factory=dict)
    # Builds the replacement id for an event id (a keyed hash, see erase.py).
    rename: Callable[[str], str] = str
    _pattern: tuple[re.Pattern[str], re.Pattern[str] | None] | None = field(
        default=None, repr=False
    )

    @property
    def addresses(self) -> list[str]:
        """The lead's address first, then its other spellings."""
        return [self.email, *self.spellings]

    def add_tokens(self, values: Iterable[Any]) -> None:
        """Remember strings to cut out of free text (long enough, not kept values)."""
        for v in values:
            if isinstance(v, str):
                s = v.strip()
                if len(s) >= MIN_TOKEN and s not in self.tokens:
                    self.tokens.append(s)
            elif isinstance(v, dict):
                self.add_tokens(v.values())
            elif isinstance(v, list):
                self.add_tokens(v)
        self.tokens.sort(key=len, reverse=True)
        self._pattern = None

    def add_words(self, values: Iterable[Any]) -> None:
        """Remember identifiers (names) to cut out as whole words, however short."""
        for v in values:
            if isinstance(v, str):
                s = v.strip()
                if len(s) >= MIN_TOKEN:
                    self.add_tokens([s])
                # Letters only: digits would cut numbers out of JSON ("30" in 30.0).
                for w in re.findall(r"[^\W\d_]{2,}", s):
                    # JSON's own words stay: payloads are scrubbed as text.
                    if w not in self.words and w.lower() not in ("null", "true", "false"):
                        self.words.append(w)
        self.words.sort(key=len, reverse=True)
        self._pattern = None

    def scrub(self, text: str | None, words: bool = True) -> str | None:
        """Text with every personal string replaced by [erased] (case-insensitive);
        `words=False` leaves short names alone (for JSON we parse back: a name like
        "Null" must not cut through the syntax)."""
        if not text or not (self.tokens or (words and self.words)):
            return text
        pats = self._pattern
        if pats is None:
            parts = [re.escape(t) for t in self.tokens]
            only = re.compile("|".join(parts), re.IGNORECASE) if parts else None
            if self.words:
                parts.append(r"\b(?:" + "|".join(re.escape(w) for w in self.words) + r")\b")
            pats = (re.compile("|".join(parts), re.IGNORECASE), only)
            self._pattern = pats
        pat = pats[0] if words else pats[1]
        return text if pat is None else pat.sub(ERASED, text)

    def scrub_json(self, value: Any) -> Any:
        """A JSON value with every personal string cut out of its texts."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self.scrub_json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub_json(v) for v in value]
        return value

    def scrub_address(self, value: Any) -> Any:
        """A kept value (JSON) with only the address cut out (a URL that carried it):
        names and other strings stay, so the field reads as it did for the rules."""
        if isinstance(value, str):
            for form in (f for a in self.addresses for f in (a, quote(a, safe=""))):
                value = re.sub(re.escape(form), ERASED, value, flags=re.IGNORECASE)
            return value
        if isinstance(value, dict):
            return {k: self.scrub_address(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub_address(v) for v in value]
        return value

    def has_token(self, text: str | None) -> bool:
        """Whether text holds a personal string."""
        return bool(text) and self.scrub(text) != text
