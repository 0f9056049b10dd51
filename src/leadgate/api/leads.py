"""Leads: upsert, list (filtered, by priority, keyset-paginated), show, move stage."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.responses import Response

from leadgate.api.auth import READ_LEADS, STAGE, WRITE_LEADS, actor, context, require
from leadgate.api.context import ApiContext
from leadgate.api.problems import ApiProblem, responses
from leadgate.api.queries import (
    ANYTHING_DUE_SQL,
    LEAD_ID_SQL,
    LEAD_REF_SQL,
    SORTS,
    LeadFilter,
    anything_due,
    kept_address,
    lead_id_of,
    lead_ref,
    list_page,
)
from leadgate.api.quick import Unavailable
from leadgate.engine.engine import NotFound
from leadgate.ingest.columns import canonical, typed_value
from leadgate.ingest.validate import (
    MAX_PROPERTIES_BYTES,
    InputError,
    check_email,
    iso,
    parse_time,
    text_ok,
)
from leadgate.keys import ApiKey
from leadgate.lifecycle.stages import STAGES, stage_name
from leadgate.privacy.suppression import REFUSED as SUPPRESSED

router = APIRouter()
LeadId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The lead's id.")]


def json_response(data: Any, status: int = 200) -> Response:
    """orjson-encoded JSON."""
    return Response(orjson.dumps(data), status, media_type="application/json")


class LeadIn(BaseModel):
    """A lead to create or update, matched by email (case-insensitive). Fields other than
    `email` and `attributes` are attributes too (`{"email": ..., "job_title": "CTO"}`)."""

    model_config = ConfigDict(extra="allow")
    email: str = Field(max_length=320, description="The lead's key.")
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Attribute values, e.g. job_title, company_size."
    )


def _stage_name(v: Any) -> Any:
    return stage_name(v) if isinstance(v, str) else v


# Stage names ignore case (`SAL` is `sal`), in bodies and query strings alike.
StageName = Annotated[Literal[STAGES], BeforeValidator(_stage_name)]  # type: ignore[valid-type]


class StageIn(BaseModel):
    """A manual stage change."""

    model_config = ConfigDict(extra="forbid")
    to: StageName = Field(description="The target stage (any case).")
    reason: str | None = Field(
        default=None, max_length=2000, description="Why (needed for moves back or out)."
    )


LEAD_SCHEMA = {"type": "object", "description": "A lead as `leadgate lead show --json` prints it."}
WRITE_RECEIPT_SCHEMA = {
    "type": "object",
    "description": "What a key that may write but not read leads (ingest) gets back.",
    "required": ["id", "created"],
    "properties": {"id": {"type": "integer"}, "created": {"type": "boolean"}},
    "additionalProperties": False,
}
LEAD_OR_RECEIPT = {"oneOf": [LEAD_SCHEMA, WRITE_RECEIPT_SCHEMA]}


def _unstorable(value: Any) -> str | None:
    """Why `value` cannot be stored as sent, or None: a NaN or infinite number (the body's
    JSON parser reads `NaN`, `Infinity` and `1e309` as such floats, and the store's JSON
    would write null), a NUL character (PostgreSQL's JSON refuses it)."""
    if value.__class__ is float:
        return None if math.isfinite(value) else "NaN, Infinity or a number too large for a double"
    if isinstance(value, str):
        return "contains a NUL character" if "\x00" in value else None
    if isinstance(value, dict):
        return next(filter(None, map(_unstorable, [*value, *value.values()])), None)
    if isinstance(value, list):
        return next(filter(None, map(_unstorable, value)), None)
    return None


def _attributes(body: LeadIn, now: float) -> tuple[dict[str, Any], float | None]:
    raw: dict[str, Any] = dict(body.attributes)
    raw.update(body.model_extra or {})
    country = raw.get("country") if isinstance(raw.get("country"), str) else None
    attrs: dict[str, Any] = {}
    created: float | None = None
    for k, v in raw.items():
        key = canonical(text_ok(str(k), "attributes"))
        if not key:
            raise InputError(f"attributes.{k}", "an attribute needs a name")
        if key == "email" or v is None:
            continue
        if key == "created_at":
            # Bounded like every other time that records a fact: [1970, now + skew].
            created = parse_time(v, "created_at", now)
            continue
        attrs[key] = typed_value(key, v, country) if isinstance(v, str) else v
        if attrs[key] is None:
            del attrs[key]
    try:
        size = len(orjson.dumps(attrs))
    except TypeError as exc:
        raise InputError("attributes", f"not storable JSON: {exc}") from None
    # After the dump, which refuses nesting over 255 levels: the walk below cannot
    # overflow the stack. The dump itself writes NaN and infinities as null.
    for k, v in attrs.items():
        why = _unstorable(v)
        if why is not None:
            raise InputError(k, why)
    if size > MAX_PROPERTIES_BYTES:
        raise InputError("attributes", f"over the {MAX_PROPERTIES_BYTES // 1024} KB limit")
    return attrs, created


@router.post(
    "/leads",
    summary="Create or update a lead (by email)",
    responses={
        200: {
            "description": "Updated (or unchanged): the lead to read roles, `{id, created}` to "
            "ingest keys",
            "content": {"application/json": {"schema": LEAD_OR_RECEIPT}},
        },
        201: {
            "description": "Created: the lead to read roles, `{id, created}` to ingest keys",
            "content": {"application/json": {"schema": LEAD_OR_RECEIPT}},
        },
        **responses(401, 403, 413, 422),
    },
)
async def upsert_lead(
    body: LeadIn, request: Request, key: ApiKey = Depends(require(*WRITE_LEADS))
) -> Response:
    """Upsert by email; attribute changes re-score fit (and may make an MQL).

    Read roles get the lead back; an ingest key gets `{id, created}` only: it may write
    leads but never read them (their attributes, scores, history, owner)."""
    ctx = context(request)
    email = check_email(text_ok(body.email, "email"))
    attrs, created_at = _attributes(body, ctx.engine.clock())
    refused: list[str] = []
    created, _, _ = await ctx.write(
        ctx.engine.upsert_leads, [(email, attrs, created_at)], actor(key), refused, small=True
    )
    if refused:
        raise ApiProblem(409, "email: " + SUPPRESSED, "suppressed")
    status = 201 if created else 200
    if key.role not in READ_LEADS:
        lead_id: int | None
        try:
            row = await ctx.quick.one(LEAD_ID_SQL, [email])
            lead_id = int(row[0]) if row is not None else None
        except Unavailable:
            lead_id = await ctx.read(lead_id_of, ctx.db, email)
        if lead_id is None:
            # Another spelling of a lead (merged, identity rules): the write went there.
            kept = await ctx.read(kept_address, ctx.engine, email)
            lead_id = await ctx.read(lead_id_of, ctx.db, kept)
        return json_response({"id": lead_id, "created": bool(created)}, status)
    try:
        data = await ctx.read(ctx.engine.show, email, small=True)
    except NotFound:
        kept = await ctx.read(kept_address, ctx.engine, email)
        data = await ctx.read(ctx.engine.show, kept)
    return json_response(data, status)


_LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "next_cursor": {"type": ["string", "null"]},
    },
}


