"""The browser's way in: `/t.js` (the tracker) and `POST /api/v1/track` for browser keys.

A `browser` key is publishable (it sits in the page), so what it may do is narrow:
post events of the types the playbook lists in `browser_events`, for an anonymous
visitor id, from an origin bound to the key, within a rate per visitor and per client
address. It reads nothing. The events are kept under the visitor until an identified
event names it (`visitor_id` in its properties) and stitches them to the lead.

    <script src="https://leads.example.com/t.js" data-key="lg_…" async></script>

sends `{"visitor_id": "…", "events": [{"type": "page_view", "properties": {…}}]}`
with the key in the query string (`?key=`), as `text/plain` (no preflight); a caller
that sends JSON or an Authorization header gets the CORS preflight answered too.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from importlib import resources
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.responses import Response

from leadgate.api.auth import _check, context
from leadgate.api.events import decode_json, read_body
from leadgate.api.problems import ApiProblem, responses
from leadgate.keys import ApiKey, check_origin
from leadgate.ratelimit import RateLimit, client_key

router = APIRouter()
public = APIRouter()

MAX_EVENTS = 20
MAX_PROPERTIES_BYTES = 4096
MAX_BODY = 64 * 1024
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# Per minute; per process (each server process counts its own requests).
VISITOR_RATE = int(os.environ.get("LEADGATE_TRACK_VISITOR_PER_MINUTE", "60"))
CLIENT_RATE = int(os.environ.get("LEADGATE_TRACK_CLIENT_PER_MINUTE", "600"))
_TRACKER = resources.files("leadgate.api").joinpath("static/t.js").read_bytes()


def limits(request: Request) -> tuple[RateLimit, RateLimit]:
    """This app's limiters (per visitor, per client address), made on first use."""
    state = request.app.state
    got: tuple[RateLimit, RateLimit] | None = getattr(state, "track_limits", None)
    if got is None:
        clock = context(request).engine.clock
        got = (RateLimit(VISITOR_RATE, 60.0, clock), RateLimit(CLIENT_RATE, 60.0, clock))
        state.track_limits = got
    return got


def _origin(request: Request) -> str | None:
    raw = request.headers.get("origin")
    if not raw or raw == "null":
        return None
    try:
        return check_origin(raw)
    except ValueError:
        return None


def _cors(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def _key(request: Request) -> ApiKey:
    """The browser key from `Authorization: Bearer` or `?key=`: 401 without a valid
    one, 403 for another role."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not token:
        scheme, token = "Bearer", request.query_params.get("key", "")
    creds = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None
    key = await _check(request, creds)
    if key.role != "browser":
        raise ApiProblem(
            403, f"a key with role '{key.role}' may not do this (needs browser)", "forbidden"
        )
    return key


def _allowed_origin(request: Request, key: ApiKey) -> str:
    origin = _origin(request)
    if origin is None or origin not in key.origins:
        shown = request.headers.get("origin") or "none"
        raise ApiProblem(
            403,
            f"origin {shown[:100]} may not use this key (allowed: {', '.join(key.origins)})",
            "forbidden-origin",
        )
    return origin


def _size(props: dict[str, Any]) -> float:
    """The properties' size as stored; infinite when they cannot be stored (nested
    deeper than orjson writes, 255 levels, though it reads 1,024)."""
    try:
        return len(orjson.dumps(props))
    except TypeError:
        return math.inf


def _parse(data: Any, allowed: list[str]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    if not isinstance(data, dict):
        raise ApiProblem(422, 'the body must be {"visitor_id": …, "events": […]}', "invalid")
    vid = data.get("visitor_id")
    if not isinstance(vid, str) or not VISITOR_ID.fullmatch(vid):
        raise ApiProblem(
            422, "visitor_id: 8 to 64 letters, digits, - or _", "invalid", pointer="#/visitor_id"
        )
    items = data.get("events", [data])
    if not isinstance(items, list) or not 0 < len(items) <= MAX_EVENTS:
        raise ApiProblem(422, f"events: 1 to {MAX_EVENTS} events", "invalid", pointer="#/events")
    out = []
    for i, it in enumerate(items):
        where = f"#/events/{i}" if "events" in data else "#"
        typ = it.get("type") if isinstance(it, dict) else None
        if not isinstance(typ, str) or typ not in allowed:
            raise ApiProblem(
                422,
                f"{where[2:] or 'type'}: event type {str(typ)[:100]!r} may not come from a "
                f"browser (the playbook's browser_events: {', '.join(allowed) or 'none'})",
                "event-type-not-allowed",
                pointer=f"{where}/type",
            )
        props = it.get("properties", {})
        if not isinstance(props, dict) or _size(props) > MAX_PROPERTIES_BYTES:
            raise ApiProblem(
                422,
                f"properties: an object of at most {MAX_PROPERTIES_BYTES} bytes",
                "invalid",
                pointer=f"{where}/properties",
            )
        out.append((typ, props))
    return vid, out


@router.options("/track", include_in_schema=False)
async def preflight(request: Request) -> Response:
    """CORS preflight: answered for an origin bound to the key in `?key=`."""
    key = await _key(request)
    origin = _allowed_origin(request, key)
    return Response(
        status_code=204,
        headers={
            **_cors(origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "authorization, content-type",
            "Access-Control-Max-Age": "600",
        },
    )


@router.post(
    "/track",
    status_code=202,
    summary="Page views and clicks of an anonymous visitor (browser keys)",
    description=(
        "For a `browser` key, from an origin bound to it: up to 20 events of the types in "
        "the playbook's `browser_events`, for `visitor_id`. Kept under the visitor until "
        "an identified event carrying the same `visitor_id` stitches them to the lead. "
        "Rate-limited per visitor and per client address (429). See docs/tracking.md."
    ),
    responses={
        202: {"description": "Recorded"},
        **responses(400, 401, 403, 413, 422, 429),
    },
)
async def track(request: Request) -> Response:
    """See the route description."""
    key = await _key(request)
    origin = _allowed_origin(request, key)
    try:
        ctx = context(request)
        body = await read_body(request)
        if len(body) > MAX_BODY:
            raise ApiProblem(
                413, f"a track request is at most {MAX_BODY:,} bytes", "body-too-large"
            )
        data = decode_json(body)
        proc = await ctx.read(ctx.engine.processor, small=True)
        vid, items = _parse(data, proc.playbook.browser_events)
        per_visitor, per_client = limits(request)
        client = client_key(request.client.host if request.client else "unknown")
        for limiter, name in ((per_client, client), (per_visitor, vid)):
            wait = limiter.retry_after(name)
            if wait is not None:
                raise ApiProblem(
                    429,
                    "too many events from this visitor or address: slow down",
                    "rate-limited",
                    headers={"Retry-After": str(int(wait))},
                )
        now = ctx.engine.clock()
        rows = [(f"b-{uuid.uuid4().hex}", vid, typ, now, props) for typ, props in items]
        new = await ctx.write(ctx.engine.track, rows, small=True)
    except ApiProblem as exc:
        # The page may read why (its origin is allowed): CORS headers on errors too.
        exc.headers = {**(exc.headers or {}), **_cors(origin)}
        raise
    return Response(
        orjson.dumps({"accepted": new}), 202, media_type="application/json", headers=_cors(origin)
    )


@public.get("/t.js", include_in_schema=False)
async def tracker() -> Response:
    """The tracker script (ours, about 2.5 kB): cached for an hour by browsers."""
    return Response(
        _TRACKER,
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )
