"""The suppression list: addresses of erased people, kept as keyed hashes, so no way in
(imports, events, the API, forms) brings a person back until they consent again.

A hash is HMAC-SHA256 of the normalised address under a random secret made once per
store (`app_secrets` row `privacy-suppression`): the same address always gives the
same hash in one store, and the list alone (a dump, a backup) gives no address back,
not even by hashing a list of guessed addresses, without the secret.

Example:
    >>> h = address_hash("k" * 32, "Ana@Example.com ")
    >>> h == address_hash("k" * 32, "ana@example.com")
    True

The engine calls `refused(repo, emails, canonical)` for the leads a transaction would
create and for the other spellings that would land on an existing lead
(`engine/arrivals.py`, which `Engine.upsert_leads` and `Engine.ingest` both ask): every
way in goes through one of those. An erasure suppresses the address and its canonical key
under the playbook's `identity:` rules at that moment; a consent lifts both.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from leadgate.leads.record import normalize_email
from leadgate.store.repository import Repository

SECRET_NAME = "privacy-suppression"
# Why a suppressed address is refused, as callers show it.
REFUSED = (
    "suppressed: this person asked to be erased; record their consent "
    "(`leadgate person consent EMAIL`) before adding them again"
)


def normalise(email: str) -> str:
    """The form hashed: trimmed, lower-cased and NFC (`normalize_email`, as `check_email`
    stores addresses)."""
    return normalize_email(email)


def address_hash(secret: str, email: str) -> str:
    """HMAC-SHA256 (hex) of the normalised address."""
    return _hmac(secret, normalise(email))


def _hmac(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _hashes(secret: str, email: str) -> list[str]:
    """The hashes an erasure of this address may have left: of its normal form and, for
    a non-ASCII address, of the spellings an erasure before migration 0018 hashed it
    under (the address as stored then: its local part in NFD, `jose\u0301@x.com`; its
    domain in Punycode, `x@xn--bcher-kva.de`), which no migration can rewrite: the list
    keeps no address."""
    n = normalise(email)
    if n.isascii():
        return [_hmac(secret, n)]
    local, _, domain = n.rpartition("@")
    locals_ = [local, unicodedata.normalize("NFD", local)]
    domains = [domain]
    if not domain.isascii():
        from email_validator import EmailNotValidError, validate_email

        try:
            ascii_domain = validate_email(f"x@{domain}", check_deliverability=False).ascii_domain
        except EmailNotValidError:
            ascii_domain = None
        if ascii_domain:
            domains.append(ascii_domain)
    forms = [f"{lo}@{d}" for lo in locals_ for d in domains] if local else [n]
    return [_hmac(secret, f) for f in dict.fromkeys(forms)]


def stored_secret(repo: Repository) -> str | None:
    """The store's suppression key, or None while no one was ever erased."""
    row = repo.execute("SELECT value FROM app_secrets WHERE name = ?", [SECRET_NAME]).fetchone()
    return None if row is None else str(row[0])


def secret(repo: Repository, now: float) -> str:
    """The store's suppression key, made in the caller's write transaction if missing."""
    value = stored_secret(repo)
    if value is None:
        value = secrets.token_urlsafe(48)
        repo.execute(
            "INSERT INTO app_secrets (name, value, created_at) VALUES (?,?,?)",
            [SECRET_NAME, value, now],
        )
    return value


def suppress(
    repo: Repository, email: str, audit_id: int | None, now: float, also: Iterable[str] = ()
) -> str:
    """Put an address on the list (idempotent), and `also` the other forms of it that must
    stay out with it (its canonical key under the playbook's `identity:` rules, so
    `never+x@gmail.com` does not bring back an erased `ne.ver@gmail.com`); returns the
    address's hash."""
    key = secret(repo, now)
    h = address_hash(key, email)
    repo.executemany(
        "INSERT INTO privacy_suppressions (hash, audit_id, created_at) VALUES (?,?,?) "
        "ON CONFLICT (hash) DO NOTHING",
        [(x, audit_id, now) for x in dict.fromkeys([h, *(address_hash(key, a) for a in also)])],
    )
    return h


def lift(repo: Repository, email: str, also: Iterable[str] = ()) -> bool:
    """Take an address (and `also` its other forms, as `suppress` put them) off the list,
    with every other spelling the same erasure put on it (its aliases, the lead's own
    address): the person consented again. Whether any of them was on it."""
    key = stored_secret(repo)
    if key is None:
        return False
    n = 0
    audits: set[int] = set()
    for a in dict.fromkeys([email, *also]):
        for h in _hashes(key, a):
            row = repo.execute(
                "SELECT audit_id FROM privacy_suppressions WHERE hash = ?", [h]
            ).fetchone()
            if row is not None and row[0] is not None:
                audits.add(int(row[0]))
            cur = repo.execute("DELETE FROM privacy_suppressions WHERE hash = ?", [h])
            n += cur.rowcount or 0
    for audit_id in sorted(audits):
        repo.execute("DELETE FROM privacy_suppressions WHERE audit_id = ?", [audit_id])
    return n > 0


def refused(
    repo: Repository, emails: Iterable[str], canonical: Callable[[str], str] | None = None
) -> set[str]:
    """Which of these addresses are suppressed: by the address itself or, with
    `canonical`, by its canonical key (another spelling of an erased person). One
    primary-key lookup when the store never erased anyone (no key yet), one IN query
    otherwise."""
    wanted: Sequence[str] = list(emails)
    if not wanted:
        return set()
    key = stored_secret(repo)
    if key is None:
        return set()
    by_hash: dict[str, list[str]] = {}
    for e in wanted:
        forms = [e] if canonical is None else list(dict.fromkeys([e, canonical(e)]))
        for f in forms:
            for h in _hashes(key, f):
                by_hash.setdefault(h, []).append(e)
    out: set[str] = set()
    hashes = list(by_hash)
    for i in range(0, len(hashes), 500):
        chunk = hashes[i : i + 500]
        marks = ",".join("?" * len(chunk))
        rows = repo.execute(
            f"SELECT hash FROM privacy_suppressions WHERE hash IN ({marks})", chunk
        ).fetchall()
        for r in rows:
            out.update(by_hash[r[0]])
    return out