async def _tick_if_due(ctx: ApiContext) -> None:
    # Timers (decay exits, cooldowns) fire lazily; a list should not show a stale stage.
    now = ctx.engine.clock()
    try:
        due = await ctx.quick.one(ANYTHING_DUE_SQL, [now]) is not None
    except Unavailable:
        due = await ctx.read(anything_due, ctx.db, now)
    if due:
        await ctx.write(ctx.engine.tick)


_LIST_PARAMS = frozenset(
    (
        "stage",
        "owner",
        "grade",
        "min_score",
        "max_score",
        "updated_since",
        "sort",
        "limit",
        "cursor",
        "email",
    )
)


@router.get(
    "/leads",
    summary="List leads (filtered, best first, cursor-paginated)",
    responses={
        200: {
            "description": "A page of leads",
            "content": {"application/json": {"schema": _LIST_SCHEMA}},
        },
        **responses(400, 401, 403, 422),
    },
)
async def list_leads(
    request: Request,
    stage: Annotated[StageName | None, Query()] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    grade: Annotated[
        str | None,
        Query(
            pattern=r"^([A-Da-d][1-4]?|[1-4])$",
            description="A-D (fit), 1-4 (engagement), or e.g. B2",
        ),
    ] = None,
    min_score: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    max_score: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    updated_since: Annotated[str | None, Query(description="ISO 8601", max_length=64)] = None,
    sort: Annotated[
        Literal["priority", "score", "recent", "created"],
        Query(description="priority: grade, then score, then oldest first"),
    ] = "priority",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
    email: Annotated[
        str | None,
        Query(max_length=320, description="Look a lead up by email (any case): 0 or 1 item"),
    ] = None,
    key: ApiKey = Depends(require(*READ_LEADS)),
) -> Response:
    """Leads, filtered; `next_cursor` gives the next page (null at the end)."""
    ctx = context(request)
    # An unknown parameter (a typo, `?mail=`) would otherwise be ignored and the top
    # leads returned as if it matched.
    unknown = sorted(set(request.query_params) - _LIST_PARAMS)
    if unknown:
        raise ApiProblem(
            400,
            f"unknown query parameter '{unknown[0]}' (known: {', '.join(sorted(_LIST_PARAMS))})",
            "unknown-parameter",
        )
    since = None
    if updated_since:
        since = parse_time(text_ok(updated_since, "updated_since"), "updated_since", 1e18)
    f = LeadFilter(
        stage=stage,
        owner=text_ok(owner, "owner") if owner else None,
        grade=grade,
        min_score=min_score,
        max_score=max_score,
        updated_since=since,
        sort=sort if sort in SORTS else "priority",
        limit=limit,
        cursor=text_ok(cursor, "cursor") if cursor else None,
        email=await _lookup_address(ctx, email) if email is not None else None,
    )
    await _tick_if_due(ctx)
    items, next_cursor = await ctx.read(list_page, ctx.db, f)
    return json_response({"items": items, "next_cursor": next_cursor})


