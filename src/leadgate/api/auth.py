"""`Authorization: Bearer KEY` and roles.

Roles: ingest may only post leads and events; marketing reads everything and changes
the playbook; sales reads leads and changes stages; admin does all, and alone manages
keys and webhooks. A missing or unknown key is 401, a key without the right is 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadgate.api.context import ApiContext
from leadgate.api.problems import ApiProblem
from leadgate.api.quick import Unavailable
from leadgate.keys import KEY_LOOKUP_SQL, ApiKey, check_key, key_prefix, verify_key

bearer = HTTPBearer(auto_error=False, description="An API key: `leadgate keys create`.")

READ_LEADS = ("admin", "marketing", "sales")
WRITE_LEADS = ("admin", "ingest")
STAGE = ("admin", "sales")
MARKETING = ("admin", "marketing")
ADMIN = ("admin",)
ANY = ("admin", "marketing", "sales", "ingest")


def context(request: Request) -> ApiContext:
    """The API's shared state."""
    ctx: ApiContext = request.app.state.leadgate
    return ctx


_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="leadgate"'}


async def _check(request: Request, creds: HTTPAuthorizationCredentials | None) -> ApiKey:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise ApiProblem(
            401,
            "missing API key: send `Authorization: Bearer <key>` (create one with "
            "`leadgate keys create`)",
            "unauthorized",
            headers=_UNAUTHORIZED,
        )
    ctx = context(request)
    token = creds.credentials.strip()
    key = None
    if len(token) < 200:
        prefix = key_prefix(token)
        # Looked up on every request (no cache): a revoked key stops working at once.
        try:
            row = await ctx.quick.one(KEY_LOOKUP_SQL, [prefix]) if prefix is not None else None
            key = check_key(token, row)
        except Unavailable:
            key = await ctx.read(verify_key, ctx.db, token)
    if key is None:
        raise ApiProblem(
            401, "the API key is not valid or was revoked", "unauthorized", headers=_UNAUTHORIZED
        )
    # The sales endpoints audit by the key's name.
    request.state.api_key = key
    return key


async def authenticate(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> ApiKey:
    """The caller's key, or 401."""
    return await _check(request, creds)


def require(*roles: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the caller's key, if its role is one of `roles` (else 403)."""
    needs = " or ".join(roles)

    # One dependency level, not two: FastAPI's dependency solving costs per level.
    async def dep(
        request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> ApiKey:
        key = await _check(request, creds)
        if key.role not in roles:
            raise ApiProblem(
                403, f"a key with role '{key.role}' may not do this (needs {needs})", "forbidden"
            )
        return key

    return dep


def require_by_method(
    read: tuple[str, ...], write: tuple[str, ...]
) -> Callable[..., Awaitable[ApiKey]]:
    """A router-wide dependency: `read` roles for GET/HEAD, `write` roles otherwise."""

    async def dep(
        request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> ApiKey:
        key = await _check(request, creds)
        roles = read if request.method in ("GET", "HEAD") else write
        if key.role not in roles:
            raise ApiProblem(
                403,
                f"a key with role '{key.role}' may not do this (needs {' or '.join(roles)})",
                "forbidden",
            )
        return key

    return dep


def actor(key: ApiKey) -> str:
    """How a key appears in audit columns."""
    return f"api:{key.name}"
