"""Passwords: Argon2id hashes (argon2-cffi), generated passwords, the length policy.

    >>> h = hash_password("correct horse battery")
    >>> h.startswith("$argon2id$"), verify_password(h, "correct horse battery")
    (True, True)

A hash carries its own parameters and salt (the PHC string), so raising the cost later
only needs `needs_rehash` at the next sign-in; old hashes keep working.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from leadgate.ingest.validate import InputError

MIN_LENGTH = 12
MAX_LENGTH = 1024
# argon2-cffi's defaults (RFC 9106's "low memory" choice: t=3, 64 MiB, 4 lanes).
_hasher = PasswordHasher()
# Verified against when the name is unknown, so a wrong name costs as long as a wrong
# password and timing does not tell which names exist. Made on first use, not at import
# (every server worker imports this module).
_DUMMY: str | None = None


def check_policy(password: str) -> str:
    """The password if it is acceptable, else InputError naming the rule."""
    if len(password) < MIN_LENGTH:
        raise InputError("password", f"shorter than {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InputError("password", f"longer than {MAX_LENGTH} characters")
    if password != password.strip():
        raise InputError("password", "starts or ends with white space (a stray newline?)")
    return password


def generate_password() -> str:
    """A random password (128 bits, URL-safe, 22 characters)."""
    return secrets.token_urlsafe(16)


def hash_password(password: str) -> str:
    """The stored form of a password."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: an unknown user, still costs a verify)."""
    global _DUMMY
    if stored is None and _DUMMY is None:
        _DUMMY = _hasher.hash("no such user, no such password")
    try:
        return _hasher.verify(stored or _DUMMY or "", password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored)
