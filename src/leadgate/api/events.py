"""POST /events: one event or a batch of up to 10,000, answered after the commit.

The body is parsed with orjson and each item validated on its own (a bad item is
reported and its neighbours go on); FastAPI only documents the schema. The whole
batch is stored and scored in one engine transaction.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from leadgate.api.auth import WRITE_LEADS, context, require
from leadgate.api.context import ApiContext
from leadgate.api.problems import ApiProblem, BodyTooLarge, responses
from leadgate.api.queries import LEAD_REF_SQL, emails_by_id
from leadgate.api.quick import Unavailable
from leadgate.engine.engine import ItemResult
from leadgate.ingest.validate import EventIn, InputError, by_lead_id, lead_id_of, parse_event
from leadgate.keys import ApiKey

MAX_BATCH = 10_000
router = APIRouter()
_STATUS = attrgetter("status")

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An event. Give `email` or `lead_id` (an unknown email creates the lead).",
    "properties": {
        "id": {
            "type": "string",
            "maxLength": 200,
            "description": "Your id: a repeated id is acknowledged as `duplicate` and not "
            "counted twice. Default: derived from the content.",
        },
        "email": {"type": "string", "format": "email"},
        "lead_id": {"type": "integer", "minimum": 1},
        "type": {"type": "string", "minLength": 1, "maxLength": 100},
        "occurred_at": {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601; default: now. Not in the future.",
        },
        "properties": {"type": "object", "additionalProperties": True},
    },
    "required": ["type"],
    "additionalProperties": False,
}
_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"events": {"type": "array", "items": _EVENT_SCHEMA, "maxItems": MAX_BATCH}},
    "required": ["events"],
    "additionalProperties": False,
}
_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["accepted", "duplicate", "rejected", "items"],
    "properties": {
        "accepted": {"type": "integer"},
        "duplicate": {"type": "integer"},
        "rejected": {"type": "integer"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "id", "status"],
                "properties": {
                    "index": {"type": "integer"},
                    "id": {"type": ["string", "null"]},
                    "status": {"type": "string", "enum": ["accepted", "duplicate", "rejected"]},
                    "lead_id": {"type": ["integer", "null"]},
                    "error": {"type": "string"},
                    "pointer": {"type": "string"},
                },
            },
        },
    },
}


async def read_body(request: Request) -> bytes:
    """The request body, refusing more than the app's limit as it arrives."""
    limit: int = request.app.state.max_body
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    """orjson, with a 400 problem that says where the JSON broke."""
    if not body:
        raise ApiProblem(400, "the request body is empty: send a JSON event or batch", "bad-json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiProblem(400, f"the body is not valid JSON: {exc}", "bad-json") from None


def split_items(data: Any) -> list[Any]:
    """The events of a body: one event object, or {"events": [...]}."""
    if isinstance(data, dict) and "events" in data:
        extra = sorted(set(data) - {"events"})
        if extra:
            raise InputError(extra[0], "unknown field in a batch (only `events`)")
        items = data["events"]
        if not isinstance(items, list):
            raise InputError("events", "must be an array of events")
        if len(items) > MAX_BATCH:
            raise InputError(
                "events", f"{len(items):,} events: a batch takes at most {MAX_BATCH:,}"
            )
        return items
    if isinstance(data, dict):
        return [data]
    raise InputError("", 'the body must be an event object or {"events": [...]}')


def wanted_lead_ids(items: list[Any]) -> list[int]:
    """The lead ids that items name instead of an email."""
    wanted: set[int] = set()
    for it in items:
        # `in` first: most items name an email, and a call per item costs ~5x the test.
        if isinstance(it, dict) and "lead_id" in it:
            lid = lead_id_of(it)
            if lid is not None:
                wanted.add(lid)
    return sorted(wanted)


def parse_items(
    items: list[Any], now: float, emails: dict[int, str]
) -> tuple[list[EventIn], list[int], dict[int, dict[str, Any]]]:
    """Validate each item: (events, their indexes, rejections by index)."""
    rejected: dict[int, dict[str, Any]] = {}
    events: list[EventIn] = []
    index: list[int] = []
    for i, it in enumerate(items):
        try:
            if isinstance(it, dict) and "lead_id" in it:
                it = by_lead_id(it, emails)
            # Refuses a NUL in the id, type and properties, and a time before 1970.
            ev = parse_event(it, now)
        except InputError as exc:
            ptr = f"#/events/{i}/{exc.field}" if exc.field else f"#/events/{i}"
            rejected[i] = {"error": str(exc), "pointer": ptr}
            continue
        except Exception as exc:  # a value no validator foresaw: reject the item, not the batch
            rejected[i] = {
                "error": f"invalid event ({type(exc).__name__})",
                "pointer": f"#/events/{i}",
            }
            continue
        events.append(ev)
        index.append(i)
    return events, index, rejected


async def _emails(ctx: ApiContext, ids: list[int]) -> dict[int, str]:
    if len(ids) == 1:
        # The common case of a single event by lead id: no worker thread.
        try:
            row = await ctx.quick.one(LEAD_REF_SQL, ids)
        except Unavailable:
            pass
        else:
            return {ids[0]: row[0]} if row is not None else {}
    return await ctx.read(emails_by_id, ctx.db, ids)


@router.post(
    "/events",
    summary="Record one event or a batch of events",
    description=(
        'One event, or `{"events": [...]}` with up to 10,000. The answer comes after the '
        "batch is committed and lists each item: `accepted`, `duplicate` (id seen before; "
        "acknowledged, not counted twice) or `rejected` with the reason. A rejected item "
        "never rejects its neighbours."
    ),
    responses={
        200: {
            "description": "Per-item outcome",
            "content": {"application/json": {"schema": _RESULT_SCHEMA}},
        },
        **responses(400, 401, 403, 413, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [_EVENT_SCHEMA, _BATCH_SCHEMA]}}},
        }
    },
)
async def post_events(request: Request, key: ApiKey = Depends(require(*WRITE_LEADS))) -> Response:
    """See the route description."""
    ctx = context(request)
    body = await read_body(request)
    data = decode_json(body)
    items = split_items(data)
    single = not (isinstance(data, dict) and "events" in data)
    now = ctx.engine.clock()
    wanted = wanted_lead_ids(items)
    emails = await _emails(ctx, wanted) if wanted else {}
    if len(items) <= 20:
        # A few events: validating inline costs less than a trip to a worker thread.
        events, index, rejected = parse_items(items, now, emails)
    else:
        events, index, rejected = await ctx.read(parse_items, items, now, emails)
    results = await ctx.ingest(events, now)
    return Response(
        answer(items, index, results, rejected, single), 200, media_type="application/json"
    )


def answer(
    items: list[Any],
    index: list[int],
    results: list[ItemResult],
    rejected: dict[int, dict[str, Any]],
    single: bool,
) -> bytes:
    """The answer's JSON: the counts, then each item in the body's order: the engine's
    `results` for the valid items (at positions `index`), the `rejected` ones' reasons.

    Built for a 1,000-event batch's GIL time (issue 17): the valid items' objects in one
    comprehension and the counts by C-level `list.count` (less interpreter work than a
    loop storing each item into its place); the rare refused or rejected items after."""
    done: list[dict[str, Any]] = [
        {"index": pos, "id": r.id, "status": r.status, "lead_id": r.lead_id}
        for pos, r in zip(index, results, strict=True)
    ]
    statuses = list(map(_STATUS, results))
    accepted = statuses.count("accepted")
    refused = statuses.count("rejected")
    if refused:
        for k, r in enumerate(results):
            if r.status == "rejected":
                # Valid, but refused by the engine: an erased (suppressed) person's address.
                done[k] = {"index": index[k], "id": r.id, "status": "rejected", "error": r.error}
    out: list[dict[str, Any] | None] | list[dict[str, Any]] = done
    if rejected:
        merged: list[dict[str, Any] | None] = [None] * len(items)
        for pos, item in zip(index, done, strict=True):
            merged[pos] = item
        for i, rej in rejected.items():
            it = items[i]
            raw_id = it.get("id") if isinstance(it, dict) else None
            if single:
                rej["pointer"] = "#" + rej["pointer"][len("#/events/0") :]
            merged[i] = {
                "index": i,
                "id": raw_id if isinstance(raw_id, str) else None,
                "status": "rejected",
                **rej,
            }
        out = merged
    payload = {
        "accepted": accepted,
        "duplicate": len(statuses) - accepted - refused,
        "rejected": len(rejected) + refused,
        "items": out,
    }
    return orjson.dumps(payload)
