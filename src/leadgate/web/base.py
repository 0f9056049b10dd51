"""What every page shares: templates, the signed-in person, CSRF, security headers,
error pages.

A page handler is an `async def` on a router built with `router()`. Its routes use
`WebRoute`, which wraps each answer: the security headers go on every response, and
`WebError`/`SignInNeeded` raised anywhere in a handler become an HTML error page or a
redirect to /login (never the API's problem+json):

    r = router()

    @r.get("/app/example")
    async def example(request: Request) -> Response:
        viewer = await signed_in(request, roles=MARKETING)    # 403 page for sales
        return render(request, "example.html", viewer, things=[...])

Sessions: the cookie holds a random token signed with the store's secret
(itsdangerous); the store holds only the token's hash, so a session ends when its row
is revoked (sign out, sign out everywhere, user disabled, password reset). Every form
carries the session's CSRF token and every POST handler calls `check_form`, which
refuses a missing or wrong token and a cross-origin `Origin`.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import InputError, iso, text_ok
from leadgate.store.database import Database
from leadgate.store.trouble import trouble
from leadgate.textout import one_line, shown
from leadgate.users import Session, User, Users, csrf_matches

T = TypeVar("T")
log = logging.getLogger("leadgate.web")
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "lg_session"
LOGIN_COOKIE = "lg_login"
STATIC_PREFIX = "/app/static"
# The roles of the API (leadgate.api.auth), for people.
EVERYONE = ("admin", "marketing", "sales")
STAGE = ("admin", "sales")
MARKETING = ("admin", "marketing")
ADMIN = ("admin",)

# No inline script or style anywhere: every script and style sheet is a file under
# /app/static, so an injected <script> or style="" would not run even if it got past
# the autoescaping.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_RAW_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class Host(Protocol):
    """What the web app needs of the server it is mounted in (the API's context)."""

    engine: Engine
    db: Database

    async def read(self, fn: Callable[..., T], *args: Any, small: bool = False) -> T: ...

    async def write(self, fn: Callable[..., T], *args: Any, small: bool = False) -> T: ...


def host(request: Request) -> Host:
    """The server's shared state."""
    h: Host = request.app.state.leadgate
    return h


class WebError(Exception):
    """Answer with an HTML error page."""

    def __init__(
        self, status: int, title: str, message: str, headers: Mapping[str, str] | None = None
    ):
        self.status = status
        self.title = title
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(message)


class SignInNeeded(Exception):
    """No valid session: off to /login, and back here afterwards."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person on this request."""

    user: User
    session: Session

    @property
    def csrf(self) -> str:
        """The token every form of this session posts back."""
        return self.session.csrf


# -- templates ---------------------------------------------------------------------


def _when(value: str | float | None) -> str:
    """An ISO time or epoch seconds as `2026-05-28 10:00 UTC` (blank for None)."""
    if value is None or value == "":
        return ""
    text = iso(value) if isinstance(value, int | float) else value
    return (text or "")[:16].replace("T", " ") + " UTC"


def _points(value: float) -> str:
    return f"{value:+.2f}".rstrip("0").rstrip(".") if value else "0"


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    # Every {{ }} is HTML-escaped: lead data (names, companies, reasons) renders inert.
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["when"] = _when
templates.filters["points"] = _points
# A playbook diff is reviewed before it is trusted: a right-to-left override or a control
# character in it (a comment that reads one way and parses another) is written out.
templates.filters["shown"] = shown
templates.globals["static"] = STATIC_PREFIX


def page(
    template: str,
    viewer: Viewer | None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A rendered page (the security headers are added by WebRoute)."""
    html = templates.get_template(template).render(viewer=viewer, **values)
    return HTMLResponse(html, status, headers=dict(headers or {}))


def error_page(exc: WebError, viewer: Viewer | None = None) -> HTMLResponse:
    """The page for a WebError."""
    return page(
        "error.html",
        viewer,
        exc.status,
        exc.headers,
        title=exc.title,
        message=exc.message,
        code=exc.status,
    )


# -- routes --------------------------------------------------------------------------


def _secure(response: Response) -> Response:
    for k, v in SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)
    # Pages carry personal data: no shared or back-button caches.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _sign_in_window(request: Request) -> Response:
    """An htmx request (the queue's refresh) whose session has ended: htmx would follow a
    redirect inside the request and swap the sign-in page into the table, so it is told
    to load the sign-in page in the window, and back to the page it was on."""
    page = urlsplit(request.headers.get("hx-current-url", ""))
    target = page.path + (f"?{page.query}" if page.query else "")
    if not target.startswith("/app"):
        target = "/app"
    return Response(
        status_code=401, headers={"HX-Redirect": f"/login?next={quote(target, safe='')}"}
    )


class WebRoute(APIRoute):
    """A page route: security headers on every answer, errors as pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await inner(request)
            except SignInNeeded:
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                if request.method != "GET":
                    target = "/app"
                if request.headers.get("hx-request") == "true":
                    response = _sign_in_window(request)
                else:
                    response = RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
            except WebError as exc:
                response = error_page(exc, getattr(request.state, "viewer", None))
            except RequestValidationError:
                # A malformed path parameter (/app/leads/abc) names nothing here.
                response = error_page(
                    WebError(404, "Not found", "There is no such page."),
                    getattr(request.state, "viewer", None),
                )
            except Exception as exc:
                found = trouble(exc)
                if found is not None:
                    # The store busy with another process's write, or its disk full:
                    # nothing was saved; the person can send the form again.
                    title = {503: "The store is busy", 507: "The store is full"}.get(
                        found.status, "The store is damaged"
                    )
                    log.error("%s on %s", found.message, one_line(request.url.path))
                    retry = {"Retry-After": found.retry_after} if found.retry_after else None
                    response = error_page(
                        WebError(found.status, title, found.message.capitalize() + ".", retry),
                        getattr(request.state, "viewer", None),
                    )
                else:
                    # Logged with its trace here; the browser gets a page without one.
                    log.exception(
                        "unhandled error on %s %s", request.method, one_line(request.url.path)
                    )
                    response = error_page(
                        WebError(500, "Something went wrong", "The server failed; it is logged."),
                        getattr(request.state, "viewer", None),
                    )
            return _secure(response)

        return handler


def router() -> APIRouter:
    """A router for pages (kept out of the OpenAPI document)."""
    return APIRouter(route_class=WebRoute, include_in_schema=False)


class SecureStatic:
    """Static files with the same security headers as the pages."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + _RAW_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- sessions ------------------------------------------------------------------------


def users(request: Request) -> Users:
    """The users of this server's store (on the engine's clock)."""
    h = host(request)
    return Users(h.db, clock=h.engine.clock)


async def _signer(request: Request) -> URLSafeSerializer:
    state = request.app.state
    signer: URLSafeSerializer | None = getattr(state, "web_signer", None)
    if signer is None:
        secret = await host(request).write(users(request).secret)
        signer = URLSafeSerializer(secret, salt="leadgate-session")
        state.web_signer = signer
    return signer


def secure_cookies(request: Request) -> bool:
    """Cookies get `Secure` behind https, or always with $LEADGATE_SECURE_COOKIES=1 (a
    TLS-terminating proxy in front)."""
    return request.url.scheme == "https" or os.environ.get("LEADGATE_SECURE_COOKIES") == "1"


async def session_cookie(request: Request, token: str) -> str:
    """The signed cookie value for a session token."""
    return str((await _signer(request)).dumps(token))


async def viewer_of(request: Request) -> Viewer | None:
    """The signed-in person, or None (no cookie, bad signature, session ended)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw or len(raw) > 400:
        return None
    try:
        token = (await _signer(request)).loads(raw)
    except BadSignature:
        return None
    if not isinstance(token, str):
        return None
    found = await host(request).read(users(request).session, token, small=True)
    if found is None:
        return None
    viewer = Viewer(*found)
    request.state.viewer = viewer
    request.state.session_token = token
    return viewer


async def signed_in(request: Request, roles: tuple[str, ...] = EVERYONE) -> Viewer:
    """The signed-in person if their role is one of `roles`; SignInNeeded or a 403 page."""
    viewer = await viewer_of(request)
    if viewer is None:
        raise SignInNeeded()
    if viewer.user.role not in roles:
        raise WebError(
            403,
            "Not allowed",
            f"This page is for {' or '.join(roles)} users; you are signed in as "
            f"{viewer.user.name} ({viewer.user.role}).",
        )
    return viewer


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # Browsers send Origin on every POST today; an absent one (an old client) is
        # left to the token. "null" (sandboxed or privacy-stripped) is refused below.
        return origin is None
    o = urlsplit(origin)
    return (o.scheme, o.netloc) == (request.url.scheme, request.url.netloc)


def _unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


async def read_form(request: Request, max_fields: int = 500) -> FormData:
    """The posted form; a 400 page for a body no page of ours sends (a file, more than
    `max_fields` fields, a field over 1 MB, a broken multipart body) or one holding text
    that is not Unicode."""
    try:
        form = await request.form(max_files=0, max_fields=max_fields)
    except (HTTPException, MultiPartException) as exc:
        # Starlette's own 400, raised inside the handler: a page, not the 500 page.
        detail = exc.detail if isinstance(exc, HTTPException) else exc.message
        raise WebError(400, "Not a form", f"The form could not be read: {detail}") from None
    # A multipart body names its own charset, and Starlette decodes with it: with
    # `unicode_escape`, `\ud800` becomes a lone surrogate, which no page, store or JSON
    # can hold (it failed wherever it went next, as a 500).
    for name, value in form.multi_items():
        if not (_unicode(name) and (not isinstance(value, str) or _unicode(value))):
            shown = name.encode("utf-8", "backslashreplace").decode()
            raise WebError(400, "Not a form", f"{shown}: is not valid Unicode text")
    return form


async def check_form(request: Request, viewer: Viewer) -> FormData:
    """The posted form, if it carries this session's CSRF token and comes from this
    origin; else a 403 page."""
    form = await read_form(request)
    token = form.get("csrf")
    if not _same_origin(request) or not csrf_matches(
        viewer.session, token if isinstance(token, str) else None
    ):
        raise WebError(
            403,
            "Form expired",
            "The form was not sent from this page (or your session changed): reload the "
            "page and try again.",
        )
    return form


def new_login_token() -> str:
    """A token for the sign-in form (double-submitted: cookie and hidden field), so a
    third-party page cannot sign a browser in under someone else's name."""
    return secrets.token_urlsafe(24)


def login_token_ok(request: Request, sent: str | None) -> bool:
    """Whether the sign-in form's token matches its cookie, from this origin."""
    cookie = request.cookies.get(LOGIN_COOKIE)
    # compare_digest takes str only when it is ASCII (a TypeError otherwise): compare the
    # bytes, so a token typed in another script is just a wrong one.
    return (
        _same_origin(request)
        and bool(cookie)
        and bool(sent)
        and secrets.compare_digest(
            str(cookie).encode("utf-8", "surrogatepass"), str(sent).encode("utf-8", "surrogatepass")
        )
    )


def whole(text: str | None, digits: int = 9) -> int | None:
    """`text` as a whole number if it is 1 to `digits` ASCII digits, else None.
    (str.isdigit takes '²', which int() refuses; int() refuses over 4,300 digits.)"""
    if text and len(text) <= digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def field(form: FormData, name: str, limit: int = 2000) -> str:
    """A text field of a form, stripped ('' when absent); a 400 page when too long or
    holding a NUL."""
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise WebError(400, "Too long", f"{name}: longer than {limit} characters")
    return storable(name, text)


def storable(name: str, text: str) -> str:
    """`text`, or a 400 page when it holds a NUL, which no store keeps (PostgreSQL refuses
    it in text, SQLite's full-text search stops at it): refused as the API refuses it
    (`ingest.validate.text_ok`, whose message names the field)."""
    try:
        return text_ok(text, name)
    except InputError as exc:
        raise WebError(400, "Bad text", str(exc)) from None