async def _lookup_address(ctx: ApiContext, email: str) -> str:
    """The address `?email=` finds: a lead merged into another, or another spelling
    under the identity rules, finds the kept lead, as POST /leads lands on it."""
    return await ctx.read(kept_address, ctx.engine, check_email(text_ok(email, "email")))


async def _email_of(ctx: ApiContext, lead_id: int) -> str:
    ref: tuple[Any, ...] | None
    try:
        ref = await ctx.quick.one(LEAD_REF_SQL, [lead_id])
    except Unavailable:
        ref = await ctx.read(lead_ref, ctx.db, lead_id)
    if ref is None:
        raise NotFound(f"no lead {lead_id}")
    email, due = ref
    if due is not None and due <= ctx.engine.clock():
        await ctx.write(ctx.engine.tick)
    return str(email)


_EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}


@router.get(
    "/leads/export",
    summary="Every lead with every attribute, scores, stage, owner, predicted (streamed)",
    responses={
        200: {
            "description": "CSV, JSON Lines or Parquet, streamed in chunks",
            "content": {t: {} for t in _EXPORT_TYPES.values()},
        },
        **responses(400, 401, 403, 422),
    },
)
async def export_leads(
    request: Request,
    format: Annotated[Literal["csv", "jsonl", "parquet"], Query()] = "csv",
    fields: Annotated[
        str | None,
        Query(max_length=5000, description="Comma-separated lead columns or attribute names"),
    ] = None,
    stage: Annotated[StageName | None, Query()] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[
        str | None, Query(max_length=64, description="Created at or after (ISO 8601)")
    ] = None,
    key: ApiKey = Depends(require(*READ_LEADS)),
) -> Response:
    """The whole store (or the filtered part) as a file, read a chunk at a time by id so
    the server's memory stays flat; see `leadgate lead export`."""
    from starlette.responses import StreamingResponse

    from leadgate.export.leads import ExportFilter, check_fields, iter_export

    ctx = context(request)
    start = parse_time(text_ok(since, "since"), "since", 1e18) if since else None
    cols = check_fields(text_ok(fields, "fields").split(",")) if fields is not None else None
    f = ExportFilter(stage, text_ok(owner, "owner") if owner else None, start)
    return StreamingResponse(
        iter_export(ctx.db, format, f, cols),
        media_type=_EXPORT_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="leads.{format}"'},
    )


@router.get(
    "/leads/{lead_id}",
    summary="One lead: scores, grades, stage, owner, explanation, history",
    responses={
        200: {"description": "The lead", "content": {"application/json": {"schema": LEAD_SCHEMA}}},
        **responses(401, 403, 404, 422),
    },
)
async def get_lead(
    lead_id: LeadId, request: Request, key: ApiKey = Depends(require(*READ_LEADS))
) -> Response:
    """Everything about one lead, scored as of now."""
    ctx = context(request)
    email = await _email_of(ctx, lead_id)
    return json_response(await ctx.read(ctx.engine.show, email, small=True))


@router.post(
    "/leads/{lead_id}/stage",
    summary="Move a lead to another stage",
    responses={
        200: {
            "description": "Moved",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **responses(401, 403, 404, 409, 422),
    },
)
async def set_stage(
    lead_id: LeadId, body: StageIn, request: Request, key: ApiKey = Depends(require(*STAGE))
) -> Response:
    """A manual move; 409 with the allowed targets when the move is not allowed."""
    ctx = context(request)
    email = await _email_of(ctx, lead_id)
    reason = text_ok(body.reason, "reason") if body.reason else None
    t = await ctx.write(ctx.engine.set_stage, email, body.to, reason, actor(key), small=True)
    lead = await ctx.read(ctx.engine.show, email, small=True)
    return json_response(
        {
            "transition": {
                "from": t.from_stage,
                "to": t.to_stage,
                "at": iso(t.at),
                "actor": t.actor,
                "reason": t.reason,
            },
            "lead": lead,
        }
    )
