"""A person's rights over HTTP (mounted under /api/v1 by the API app, admin keys only):

    GET  /people/{email}/export    everything held about the person (JSON), audited
    POST /people/{email}/erase     {reason} -> the erasure's audit record
    POST /people/{email}/consent   {reason} -> {suppressed: false}: they may come back

Bad input is an InputError (422), an unknown person NotFound (404): the app turns both
into problem+json. The address is in the path: the access log prints paths, so
`docs/privacy.md` says to keep those logs short-lived (or call the CLI).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from leadgate.ingest.validate import text_ok
from leadgate.privacy.erase import consent, erase_person, export_person

router = APIRouter(tags=["people"])
Email = Annotated[str, Path(min_length=3, max_length=320, description="The person's email.")]


class ReasonIn(BaseModel):
    """Why: the request an erasure answers, where a consent was given (audited)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def _actor(request: Request) -> str:
    key = getattr(request.state, "api_key", None)
    name = getattr(key, "name", None)
    return f"api:{name}" if name else "api"


@router.get("/people/{email}/export", summary="Everything held about a person (art. 15)")
async def person_export(email: Email, request: Request) -> Response:
    """Attributes, events with properties, history, qualification notes, owner, mail and
    webhooks sent, erasures and consent, suppression."""
    ctx = request.app.state.leadgate
    data = await ctx.write(export_person, ctx.engine, email, _actor(request))
    return _json(data)


@router.post("/people/{email}/erase", summary="Erase a person everywhere (art. 17)")
async def person_erase(email: Email, body: ReasonIn, request: Request) -> Response:
    """Personal data removed everywhere it was copied; counts kept under a pseudonym; the
    address suppressed; audited; announced as `person.erased`."""
    ctx = request.app.state.leadgate
    data = await ctx.write(
        erase_person, ctx.engine, email, text_ok(body.reason, "reason"), _actor(request)
    )
    return _json(data)


@router.post("/people/{email}/consent", summary="The person consented again")
async def person_consent(email: Email, body: ReasonIn, request: Request) -> Response:
    """Take the address off the suppression list (audited)."""
    ctx = request.app.state.leadgate
    was = await ctx.write(
        consent, ctx.engine, email, text_ok(body.reason, "reason"), _actor(request)
    )
    return _json({"suppressed": False, "was_suppressed": was})
