"""The admin API for users (mounted under /api/v1 by the API app, which owns auth and
lets only admin keys in):

    GET  /users                          every user (never a password)
    POST /users                          {name, role, rep?, password?} -> 201, with the
                                         generated `password` when none was sent
    POST /users/{name}/disable           sign-in refused, sessions ended
    POST /users/{name}/reset-password    {password?} -> the generated `password` if none
    POST /users/{name}/sign-out          end every session ("sign out everywhere")

Bad input is an InputError (422), an unknown name NotFound (404): the app turns both
into problem+json.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from leadgate.engine.engine import NotFound
from leadgate.ingest.validate import text_ok
from leadgate.users.service import UserNotFound, Users

router = APIRouter(tags=["users"])
T = TypeVar("T")
Name = Annotated[str, Path(min_length=1, max_length=64, description="The user's name.")]


class UserIn(BaseModel):
    """A new user. A password is generated (and returned once) when none is given."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "marketing", "sales"]
    rep: str | None = Field(default=None, max_length=200, description="Sales rep's name.")
    password: str | None = Field(default=None, max_length=1024)


class PasswordIn(BaseModel):
    """A new password; generated (and returned once) when absent."""

    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(default=None, max_length=1024)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def _actor(request: Request) -> str:
    key = getattr(request.state, "api_key", None)
    name = getattr(key, "name", None)
    return f"api:{name}" if name else "api"


async def _run(request: Request, write: bool, fn: Callable[..., T], *args: Any) -> T:
    def call() -> T:
        try:
            return fn(*args)
        except UserNotFound as exc:
            raise NotFound(str(exc)) from None

    ctx = request.app.state.leadgate
    result: T = await (ctx.write(call) if write else ctx.read(call))
    return result


def _users(request: Request) -> Users:
    return Users(request.app.state.leadgate.db)


@router.get("/users", summary="Users of the web app")
async def get_users(request: Request) -> Response:
    """Every user, disabled ones included."""
    items = await _run(request, False, _users(request).list_users)
    return _json({"items": [u.as_dict() for u in items]})


@router.post("/users", status_code=201, summary="Add a user (a generated password is shown once)")
async def post_user(request: Request, body: UserIn) -> Response:
    """422 on a bad name, a taken name, an unknown rep or a short password."""
    user, made = await _run(
        request,
        True,
        _users(request).add,
        text_ok(body.name, "name"),
        body.role,
        None if body.rep is None else text_ok(body.rep, "rep"),
        body.password,
        _actor(request),
    )
    out = user.as_dict()
    if made is not None:
        out["password"] = made
    return _json(out, 201)


@router.post("/users/{name}/disable", summary="Disable a user (sessions end at once)")
async def disable_user(request: Request, name: Name) -> Response:
    """Idempotent: disabling a disabled user answers it unchanged."""
    return _json((await _run(request, True, _users(request).disable, name)).as_dict())


@router.post("/users/{name}/reset-password", summary="Set a new password (sessions end)")
async def reset_password(request: Request, name: Name, body: PasswordIn | None = None) -> Response:
    """The answer's `password` is the generated one, shown once (absent when sent)."""
    given = body.password if body is not None else None
    user, made = await _run(request, True, _users(request).reset_password, name, given)
    out = user.as_dict()
    if made is not None:
        out["password"] = made
    return _json(out)


@router.post("/users/{name}/sign-out", summary="Sign a user out everywhere")
async def sign_out(request: Request, name: Name) -> Response:
    """Ends every session of the user; they must sign in again."""
    users = _users(request)

    def go() -> dict[str, Any]:
        user = users.get(name)
        return {"name": user.name, "sessions_ended": users.end_all_sessions(user.id)}

    return _json(await _run(request, True, go))
