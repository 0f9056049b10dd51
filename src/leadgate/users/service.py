"""Users, sign-in and sessions over the store.

    users = Users(db)
    anna, password = users.add("anna", "sales", rep="anna", actor="user:root")
    user = users.authenticate("anna", password, client="10.0.0.7")   # or LoginRefused
    token = users.start_session(user)          # goes into the (signed) cookie
    users.session(token)                       # -> (User, Session) while it is valid
    users.end_all_sessions(user.id)            # "sign out everywhere"

A session is a row keyed by the SHA-256 of a random token: the cookie alone proves
nothing once the row is revoked, expired, or its user disabled. Each session carries
its own CSRF token, which every form posts back.

Sign-in is rate limited by name and by client address, counted in the store so every
server process sees the same failures: after `MAX_FAILURES_PER_NAME` failures in
`FAILURE_WINDOW` seconds a name is refused (without checking the password) until the
oldest failure leaves the window. Times come from `clock`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadgate.ingest.validate import InputError, iso
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.users.passwords import (
    check_policy,
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)

ROLES = ("admin", "marketing", "sales")
SESSION_SECONDS = 12 * 3600
FAILURE_WINDOW = 15 * 60
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_CLIENT = 30
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_COLS = "id, name, role, rep, created_at, created_by, password_set_at, disabled_at"


class UserNotFound(LookupError):
    """No such user."""


class LoginRefused(Exception):
    """Sign-in refused. The message never says whether the name exists."""

    def __init__(self, message: str, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in, without the password hash."""

    id: int
    name: str
    role: str
    rep: str | None
    created_at: float
    created_by: str
    password_set_at: float
    disabled_at: float | None

    @property
    def actor(self) -> str:
        """How this person appears in audit columns (stage history, assignments)."""
        return f"user:{self.name}"

    @property
    def active(self) -> bool:
        """Not disabled."""
        return self.disabled_at is None

    def as_dict(self) -> dict[str, Any]:
        """JSON shape for the CLI and the API."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "rep": self.rep,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "password_set_at": iso(self.password_set_at),
            "disabled_at": iso(self.disabled_at),
            "active": self.active,
        }


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser."""

    id: str
    user_id: int
    csrf: str
    created_at: float
    expires_at: float


def _user(r: Any) -> User:
    return User(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7])


def check_name(name: str) -> str:
    """A user name, lower-cased, or InputError."""
    n = (name or "").strip().lower()
    if not _NAME.match(n):
        raise InputError(
            "name",
            f"'{name}' is not a user name (letters, digits, '.', '_' or '-', up to 64, "
            "starting with a letter or digit)",
        )
    return n


def check_role(role: str) -> str:
    """A role, lower-cased, or InputError."""
    r = (role or "").strip().lower()
    if r not in ROLES:
        raise InputError("role", f"'{role}' is not a role (one of {', '.join(ROLES)})")
    return r


