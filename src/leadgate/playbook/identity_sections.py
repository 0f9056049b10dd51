"""The playbook's `identity:` section and `browser_events:` list (see docs/tracking.md).

`identity` says which spellings of an address are one person, beyond case and
surrounding spaces (always ignored):

    identity:
      ignore_dots: [gmail.com, googlemail.com]   # j.doe@ = jdoe@ at these domains
      strip_plus: [gmail.com, googlemail.com]    # jdoe+news@ = jdoe@ ("*": every domain)
      domain_aliases: {googlemail.com: gmail.com}

`browser_events` lists the event types a publishable `browser` key may post (the
tracker's `page_view` and `click`, say); any other type from such a key is refused.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from leadgate.playbook.base import _Strict
from leadgate.playbook.domains import spellings, to_unicode

# A domain as written in the playbook: lower-case labels, or "*" (every domain).
_DOMAIN = re.compile(r"(\*|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)")
# An event type a browser may send: a plain name (no spaces or control characters).
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
# Written by the engine or by forms on the server: never from a publishable key.
SERVER_ONLY_EVENTS = ("manual_adjustment", "form_submitted")


def _domain(d: str) -> str:
    """One domain as the rules compare it: lower-cased, an internationalised one in
    Unicode (`xn--bcher-kva.de` and `Bücher.de` are `bücher.de`), as every stored address
    spells it (`leadgate.playbook.domains`); or "*"."""
    key = to_unicode(d)
    ascii_key = next((s for s in spellings(key) if s.isascii()), None)
    if ascii_key is None or not _DOMAIN.fullmatch(ascii_key.lower()):
        raise ValueError(f"'{d}' is not a domain (like gmail.com) or '*'")
    return key


def _domains(v: list[str]) -> list[str]:
    """The domains of a list, each in every spelling (Unicode first: the one stored
    addresses have; the other still matches a lead migration 0018 left in its old one)."""
    out: list[str] = []
    for d in v:
        key = _domain(d)
        if key in out:
            raise ValueError(f"domain '{key}' is listed twice")
        out.append(key)
    return out + [s for k in out for s in spellings(k)[1:]]


class IdentitySection(_Strict):
    """Which addresses are one person (see the module docstring)."""

    ignore_dots: list[str] = Field(default_factory=list)
    strip_plus: list[str] = Field(default_factory=list)
    domain_aliases: dict[str, str] = Field(default_factory=dict)

    @field_validator("ignore_dots", "strip_plus")
    @classmethod
    def _check_domains(cls, v: list[str]) -> list[str]:
        return _domains(v)

    @field_validator("domain_aliases")
    @classmethod
    def _check_aliases(cls, v: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for a, b in v.items():
            src, dst = _domain(a), _domain(b)
            if "*" in (src, dst):
                raise ValueError("domain_aliases maps one domain to another, not '*'")
            if src == dst:
                raise ValueError(f"'{src}' is an alias of itself")
            out[src] = dst
        for src, dst in out.items():
            if dst in out:
                raise ValueError(f"'{src}' maps to '{dst}', which is itself an alias")
        # Each alias in its other spelling too (see `_domains`); the key is the Unicode one.
        return out | {s: dst for src, dst in out.items() for s in spellings(src)[1:]}


def check_browser_events(v: list[str]) -> list[str]:
    """The `browser_events` list: plain event type names, each once, none server-only."""
    seen: list[str] = []
    for t in v:
        if not isinstance(t, str) or not _EVENT_TYPE.fullmatch(t):
            raise ValueError(f"'{t}' is not an event type (letters, digits, _ . : -)")
        if t in SERVER_ONLY_EVENTS:
            raise ValueError(f"'{t}' is written on the server only, never by a browser")
        if t in seen:
            raise ValueError(f"event type '{t}' is listed twice")
        seen.append(t)
    return seen
