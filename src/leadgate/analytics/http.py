"""HTTP endpoints for backtests and analytics reports (`router`, mounted under /api/v1).

The HTTP app owns authentication and the engine. It plugs its engine in with
`set_engine_provider(fn)`, where `fn()` returns the `Engine` to use; endpoints take it
through the `get_engine` dependency, so an app may also override it with
`app.dependency_overrides[get_engine] = ...`. Without a provider, `get_engine` uses the
API app's engine.

Endpoints:
- POST /backtest — body {playbook: YAML text, against?: YAML text, from?: date, to?: date,
  exact?: bool, verify?: int}; returns the monthly side-by-side table, totals and the
  changed leads; `meta` says the method and, set-based, how many sampled leads were
  verified against the exact replay and how many disagreed (any: a 500 problem);
- GET /reports/{velocity|cohorts|sources|deciles|sla|advice} — query params: `by`
  (sources), `score` (deciles, advice), `mqls_per_month` / `min_sql_rate` (advice).
Bad input is a 422/400 problem+json raised as HTTPException with a detail naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from leadgate.engine.engine import Engine

router = APIRouter(tags=["analytics"])

_provider: dict[str, Callable[[], Engine] | None] = {"fn": None}


def set_engine_provider(fn: Callable[[], Engine] | None) -> None:
    """Tell the endpoints which engine to use (the HTTP app calls this at start-up)."""
    _provider["fn"] = fn


def get_engine(request: Request) -> Engine:
    """FastAPI dependency: the engine from the provider, else the API app's own.

    (An adapter never imports another: no falling back to the CLI's way of opening a store.)
    """
    fn = _provider["fn"]
    if fn is not None:
        return fn()
    ctx = getattr(request.app.state, "leadgate", None)
    if ctx is None:
        raise RuntimeError("leadgate.analytics.http: no engine (call set_engine_provider)")
    engine: Engine = ctx.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


class BacktestIn(BaseModel):
    """A backtest request."""

    playbook: str = Field(min_length=1, description="The new playbook, as YAML text.")
    against: str | None = Field(None, description="Playbook YAML to compare with; default active.")
    from_: str | None = Field(None, alias="from", description="First day, YYYY-MM-DD.")
    to: str | None = Field(None, description="Day after the last, YYYY-MM-DD.")
    exact: bool = Field(
        False,
        description="false (the default): scores set-based in DuckDB, stage moves by the "
        "Python lifecycle, checked by `verify` exact replays (less CPU); true: replay every "
        "lead in Python (the oracle).",
    )
    verify: int = Field(
        1000, ge=0, description="Leads replayed exactly too to check the set-based result."
    )


def _bad(exc: Exception) -> HTTPException:
    from leadgate.ingest.validate import InputError
    from leadgate.playbook.loader import PlaybookError

    if isinstance(exc, PlaybookError):
        return HTTPException(422, detail="; ".join(str(p) for p in exc.problems))
    if isinstance(exc, InputError):
        return HTTPException(422, detail=str(exc))
    raise exc


@router.post("/backtest")
def post_backtest(body: BacktestIn, engine: EngineDep) -> dict[str, Any]:
    """Replay history under the given playbook and the active one; compare month by month."""
    from leadgate.analytics import service

    try:
        start = service.parse_day(body.from_, "from")
        end = service.parse_day(body.to, "to")
        res = service.backtest(
            engine, body.playbook, body.against, start, end, exact=body.exact, verify=body.verify
        )
    except service.VerificationFailed as exc:
        # The figures are wrong somewhere: never shown as a result.
        raise HTTPException(500, detail=f"{exc} (meta: {exc.result.meta})") from None
    except Exception as exc:
        raise _bad(exc) from None
    return res.to_dict()


def _report(engine: Engine, name: str, **opts: Any) -> dict[str, Any]:
    from leadgate.analytics import service

    try:
        return service.report(engine, name, **opts).to_dict()
    except Exception as exc:
        raise _bad(exc) from None


@router.get("/reports/velocity")
def get_velocity(engine: EngineDep) -> dict[str, Any]:
    """Time in each stage: median and p90 hours."""
    return _report(engine, "velocity")


@router.get("/reports/cohorts")
def get_cohorts(engine: EngineDep) -> dict[str, Any]:
    """Monthly cohorts by lead creation."""
    return _report(engine, "cohorts")


@router.get("/reports/sources")
def get_sources(
    engine: EngineDep, by: Annotated[str, Query(pattern="^(source|campaign|rep)$")] = "source"
) -> dict[str, Any]:
    """Breakdown by source, campaign or rep."""
    return _report(engine, "sources", by=by)


@router.get("/reports/deciles")
def get_deciles(
    engine: EngineDep, score: Annotated[str, Query(pattern="^(score|fit|engagement)$")] = "score"
) -> dict[str, Any]:
    """Score deciles against conversion."""
    return _report(engine, "deciles", score=score)


@router.get("/reports/sla")
def get_sla(engine: EngineDep) -> dict[str, Any]:
    """SLA compliance of MQL acceptance."""
    return _report(engine, "sla")


@router.get("/reports/advice")
def get_advice(
    engine: EngineDep,
    # No inf or NaN: "inf" passed gt=0 and asked for a target no threshold meets.
    mqls_per_month: Annotated[float | None, Query(gt=0, allow_inf_nan=False)] = None,
    min_sql_rate: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False)] = None,
    score: Annotated[str, Query(pattern="^(score|fit|engagement)$")] = "score",
) -> dict[str, Any]:
    """Threshold trade-off curve, and the threshold meeting one target if given."""
    if mqls_per_month is not None and min_sql_rate is not None:
        raise HTTPException(422, detail="give one target: mqls_per_month or min_sql_rate")
    return _report(
        engine, "advice", score=score, mqls_per_month=mqls_per_month, min_sql_rate=min_sql_rate
    )