def token_id(token: str) -> str:
    """The stored id of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    """Users and sessions in one store."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.db = db
        self.clock = clock

    # -- people ----------------------------------------------------------------------

    def _get(self, repo: Repository, name: str) -> User:
        row = repo.execute(f"SELECT {_COLS} FROM users WHERE name = ?", [name]).fetchone()
        if row is None:
            raise UserNotFound(f"no user named '{name}'")
        return _user(row)

    def _check_rep(self, repo: Repository, rep: str | None) -> str | None:
        if rep is None:
            return None
        rep = rep.strip()
        if not repo.execute("SELECT 1 FROM sales_reps WHERE name = ?", [rep]).fetchone():
            raise InputError("rep", f"no sales rep named '{rep}' (add it with `leadgate reps add`)")
        return rep

    def add(
        self,
        name: str,
        role: str,
        rep: str | None = None,
        password: str | None = None,
        actor: str = "cli",
    ) -> tuple[User, str | None]:
        """Create a user. Returns it and the generated password (None when one was given)."""
        name = check_name(name)
        role = check_role(role)
        made = None
        if password is None:
            password = made = generate_password()
        check_policy(password)
        hashed = hash_password(password)  # ~50 ms: before the write lock, not inside it
        now = self.clock()
        with self.db.write() as conn:
            repo = Repository(self.db, conn)
            rep = self._check_rep(repo, rep)
            if repo.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
                raise InputError("name", f"a user named '{name}' exists already")
            row = repo.execute(
                "INSERT INTO users (name, role, rep, password_hash, created_at, created_by, "
                "password_set_at) VALUES (?,?,?,?,?,?,?) RETURNING id",
                [name, role, rep, hashed, now, actor, now],
            ).fetchone()
        return User(int(row[0]), name, role, rep, now, actor, now, None), made

    def get(self, name: str) -> User:
        """One user by name (UserNotFound if none)."""
        with self.db.read() as conn:
            return self._get(Repository(self.db, conn), check_name(name))

    def list_users(self) -> list[User]:
        """Every user, disabled ones included, in the order they were added."""
        with self.db.read() as conn:
            rows = Repository(self.db, conn).execute(f"SELECT {_COLS} FROM users ORDER BY id")
            return [_user(r) for r in rows.fetchall()]

    def disable(self, name: str) -> User:
        """Disable a user: sign-in refused and every session ended, at once."""
        now = self.clock()
        with self.db.write() as conn:
            repo = Repository(self.db, conn)
            user = self._get(repo, check_name(name))
            if user.disabled_at is not None:
                return user
            repo.execute("UPDATE users SET disabled_at = ? WHERE id = ?", [now, user.id])
            self._end_all(repo, user.id, now)
        return _replace(user, disabled_at=now)

    def reset_password(self, name: str, password: str | None = None) -> tuple[User, str | None]:
        """Set a new password (generated when None, and returned); ends every session."""
        name = check_name(name)
        made = None
        if password is None:
            password = made = generate_password()
        check_policy(password)
        hashed = hash_password(password)
        now = self.clock()
        with self.db.write() as conn:
            repo = Repository(self.db, conn)
            user = self._get(repo, name)
            repo.execute(
                "UPDATE users SET password_hash = ?, password_set_at = ? WHERE id = ?",
                [hashed, now, user.id],
            )
            repo.execute("DELETE FROM login_failures WHERE name = ?", [name])
            self._end_all(repo, user.id, now)
        return _replace(user, password_set_at=now), made

    # -- signing in ------------------------------------------------------------------

    def _failures(self, repo: Repository, column: str, value: str, since: float) -> list[float]:
        rows = repo.execute(
            f"SELECT at FROM login_failures WHERE {column} = ? AND at > ? ORDER BY at",
            [value, since],
        ).fetchall()
        return [r[0] for r in rows]

    def authenticate(self, name: str, password: str, client: str = "unknown") -> User:
        """The user if `password` is theirs and they are active; else LoginRefused (with
        `retry_after` seconds when the rate limit refused it)."""
        key = (name or "").strip().lower()[:200]
        client = client[:100]
        now = self.clock()
        since = now - FAILURE_WINDOW
        with self.db.read() as conn:
            repo = Repository(self.db, conn)
            by_name = self._failures(repo, "name", key, since)
            by_client = self._failures(repo, "client", client, since)
            row = repo.execute(
                f"SELECT {_COLS}, password_hash FROM users WHERE name = ?", [key]
            ).fetchone()
        for seen, limit in ((by_name, MAX_FAILURES_PER_NAME), (by_client, MAX_FAILURES_PER_CLIENT)):
            if len(seen) >= limit:
                wait = seen[-limit] + FAILURE_WINDOW - now
                raise LoginRefused(
                    f"too many failed sign-ins: try again in {max(1, round(wait / 60))} min",
                    retry_after=max(1.0, wait),
                )
        ok = verify_password(row[8] if row else None, password or "")
        if not ok or row is None or row[7] is not None:
            with self.db.write() as conn:
                Repository(self.db, conn).execute(
                    "INSERT INTO login_failures (name, client, at) VALUES (?,?,?)",
                    [key, client, now],
                )
            raise LoginRefused("wrong name or password")
        user = _user(row)
        with self.db.write() as conn:
            repo = Repository(self.db, conn)
            repo.execute("DELETE FROM login_failures WHERE name = ? OR at <= ?", [key, since])
            if needs_rehash(row[8]):
                repo.execute(
                    "UPDATE users SET password_hash = ? WHERE id = ?",
                    [hash_password(password), user.id],
                )
        return user

    # -- sessions --------------------------------------------------------------------

    def start_session(self, user: User) -> str:
        """A new session for `user`; returns the token for the cookie (not stored)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.db.write() as conn:
            Repository(self.db, conn).execute(
                "INSERT INTO user_sessions (id, user_id, csrf, created_at, expires_at) "
                "VALUES (?,?,?,?,?)",
                [token_id(token), user.id, secrets.token_urlsafe(32), now, now + SESSION_SECONDS],
            )
        return token

    def session(self, token: str) -> tuple[User, Session] | None:
        """The user and session of `token` while it is valid (not ended, not expired, its
        user active), else None. Looked up every time: an ended session stops at once."""
        if not token or len(token) > 200:
            return None
        with self.db.read() as conn:
            row = (
                Repository(self.db, conn)
                .execute(
                    "SELECT u.id, u.name, u.role, u.rep, u.created_at, u.created_by, "
                    "u.password_set_at, u.disabled_at, s.id, s.csrf, s.created_at, "
                    "s.expires_at, s.revoked_at FROM user_sessions s "
                    "JOIN users u ON u.id = s.user_id WHERE s.id = ?",
                    [token_id(token)],
                )
                .fetchone()
            )
        if row is None or row[7] is not None or row[12] is not None or row[11] <= self.clock():
            return None
        return _user(row), Session(row[8], int(row[0]), row[9], row[10], row[11])

    def end_session(self, token: str) -> None:
        """Sign out this browser."""
        with self.db.write() as conn:
            Repository(self.db, conn).execute(
                "UPDATE user_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                [self.clock(), token_id(token)],
            )

    def end_all_sessions(self, user_id: int) -> int:
        """Sign a user out everywhere; returns how many sessions ended."""
        with self.db.write() as conn:
            return self._end_all(Repository(self.db, conn), user_id, self.clock())

    def _end_all(self, repo: Repository, user_id: int, now: float) -> int:
        cur = repo.execute(
            "UPDATE user_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            [now, user_id],
        )
        return int(cur.rowcount or 0)

    # -- the cookie signing key ------------------------------------------------------

    def secret(self, name: str = "session-cookie") -> str:
        """A random secret made once per store (the first caller makes it; a concurrent
        first caller's INSERT loses and reads the winner's)."""
        with self.db.read() as conn:
            row = (
                Repository(self.db, conn)
                .execute("SELECT value FROM app_secrets WHERE name = ?", [name])
                .fetchone()
            )
        if row is not None:
            return str(row[0])
        with self.db.write() as conn:
            repo = Repository(self.db, conn)
            row = repo.execute("SELECT value FROM app_secrets WHERE name = ?", [name]).fetchone()
            if row is not None:
                return str(row[0])
            value = secrets.token_urlsafe(48)
            repo.execute(
                "INSERT INTO app_secrets (name, value, created_at) VALUES (?,?,?)",
                [name, value, self.clock()],
            )
        return value


def csrf_matches(session: Session, sent: str | None) -> bool:
    """Whether a form's CSRF token is this session's (constant-time)."""
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())


def _replace(user: User, **changes: Any) -> User:
    from dataclasses import replace

    return replace(user, **changes)
