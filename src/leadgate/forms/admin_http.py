"""The forms' admin routes, mounted under /api/v1 by the API app (which owns auth: admin).

    GET /forms/rejections?since=2026-06-01   rejected submissions by form and reason

Rejections are spam (honeypot, too fast, rate limits, disposable domains) and calls
from origins a form does not allow; none of them made a lead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request

from leadgate.engine.engine import Engine
from leadgate.forms.service import Forms
from leadgate.ingest.validate import parse_time

router = APIRouter(tags=["forms"])
_provider: dict[str, Callable[[], Engine] | None] = {"fn": None}


def set_engine_provider(fn: Callable[[], Engine] | None) -> None:
    """Plug in the Engine the endpoints use (None: the API app's own)."""
    _provider["fn"] = fn


@router.get("/forms/rejections", summary="Rejected form submissions, counted")
async def rejections(
    request: Request,
    since: str | None = Query(None, description="ISO 8601 time; only rejections from then on"),
) -> dict[str, Any]:
    """`{total, rejections: [{form, reason, count, last_at}]}`."""
    fn = _provider["fn"]
    engine = fn() if fn is not None else request.app.state.leadgate.engine
    start = parse_time(since, "since", engine.clock()) if since else None
    ctx = request.app.state.leadgate
    out: dict[str, Any] = await ctx.read(Forms(engine).rejections, start)
    return out
