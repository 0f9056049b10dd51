"""API keys: created once and shown once, stored only as a SHA-256 hash, checked in constant time.

A `browser` key is publishable: it sits in a web page's `<script>` tag, so it proves
nothing about who calls. It may only post the playbook's `browser_events` for
anonymous visitors, from the origins bound to it (`--origin https://www.example.com`),
rate-limited; it never reads (see docs/tracking.md).

A key looks like `lg_<prefix>_<secret>`. The prefix (not secret) finds the row; the
hash of the whole key is compared with `hmac.compare_digest`. Keys carry 256 bits of
randomness, so a fast hash is enough: there is nothing to brute-force, unlike a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from leadgate.ingest.validate import InputError, iso
from leadgate.store.database import Database
from leadgate.store.repository import Repository

ROLES = ("admin", "marketing", "sales", "ingest", "browser")
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class KeyNotFound(LookupError):
    """No such API key."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: float
    created_by: str
    revoked_at: float | None
    # The web origins a browser key may be used from (none for other roles).
    origins: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON shape for the CLI and the API (`origins` only on browser keys)."""
        extra = {"origins": list(self.origins)} if self.role == "browser" else {}
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "revoked_at": iso(self.revoked_at),
            "active": self.revoked_at is None,
            **extra,
        }


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def _check_role(role: str) -> str:
    r = role.strip().lower()
    if r not in ROLES:
        raise InputError("role", f"'{role}' is not a role (one of {', '.join(ROLES)})")
    return r


def check_origin(raw: str) -> str:
    """A web origin as browsers send it: `https://host[:port]`, lower case, no path."""
    text = raw.strip().rstrip("/").lower()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InputError("origin", f"'{raw}' is not an origin (https://host[:port])") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or parts.password is not None
        or "*" in text
    ):
        raise InputError("origin", f"'{raw}' is not an origin (https://host[:port], no path)")
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def _check_origins(role: str, origins: Sequence[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(check_origin(o) for o in origins))
    if role == "browser" and not out:
        raise InputError("origin", "a browser key needs the origins it may be used from")
    if role != "browser" and out:
        raise InputError("origin", "only a browser key is bound to origins")
    return out


def create_key(
    db: Database, role: str, name: str, actor: str = "cli", origins: Sequence[str] = ()
) -> tuple[ApiKey, str]:
    """Create a key; returns it and the full secret, which is never stored and never shown again."""
    role = _check_role(role)
    bound = _check_origins(role, origins)
    name = name.strip()
    if not name:
        raise InputError("name", "a key needs a name (who or what uses it)")
    if len(name) > 200:
        raise InputError("name", "longer than 200 characters")
    prefix = secrets.token_hex(6)
    key = f"lg_{prefix}_{secrets.token_urlsafe(32)}"
    now = time.time()
    with db.write() as conn:
        repo = Repository(db, conn)
        row = repo.execute(
            "INSERT INTO api_keys (name, role, prefix, hash, created_at, created_by, origins) "
            "VALUES (?,?,?,?,?,?,?) RETURNING id",
            [name, role, prefix, hash_key(key), now, actor, " ".join(bound) or None],
        ).fetchone()
    return ApiKey(int(row[0]), name, role, prefix, now, actor, None, bound), key


_COLS = "id, name, role, prefix, created_at, created_by, revoked_at"


def _row(r: Any, origins: str | None = None) -> ApiKey:
    return ApiKey(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], tuple((origins or "").split()))


def list_keys(db: Database, include_revoked: bool = True) -> list[ApiKey]:
    """Every key (newest last)."""
    sql = f"SELECT {_COLS}, origins FROM api_keys"
    if not include_revoked:
        sql += " WHERE revoked_at IS NULL"
    with db.read() as conn:
        rows = Repository(db, conn).execute(sql + " ORDER BY id").fetchall()
    return [_row(r, r[7]) for r in rows]


def revoke_key(db: Database, ref: str) -> ApiKey:
    """Revoke a key by id, prefix or name (a name must be unambiguous). Effective at once.

    A prefix is random hex, so it can be all digits: a 12-character ref is tried as a
    prefix before it is tried as an id, and an id before a name."""
    ref = ref.strip()
    prefix = ref[3:15] if ref.startswith("lg_") else ref
    # isdecimal alone accepts other scripts' digits, which int() reads but nobody means.
    key_id = int(ref) if ref.isascii() and ref.isdecimal() and len(ref) < 19 else -1
    with db.write() as conn:
        repo = Repository(db, conn)
        rows = repo.execute(
            f"SELECT {_COLS}, origins FROM api_keys WHERE prefix = ? OR id = ? OR (name = ? AND "
            "revoked_at IS NULL)",
            [prefix, key_id, ref],
        ).fetchall()
        found = [_row(r, r[7]) for r in rows]
        by_prefix = [k for k in found if k.prefix == prefix]
        by_id = [k for k in found if k.id == key_id]
        found = by_prefix or by_id or found
        if not found:
            raise KeyNotFound(f"no API key '{ref}' (give its id, prefix or name)")
        if len(found) > 1:
            ids = ", ".join(str(k.id) for k in found)
            raise InputError("key", f"'{ref}' names several keys (ids {ids}): give the id")
        key = found[0]
        if key.revoked_at is not None:
            return key
        now = time.time()
        repo.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", [now, key.id])
    return ApiKey(
        key.id, key.name, key.role, key.prefix, key.created_at, key.created_by, now, key.origins
    )


KEY_LOOKUP_SQL = f"SELECT {_COLS}, hash, origins FROM api_keys WHERE prefix = ?"


def key_prefix(key: str) -> str | None:
    """The lookup prefix of a key that has our shape, else None."""
    parts = key.split("_")
    prefix = parts[1] if len(parts) >= 3 and parts[0] == "lg" else ""
    return prefix if len(prefix) == 12 else None


def check_key(key: str, row: Any) -> ApiKey | None:
    """The key of `row` (a KEY_LOOKUP_SQL row, or None) if `key` is its secret and it is
    not revoked. Compares even when nothing matched, so timing does not tell a known
    prefix apart."""
    ok = hmac.compare_digest(hash_key(key), row[7] if row else _DUMMY_HASH)
    if row is None or not ok or row[6] is not None:
        return None
    return _row(row, row[8] if len(row) > 8 else None)


def verify_key(db: Database, key: str) -> ApiKey | None:
    """The active key matching `key`, or None. Looked up on every call: a revocation is
    effective at once, in every process."""
    prefix = key_prefix(key)
    row = None
    if prefix is not None:
        with db.read() as conn:
            row = Repository(db, conn).execute(KEY_LOOKUP_SQL, [prefix]).fetchone()
    return check_key(key, row)
