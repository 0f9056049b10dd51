"""Errors as `application/problem+json` (RFC 9457). No stack trace ever reaches a client:
anything unexpected is logged here and answered with a bare 500 problem."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from leadgate.engine.engine import NoPlaybook, NotFound
from leadgate.ingest.validate import InputError
from leadgate.keys import KeyNotFound
from leadgate.lifecycle.stages import IllegalTransition
from leadgate.playbook.loader import PlaybookError
from leadgate.store.trouble import trouble
from leadgate.textout import one_line
from leadgate.webhooks import SubscriptionNotFound

log = logging.getLogger("leadgate.api")
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:leadgate:problem:"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal server error",
    503: "Service unavailable",
    507: "Insufficient storage",
}


class ApiProblem(Exception):
    """Raise anywhere in a handler to answer with this problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        kind: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        self.status = status
        self.detail = detail
        self.kind = kind
        self.title = title
        self.headers = headers
        self.extra = extra
        super().__init__(detail)


class BodyTooLarge(ApiProblem):
    """The request body is over the configured limit."""

    def __init__(self, limit: int):
        super().__init__(
            413,
            f"the request body is larger than the {limit:,} byte limit: send fewer events "
            "per request (a batch takes up to 10,000)",
            "body-too-large",
            limit=limit,
        )


def problem(
    status: int,
    detail: str,
    kind: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind if kind else "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return Response(orjson.dumps(body), status, headers=headers, media_type=MEDIA_TYPE)


def pointer(parts: Any) -> str:
    """A JSON pointer (RFC 6901) in URI-fragment form, e.g. `#/events/3/email`."""
    out = []
    for p in parts:
        out.append(str(p).replace("~", "~0").replace("/", "~1"))
    return "#/" + "/".join(out) if out else "#"


def field_pointer(field: str) -> str:
    """`fit.rules[0].points` (or `email`) as a pointer."""
    parts: list[str] = []
    for seg in field.replace("]", "").split("."):
        parts.extend(x for x in seg.split("[") if x)
    return pointer(parts)


def _json_media(ctype: str) -> bool:
    media = ctype.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _validation(request: Request, exc: RequestValidationError) -> Response:
    ctype = request.headers.get("content-type", "")
    sent = (
        request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    )
    if sent and not _json_media(ctype) and any(e.get("loc") == ("body",) for e in exc.errors()):
        # The body was not read as JSON at all (`curl -d` sends a form type): the
        # validator's "#: Input should be a valid dictionary" would hide the cause.
        got = f"'{ctype[:100]}'" if ctype else "none"
        return problem(
            415,
            f"send the body as JSON, with Content-Type: application/json (got {got})",
            "unsupported-media-type",
        )
    errors = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        where = loc[0] if loc else "body"
        msg = str(err.get("msg", "invalid"))
        if where == "body":
            errors.append({"pointer": pointer(loc[1:]), "detail": msg})
        else:
            name = str(loc[1]) if len(loc) > 1 else ""
            errors.append({"parameter": name, "in": str(where), "detail": msg})
    first = errors[0] if errors else {"detail": "invalid request"}
    place = first.get("pointer") or first.get("parameter") or ""
    detail = f"{place}: {first['detail']}" if place else str(first["detail"])
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem(422, detail, "validation", errors=errors)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        return problem(exc.status, exc.detail, exc.kind, exc.title, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _req_validation(request: Request, exc: RequestValidationError) -> Response:
        return _validation(request, exc)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Response:
        return problem(
            422,
            str(exc),
            "validation",
            errors=[{"pointer": field_pointer(exc.field), "detail": exc.message}],
        )

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return problem(404, str(exc), "not-found")

    @app.exception_handler(KeyNotFound)
    async def _key_not_found(request: Request, exc: KeyNotFound) -> Response:
        return problem(404, str(exc), "not-found")

    @app.exception_handler(SubscriptionNotFound)
    async def _sub_not_found(request: Request, exc: SubscriptionNotFound) -> Response:
        return problem(404, str(exc), "not-found")

    @app.exception_handler(IllegalTransition)
    async def _illegal(request: Request, exc: IllegalTransition) -> Response:
        return problem(
            409, str(exc), "illegal-transition", "Illegal stage change", allowed=exc.allowed
        )

    @app.exception_handler(PlaybookError)
    async def _playbook(request: Request, exc: PlaybookError) -> Response:
        errors = [
            {
                "line": p.line,
                "field": p.path or None,
                "pointer": field_pointer(p.path) if p.path else "#",
                "detail": p.message,
            }
            for p in exc.problems
        ]
        return problem(
            422,
            str(exc.problems[0]) if exc.problems else "invalid playbook",
            "invalid-playbook",
            "Invalid playbook",
            errors=errors,
        )

    @app.exception_handler(NoPlaybook)
    async def _no_playbook(request: Request, exc: NoPlaybook) -> Response:
        return problem(503, str(exc), "no-playbook")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        found = trouble(exc)
        if found is not None:
            # The store busy with another process's write (a CLI import), or its disk
            # full: nothing of the request was written; the client may send it again.
            retry = {"Retry-After": found.retry_after} if found.retry_after else None
            if found.status >= 500:
                log.error("%s on %s %s", found.message, request.method, one_line(request.url.path))
            return problem(found.status, found.message, found.kind, headers=retry)
        # Logged with its traceback for the operator; the client only learns it failed.
        # The path is the client's: escaped, as in the access log (leadgate.textout).
        log.error(
            "unhandled error on %s %s", request.method, one_line(request.url.path), exc_info=exc
        )
        return problem(500, "the server failed to handle this request; it has been logged")


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "pointer": {"type": "string"},
                    "parameter": {"type": "string"},
                    "in": {"type": "string"},
                    "line": {"type": ["integer", "null"]},
                    "field": {"type": ["string", "null"]},
                    "detail": {"type": "string"},
                },
            },
        },
        "allowed": {"type": "array", "items": {"type": "string"}},
    },
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem codes."""
    return {
        c: {
            "description": _TITLES.get(c, "Error"),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for c in codes
    }
