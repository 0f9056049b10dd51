"""Signing in and out: `/` (to the app), `/login`, `/logout`.

    GET  /login                  the form (sets the sign-in form's token cookie)
    POST /login                  name + password -> session cookie, back to `next`
    GET  /logout                 a page with the sign-out buttons
    POST /logout                 this browser; with everywhere=1 every session of the user

A wrong name and a wrong password get the same answer; too many failures get 429 with
Retry-After (leadgate.users counts them in the store, across processes).
"""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from leadgate.ratelimit import client_key
from leadgate.users import LoginRefused
from leadgate.users.service import SESSION_SECONDS
from leadgate.web.base import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    WebError,
    check_form,
    field,
    host,
    login_token_ok,
    new_login_token,
    page,
    read_form,
    router,
    secure_cookies,
    session_cookie,
    signed_in,
    users,
    viewer_of,
)

r = router()


def _next(target: str | None) -> str:
    """Only paths inside the app: never an open redirect to another site, nor out of
    /app by dot segments (`/app/../api/v1/keys`, `/app/%2e%2e/...`: a browser resolves
    both), nor one so long that it could not be carried back; else the app's first page."""
    if not target or len(target) > 2000 or "//" in target or "\\" in target:
        return "/app"
    path = unquote(target.split("?", 1)[0].split("#", 1)[0])
    segments = path.split("/")
    if segments[:2] != ["", "app"] or any(x in (".", "..") for x in segments):
        return "/app"
    return target


@r.get("/")
async def root() -> Response:
    """The app lives under /app."""
    return RedirectResponse("/app", 303)


def _login_page(
    request: Request,
    status: int = 200,
    error: str | None = None,
    name: str = "",
    target: str | None = None,
    retry_after: float | None = None,
) -> Response:
    token = new_login_token()
    resp = page(
        "login.html",
        None,
        status,
        {"Retry-After": str(int(retry_after + 0.999))} if retry_after is not None else None,
        token=token,
        next=_next(target or request.query_params.get("next")),
        error=error,
        name=name,
    )
    resp.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return resp


@r.get("/login")
async def login_form(request: Request) -> Response:
    """The sign-in form (or straight on when already signed in)."""
    if await viewer_of(request) is not None:
        return RedirectResponse(_next(request.query_params.get("next")), 303)
    return _login_page(request)


@r.post("/login")
async def login(request: Request) -> Response:
    """Check the password, start a session, set the cookie."""
    form = await read_form(request, max_fields=10)
    name = field(form, "name", 200)
    sent = form.get("next")
    target = _next(sent if isinstance(sent, str) else None)
    if not login_token_ok(request, field(form, "token", 200)):
        raise WebError(
            403, "Form expired", "The sign-in form expired or was sent from elsewhere: try again."
        )
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    # Failed sign-ins are counted per client: an IPv6 client by its /64.
    client = client_key(request.client.host if request.client else "unknown")
    h = host(request)
    u = users(request)
    try:
        user = await h.write(u.authenticate, name, password, client)
    except LoginRefused as exc:
        status = 429 if exc.retry_after is not None else 401
        return _login_page(request, status, str(exc), name, target, exc.retry_after)
    token = await h.write(u.start_session, user)
    resp = RedirectResponse(target, 303)
    resp.set_cookie(
        SESSION_COOKIE,
        await session_cookie(request, token),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    resp.delete_cookie(LOGIN_COOKIE, path="/login")
    return resp


@r.get("/logout")
async def logout_page(request: Request) -> Response:
    """Sign-out buttons (signing out changes state, so it is a POST with a token)."""
    viewer = await viewer_of(request)
    if viewer is None:
        return RedirectResponse("/login", 303)
    return page("logout.html", viewer)


@r.post("/logout")
async def logout(request: Request) -> Response:
    """End this session, or with everywhere=1 every session of the user."""
    viewer = await signed_in(request)
    form = await check_form(request, viewer)
    h = host(request)
    u = users(request)
    if field(form, "everywhere") == "1":
        await h.write(u.end_all_sessions, viewer.user.id)
    else:
        await h.write(u.end_session, request.state.session_token)
    resp = RedirectResponse("/login", 303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp
