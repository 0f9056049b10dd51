"""HTTP for identity (mounted under /api/v1 by the API app, which owns auth: reads for
admin, marketing and sales; the merge for admin only).

    POST /leads/{id}/merge {"other": id or email} · GET /accounts · GET /accounts/{domain}
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from leadgate.engine.engine import Engine
from leadgate.identity.accounts import list_accounts, show_account
from leadgate.identity.merge import merge_leads

router = APIRouter(tags=["identity"])
_TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 422: "Invalid input"}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route may answer (the API app, which owns the
    problem+json schema, is not imported here: areas do not import adapters)."""
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {c: {"description": _TITLES[c], "content": problem} for c in codes}


LeadId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The lead kept.")]


def _engine(request: Request) -> Any:
    return request.app.state.leadgate


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


class MergeIn(BaseModel):
    """The lead merged into the one in the path."""

    model_config = ConfigDict(extra="forbid")
    other: (
        Annotated[int, Field(ge=1, le=2**31 - 1)]
        | Annotated[str, Field(min_length=1, max_length=320)]
    ) = Field(description="The other lead's id or email.")


@router.post(
    "/leads/{lead_id}/merge",
    summary="Merge another lead into this one (admin)",
    responses=responses(401, 403, 404, 422),
    description=(
        "The other lead's events, history, qualification, notes and owner (when this lead "
        "has none) move here; its address becomes an alias. Audited, announced as "
        "`lead.merged`. Merging again answers `already: true` and changes nothing."
    ),
)
async def post_merge(lead_id: LeadId, body: MergeIn, request: Request) -> Response:
    """See the route description."""
    ctx = _engine(request)
    key = getattr(request.state, "api_key", None)
    actor = f"api:{key.name}" if key is not None else "api"
    engine: Engine = ctx.engine
    out = await ctx.write(merge_leads, engine, lead_id, body.other, actor)
    return _json(out)


@router.get(
    "/accounts",
    summary="Accounts (company domains), most engaged first",
    responses=responses(401, 403, 422),
)
async def get_accounts(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
    min_leads: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Each account: its leads, summed engagement, best lead, stages, owner."""
    ctx = _engine(request)
    return _json({"items": await ctx.read(list_accounts, ctx.engine, limit, min_leads)})


@router.get(
    "/accounts/{domain}",
    summary="One account and its leads",
    responses=responses(401, 403, 404, 422),
)
async def get_account(domain: Annotated[str, Path(max_length=255)], request: Request) -> Response:
    """The account's summary and its leads (`members`), most engaged first."""
    ctx = _engine(request)
    return _json(await ctx.read(show_account, ctx.engine, domain))
