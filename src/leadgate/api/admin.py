"""Playbook, funnel report, webhooks, API keys, health."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from leadgate.api.auth import ADMIN, MARKETING, actor, context, require
from leadgate.api.events import decode_json, read_body
from leadgate.api.leads import json_response
from leadgate.api.problems import ApiProblem, responses
from leadgate.engine.activation import activate
from leadgate.ingest.validate import InputError, iso, text_ok
from leadgate.keys import ROLES, ApiKey, create_key, list_keys, revoke_key
from leadgate.playbook.loader import load_playbook
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.webhooks import (
    EVENT_TYPES,
    add_subscription,
    check_url,
    deactivate_subscription,
    list_deliveries,
    list_subscriptions,
    replay,
)
from leadgate.webhooks.targets import check_target

router = APIRouter()
health = APIRouter()
_OBJ = {"application/json": {"schema": {"type": "object"}}}


# -- health ------------------------------------------------------------------------------


@health.get(
    "/healthz", summary="The process is up", responses={200: {"description": "Up", "content": _OBJ}}
)
async def healthz() -> Response:
    """Always 200 while the process serves."""
    return json_response({"status": "ok"})


def _ready(db: Database) -> tuple[bool, str]:
    try:
        current = db.schema_current()
    except Exception as exc:
        return False, f"database unreachable ({type(exc).__name__})"
    return (
        (True, "ready")
        if current
        else (False, "database schema is not current: run `leadgate init`")
    )


@health.get(
    "/readyz",
    summary="The database is reachable and migrated",
    responses={200: {"description": "Ready", "content": _OBJ}, **responses(503)},
)
async def readyz(request: Request) -> Response:
    """200 when the store answers and every migration ran, else 503."""
    ctx = context(request)
    ok, why = await ctx.read(_ready, ctx.db)
    if not ok:
        raise ApiProblem(503, why, "not-ready")
    return json_response({"status": "ready"})


# -- playbook ----------------------------------------------------------------------------


def _active(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        row = (
            Repository(db, conn)
            .execute(
                "SELECT version, name, yaml, sha256, activated_at, activated_by FROM playbooks "
                "ORDER BY version DESC LIMIT 1"
            )
            .fetchone()
        )
    if row is None:
        raise ApiProblem(503, "no active playbook: run `leadgate init`", "no-playbook")
    return {
        "version": row[0],
        "name": row[1],
        "yaml": row[2],
        "sha256": row[3],
        "activated_at": iso(row[4]),
        "activated_by": row[5],
    }


@router.get(
    "/playbook",
    summary="The active playbook (YAML and version)",
    responses={
        200: {"description": "Active playbook", "content": _OBJ},
        **responses(401, 403, 503),
    },
)
async def get_playbook(request: Request, key: ApiKey = Depends(require(*MARKETING))) -> Response:
    """The active version's YAML, as stored."""
    ctx = context(request)
    return json_response(await ctx.read(_active, ctx.db))


_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


@router.put(
    "/playbook",
    summary="Validate, activate and rescore under a new playbook",
    description=(
        "Send the YAML as the body (`Content-Type: application/yaml`) or as JSON "
        '`{"yaml": "..."}`. Invalid YAML is a 422 listing each problem with its line '
        "and field. Every lead is rescored under the new version before the answer."
    ),
    responses={
        200: {"description": "Activated", "content": _OBJ},
        **responses(400, 401, 403, 413, 415, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["yaml"],
                        "properties": {"yaml": {"type": "string"}},
                        "additionalProperties": False,
                    }
                },
            },
        }
    },
)
async def put_playbook(request: Request, key: ApiKey = Depends(require(*MARKETING))) -> Response:
    """Activate a new playbook version."""
    ctx = context(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request)
    if ctype == "application/json":
        data = decode_json(body)
        if not isinstance(data, dict) or not isinstance(data.get("yaml"), str):
            raise InputError("yaml", 'send {"yaml": "<playbook text>"}')
        text = data["yaml"]
    elif ctype in _YAML_TYPES or not ctype:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiProblem(
                400, f"the body is not UTF-8 text (byte {exc.start})", "bad-text"
            ) from None
    else:
        raise ApiProblem(
            415, f"send the playbook as application/yaml or application/json, not {ctype}"
        )
    text_ok(text, "yaml")
    # Parse and validate before queueing for the write lock (and in a worker thread, off
    # the event loop): the loader's limits bound the work, and a refused playbook never
    # makes the other writers wait.
    await anyio.to_thread.run_sync(load_playbook, text, "request body")
    done = await ctx.write(activate, ctx.engine, text, "request body", actor(key))
    # version, name, rescored, warnings as before; unchanged/same_as and the counts added.
    return json_response(done.as_dict())


# -- reports -----------------------------------------------------------------------------


@router.get(
    "/reports/funnel",
    summary="Leads per stage, reached per stage, step conversion",
    responses={200: {"description": "The funnel", "content": _OBJ}, **responses(401, 403, 422)},
)
async def funnel(
    request: Request,
    segment: Annotated[
        str | None,
        Query(max_length=100, description="Only the leads in this segment of the playbook"),
    ] = None,
    key: ApiKey = Depends(require(*MARKETING)),
) -> Response:
    """The funnel now (of one segment's leads, with `segment`)."""
    ctx = context(request)
    # funnel() fires due timers first: a write, so it queues with the other writes.
    return json_response(await ctx.write(ctx.engine.funnel, segment))


# -- webhooks ----------------------------------------------------------------------------


class WebhookIn(BaseModel):
    """A subscription. A secret is generated (and returned once) when not given."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000, description="http(s) URL that receives POSTs")
    events: list[str] = Field(min_length=1, max_length=10, description=", ".join(EVENT_TYPES))
    secret: str | None = Field(default=None, min_length=16, max_length=200)


@router.post(
    "/webhooks",
    status_code=201,
    summary="Subscribe a URL to lead events",
    responses={201: {"description": "Created", "content": _OBJ}, **responses(401, 403, 422)},
)
async def post_webhook(
    body: WebhookIn, request: Request, key: ApiKey = Depends(require(*ADMIN))
) -> Response:
    """Create a subscription; the answer carries the signing secret if it was generated."""
    ctx = context(request)
    url = text_ok(body.url, "url")
    secret = text_ok(body.secret, "secret") if body.secret is not None else None
    # Checked (a name resolved) in a worker thread before taking the write turn, so a slow
    # resolver does not hold up other writers; add_subscription checks again.
    await ctx.read(check_target, check_url(url))
    sub, made = await ctx.write(add_subscription, ctx.db, url, body.events, secret, actor(key))
    out = sub.as_dict()
    if body.secret is None:
        out["secret"] = made
    return json_response(out, 201)


@router.get(
    "/webhooks",
    summary="Webhook subscriptions",
    responses={200: {"description": "Subscriptions", "content": _OBJ}, **responses(401, 403)},
)
async def get_webhooks(request: Request, key: ApiKey = Depends(require(*ADMIN))) -> Response:
    """Every subscription (without secrets)."""
    ctx = context(request)
    subs = await ctx.read(list_subscriptions, ctx.db)
    return json_response({"items": [s.as_dict() for s in subs]})


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    summary="Stop a subscription",
    responses={204: {"description": "Stopped"}, **responses(401, 403, 404, 422)},
)
async def delete_webhook(
    webhook_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    key: ApiKey = Depends(require(*ADMIN)),
) -> Response:
    """Deactivate; nothing more is sent to it."""
    ctx = context(request)
    await ctx.write(deactivate_subscription, ctx.db, webhook_id)
    return Response(status_code=204)


@router.get(
    "/webhooks/deliveries",
    summary="Recent webhook deliveries",
    responses={200: {"description": "Deliveries", "content": _OBJ}, **responses(401, 403, 422)},
)
async def get_deliveries(
    request: Request,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    key: ApiKey = Depends(require(*ADMIN)),
) -> Response:
    """Newest first."""
    ctx = context(request)
    return json_response({"items": await ctx.read(list_deliveries, ctx.db, status, limit)})


class ReplayIn(BaseModel):
    """Which deliveries to send again."""

    model_config = ConfigDict(extra="forbid")
    delivery_id: str | None = Field(default=None, max_length=64)
    dead: bool = False


@router.post(
    "/webhooks/replay",
    summary="Send deliveries again (one by id, or every dead-lettered one)",
    responses={200: {"description": "Queued", "content": _OBJ}, **responses(401, 403, 404, 422)},
)
async def post_replay(
    body: ReplayIn, request: Request, key: ApiKey = Depends(require(*ADMIN))
) -> Response:
    """Queue again; the same delivery id is reused, so receivers can de-duplicate."""
    ctx = context(request)
    did = text_ok(body.delivery_id, "delivery_id") if body.delivery_id else None
    n = await ctx.write(replay, ctx.db, did, body.dead)
    return json_response({"queued": n})


# -- keys --------------------------------------------------------------------------------


class KeyIn(BaseModel):
    """A new API key."""

    model_config = ConfigDict(extra="forbid")
    role: str = Field(
        description=" | ".join(ROLES), pattern="^(admin|marketing|sales|ingest|browser)$"
    )
    name: str = Field(min_length=1, max_length=200)
    # A browser key's allowed origins (required for it, refused for the others).
    origins: list[str] = Field(default_factory=list, max_length=50)


@router.get(
    "/keys",
    summary="API keys (never their secrets)",
    responses={200: {"description": "Keys", "content": _OBJ}, **responses(401, 403)},
)
async def get_keys(request: Request, key: ApiKey = Depends(require(*ADMIN))) -> Response:
    """Every key, revoked ones included."""
    ctx = context(request)
    return json_response({"items": [k.as_dict() for k in await ctx.read(list_keys, ctx.db)]})


@router.post(
    "/keys",
    status_code=201,
    summary="Create an API key (shown once)",
    responses={201: {"description": "Created", "content": _OBJ}, **responses(401, 403, 422)},
)
async def post_key(
    body: KeyIn, request: Request, key: ApiKey = Depends(require(*ADMIN))
) -> Response:
    """The answer's `key` is the only time the secret is shown."""
    ctx = context(request)
    name = text_ok(body.name, "name")
    origins = [text_ok(o, "origin") for o in body.origins]
    made, secret = await ctx.write(create_key, ctx.db, body.role, name, actor(key), origins)
    return json_response({**made.as_dict(), "key": secret}, 201)


@router.delete(
    "/keys/{key_id}",
    summary="Revoke an API key (at once)",
    responses={200: {"description": "Revoked", "content": _OBJ}, **responses(401, 403, 404, 422)},
)
async def delete_key(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    key: ApiKey = Depends(require(*ADMIN)),
) -> Response:
    """Revoke; requests with it are refused from now on."""
    ctx = context(request)
    revoked = await ctx.write(revoke_key, ctx.db, str(key_id))
    return json_response(revoked.as_dict())
