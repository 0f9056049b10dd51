"""A domain named in a playbook, in both of its spellings: Unicode and IDNA ASCII (`xn--`).

Every way in stores an address's domain as email-validator spells it: in Unicode, by
UTS-46 (`x@XN--BCHER-KVA.DE` and `x@BÜCHER.de` are stored `x@bücher.de`). People write a
domain in a playbook either way, often as their mail server or a DNS console shows it. So
where the playbook names a domain (`email_domain` and `email` conditions,
`routing.free_email_domains`, the `identity:` section) the compiled comparison takes each
of its spellings: a rule written `xn--bcher-kva.de` matches `x@bücher.de`, and one written
`bücher.de` still matches a lead that migration 0018 left in its old `xn--` spelling. The
YAML is kept as written; only the compiled test changes, once per playbook, so testing a
lead costs what it did.

A value that is not a whole domain (`.xn--p1ai`, the suffix `.рф`; `xn--bcher-kva`, one
label) is spelled label by label; a label that is not valid IDNA (`xn--bch`, a cut-off
label) stays as written, and so does a value with no such label at all.

    >>> spellings("xn--bcher-kva.de")
    ('xn--bcher-kva.de', 'bücher.de')
    >>> spellings(".рф")
    ('.рф', '.xn--p1ai')
    >>> spellings("gmail.com"), spellings("xn--bch")
    (('gmail.com',), ('xn--bch',))
    >>> address_spellings("ann@xn--bcher-kva.de")
    ('ann@xn--bcher-kva.de', 'ann@bücher.de')

Pure: email-validator (the library that spelled the stored addresses) is imported only for
a value that has a non-ASCII character or an `xn--` label.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Lead fields whose text holds a domain: the address's own, and the address.
DOMAIN_FIELDS = frozenset({"email", "email_domain"})
# Longer text is no domain nor piece of one (RFC 1035's 253 characters, with room for a
# final dot): it stays as written, unspelled, whatever labels it holds.
_MAX_DOMAIN = 255


def _plain(text: str) -> bool:
    """ASCII without an `xn--` label: its only spelling (case aside, which tests ignore)."""
    return text.isascii() and "xn--" not in text.lower()


def _spell(domain: str) -> tuple[str, str] | None:
    """(Unicode, ASCII) spellings of a domain or of one label as email-validator gives
    them for an address there, or None when it is not valid IDNA."""
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(
            f"x@{domain}",
            check_deliverability=False,
            globally_deliverable=False,  # a label alone (`xn--p1ai`) is spelled too
            test_environment=True,
        )
    except EmailNotValidError:
        return None
    return checked.domain, checked.ascii_domain


def _respelled(text: str) -> tuple[str, str]:
    """`text` in Unicode and in ASCII: whole if it is a domain, else label by label."""
    whole = _spell(text)
    if whole is not None:
        return whole
    uni, asc = [], []
    for label in text.split("."):
        spelled = _spell(label) if label and not _plain(label) else None
        uni.append(spelled[0] if spelled else label)
        asc.append(spelled[1] if spelled else label)
    return ".".join(uni), ".".join(asc)


@lru_cache(maxsize=4096)
def spellings(value: str) -> tuple[str, ...]:
    """`value` as written, then in Unicode and in ASCII where those differ from it (case
    aside). Spaces around it are kept around each spelling."""
    if _plain(value):
        return (value,)
    core = value.strip()
    if not core or len(core) > _MAX_DOMAIN:
        return (value,)
    head, tail = value[: value.index(core)], value[value.index(core) + len(core) :]
    out = [value]
    for spelled in _respelled(unicodedata.normalize("NFC", core)):
        out.append(f"{head}{spelled}{tail}")
    return _distinct(out)


@lru_cache(maxsize=4096)
def address_spellings(value: str) -> tuple[str, ...]:
    """An address (or a piece of one) as `email` conditions compare it: in NFC, as every
    stored address is, and the part after its last @ in each spelling of a domain."""
    local, at, domain = unicodedata.normalize("NFC", value).rpartition("@")
    if not at:
        return _distinct([value, domain])
    return _distinct([value, *(f"{local}@{d}" for d in spellings(domain))])


def field_spellings(field: str, value: str) -> tuple[str, ...]:
    """The texts a condition on `field` compares with in place of `value`: its spellings
    on a field that holds a domain, else `value` alone."""
    if field == "email_domain":
        return spellings(value)
    if field == "email":
        return address_spellings(value)
    return (value,)


def to_unicode(domain: str) -> str:
    """A domain as stored addresses spell it (`XN--BCHER-KVA.DE` is `bücher.de`), lower-
    cased; as written (lower-cased) when it is not valid IDNA."""
    key = domain.strip().lower()
    if _plain(key):
        return key
    return _respelled(unicodedata.normalize("NFC", key))[0]


def domain_set(domains: list[str]) -> frozenset[str]:
    """A playbook's list of domains as a set to test a lead's domain against: each one
    lower-cased, in every spelling."""
    return frozenset(s.strip().lower() for d in domains for s in spellings(d))


def _distinct(texts: list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for t in texts:
        seen.setdefault(t.casefold(), t)
    return tuple(seen.values())
