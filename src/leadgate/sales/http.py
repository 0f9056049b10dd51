"""HTTP for the sales workflow (mounted under /api/v1 by the API app, which owns auth).

    GET/POST /reps · POST /reps/{name}/away · GET/PUT /leads/{id}/qualification ·
    GET /leads/{id}/nurture ·
    POST|PATCH /leads/{id}/opportunity · POST /leads/{id}/assign · GET /queue?rep=

The engine comes from `set_engine_provider(fn)`, else from the API app's context
(`request.app.state.leadgate.engine`). Store calls run in worker threads, writes
through the app's single-writer gate when it has one. Bad input raises the domain
errors (InputError 422, NotFound 404, IllegalTransition 409) that the app turns
into problem+json.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import InputError, text_ok
from leadgate.qualification.frameworks import QualificationError
from leadgate.sales import Sales, install
from leadgate.sla.calendar import CalendarError

router = APIRouter(tags=["sales"])
T = TypeVar("T")
_provider: dict[str, Callable[[], Engine] | None] = {"fn": None}
LeadId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The lead's id.")]


def set_engine_provider(fn: Callable[[], Engine] | None) -> None:
    """Plug in the Engine the endpoints use (None: the API app's own)."""
    _provider["fn"] = fn


def _sales(request: Request) -> Sales:
    fn = _provider["fn"]
    if fn is not None:
        return install(fn())
    ctx = getattr(request.app.state, "leadgate", None)
    if ctx is None:
        raise RuntimeError("leadgate.sales.http: no engine (call set_engine_provider)")
    return install(ctx.engine)


async def _run(request: Request, write: bool, fn: Callable[..., T], *args: Any) -> T:
    def call() -> T:
        try:
            return fn(*args)
        except (QualificationError, CalendarError) as exc:
            raise InputError(exc.field, exc.message) from None

    ctx = getattr(request.app.state, "leadgate", None)
    if _provider["fn"] is None and ctx is not None:
        result: T = await (ctx.write(call) if write else ctx.read(call))
        return result
    return await run_in_threadpool(call)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


class RepIn(BaseModel):
    """A new rep."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Literal["bdr", "ae", "manager"]
    team: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    timezone: str | None = Field(default=None, description="IANA zone, e.g. Europe/Rome.")
    capacity: int | None = Field(default=None, ge=1, description="Most open leads at once.")
    hours: str | None = Field(default=None, description="Working hours, e.g. 09:00-17:30.")
    days: str | None = Field(default=None, description="Working days, e.g. mon-fri.")
    weight: float = Field(default=1.0, gt=0, description="Share in weighted round robin.")


class AwayIn(BaseModel):
    """Out of office until a date (back that day, rep's zone) or time; null: back now."""

    model_config = ConfigDict(extra="forbid")
    until: str | None = None


class Answer(BaseModel):
    """One criterion's answer."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["met", "not_met", "unknown"] | None = None
    note: str | None = Field(default=None, max_length=10_000)


class QualificationIn(BaseModel):
    """Answers by criterion key, e.g. `{"answers": {"budget": {"status": "met",
    "note": "50k approved"}}}`. A criterion left out keeps its answer."""

    model_config = ConfigDict(extra="forbid")
    answers: dict[str, Answer] = Field(min_length=1)


class OpportunityIn(BaseModel):
    """The AE accepts an SQL as an opportunity (SQL → SQO)."""

    model_config = ConfigDict(extra="forbid")
    amount: float = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. EUR.")
    # A forecast, so it may lie ahead; not before 1970 like every other time (issue 13).
    expected_close: date = Field(
        ge=date(1970, 1, 1), description="YYYY-MM-DD: today or later, unless `backfill`."
    )
    backfill: bool = Field(default=False, description="Allow a past close (a deal recorded late).")


class OpportunityPatch(BaseModel):
    """Change the open opportunity; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")
    amount: float | None = Field(default=None, gt=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    expected_close: date | None = Field(default=None, ge=date(1970, 1, 1))
    backfill: bool = False


class AssignIn(BaseModel):
    """Reassign to a named rep (audited)."""

    model_config = ConfigDict(extra="forbid")
    rep: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=2000)


def _text(value: str | None, field: str) -> str | None:
    """`text_ok` for a field that may be left out."""
    return None if value is None else text_ok(value, field)


def _actor(request: Request) -> str:
    # The API app authenticates; if it leaves the key on the request, audit by its name.
    key = getattr(request.state, "api_key", None) or getattr(request.state, "key", None)
    name = getattr(key, "name", None)
    return f"api:{name}" if name else "api"


@router.get("/reps", summary="List reps")
async def list_reps(request: Request) -> Response:
    """Every rep with role, team, calendar, capacity, open leads and away status."""
    s = _sales(request)
    return _json(await _run(request, False, s.reps))


@router.post("/reps", status_code=201, summary="Add a rep")
async def add_rep(request: Request, body: RepIn) -> Response:
    """Create a rep (and their team if new). 422 on a bad zone, hours or duplicate name."""
    s = _sales(request)
    text = {k: _text(getattr(body, k), k) for k in ("name", "team", "email", "timezone")}
    rep = await _run(
        request,
        True,
        s.add_rep,
        text["name"],
        body.role,
        text["team"],
        text["email"],
        text["timezone"],
        body.capacity,
        _text(body.hours, "hours"),
        _text(body.days, "days"),
        body.weight,
    )
    return _json(rep, 201)


@router.post("/reps/{name}/away", summary="Mark a rep away")
async def rep_away(request: Request, name: str, body: AwayIn) -> Response:
    """Routing skips a rep while away."""
    s = _sales(request)
    until = _text(body.until, "until")
    return _json(await _run(request, True, s.set_away, text_ok(name, "name"), until))


@router.get("/leads/{lead_id}/qualification", summary="Qualification answers")
async def get_qualification(request: Request, lead_id: LeadId) -> Response:
    """Current answers with notes, who and when; the policy verdict; every version."""
    s = _sales(request)
    return _json(await _run(request, False, s.qualification, lead_id))


@router.get("/leads/{lead_id}/nurture", summary="Nurture track and timeline")
async def get_nurture(request: Request, lead_id: LeadId) -> Response:
    """The lead's nurture enrolment (track, status, next step, reason) and every step it
    went through: enrolled, queued, sent, retry, failed, branch, ended, completed."""
    s = _sales(request)
    return _json(await _run(request, False, s.nurture, lead_id))


@router.put("/leads/{lead_id}/qualification", summary="Record qualification answers")
async def put_qualification(request: Request, lead_id: LeadId, body: QualificationIn) -> Response:
    """Save answers as a new version. 422 names an unknown criterion."""
    s = _sales(request)
    answers = {k: a.status for k, a in body.answers.items() if a.status is not None}
    notes = {k: text_ok(a.note, k) for k, a in body.answers.items() if a.note is not None}
    return _json(await _run(request, True, s.qualify, lead_id, answers, notes, _actor(request)))


@router.post("/leads/{lead_id}/opportunity", summary="Accept as an opportunity (SQO)")
async def post_opportunity(request: Request, lead_id: LeadId, body: OpportunityIn) -> Response:
    """SQL → SQO with amount, currency and expected close. 409 when the lead is not an SQL."""
    s = _sales(request)
    data = await _run(
        request,
        True,
        s.opportunity,
        lead_id,
        body.amount,
        body.currency,
        body.expected_close,
        _actor(request),
        body.backfill,
    )
    return _json(data)


@router.patch("/leads/{lead_id}/opportunity", summary="Change the open opportunity")
async def patch_opportunity(request: Request, lead_id: LeadId, body: OpportunityPatch) -> Response:
    """Amount, currency or expected close of the open opportunity; 422 when it is closed."""
    s = _sales(request)

    def update() -> dict[str, Any]:
        return s.update_opportunity(
            lead_id,
            _actor(request),
            amount=body.amount,
            currency=body.currency,
            close_date=body.expected_close,
            backfill=body.backfill,
        )

    return _json(await _run(request, True, update))


@router.post("/leads/{lead_id}/assign", summary="Reassign a lead")
async def post_assign(request: Request, lead_id: LeadId, body: AssignIn) -> Response:
    """Give the lead to a named rep; kept in the audit with the reason."""
    s = _sales(request)
    return _json(
        await _run(
            request,
            True,
            s.assign,
            lead_id,
            text_ok(body.rep, "rep"),
            text_ok(body.reason, "reason"),
            _actor(request),
        )
    )


@router.get("/queue", summary="A rep's prioritised queue")
async def get_queue(
    request: Request,
    rep: Annotated[str | None, Query(description="Only this rep's leads.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Open leads ordered by SLA time left, then grade, then score, each with the reason."""
    s = _sales(request)
    # The queue fires due SLA jobs first, so it is a write.
    return _json(await _run(request, True, s.queue, _text(rep, "rep"), limit))
