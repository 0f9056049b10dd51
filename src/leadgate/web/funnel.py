"""The funnel: `/app/funnel` (marketing and admin users; sales gets the 403 page).

    stages      leads per stage now and ever reached     Engine.funnel()
    conversion  between funnel steps                      Engine.funnel()
    velocity    median and p90 days in each stage         analytics report `velocity`
    by source   leads, MQLs, SQLs, customers, rates       analytics report `sources`
    by month    the same per monthly cohort               analytics report `cohorts`

The numbers are the ones `leadgate report funnel|velocity|sources|cohorts` prints (the
analytics reports, computed in one export of the store by `report_set`); this module
only lays them out. Each section has an SVG bar chart (web/charts.py) and a table with
its numbers, so nothing is only in a picture.

The three analytics reports read an export of the store (DuckDB over Parquet), which
takes a while on a big store; the page keeps them for `REPORTS_SECONDS` of the engine's
clock (per server) and says how old they are. Stage counts and conversion are live.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from leadgate.engine.engine import Engine
from leadgate.web.base import MARKETING, host, page, router, signed_in
from leadgate.web.charts import bars

r = router()
REPORTS = ("velocity", "sources", "cohorts")
REPORTS_SECONDS = 60.0
HOURS_PER_DAY = 24.0


def _days(hours: float | None) -> float | None:
    return None if hours is None else round(hours / HOURS_PER_DAY, 2)


def _reports(engine: Engine, cache: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """The analytics reports, computed again when older than REPORTS_SECONDS."""
    from leadgate.analytics.service import report_set

    now = engine.clock()
    kept = cache.get("reports")
    if kept is not None and 0 <= now - kept[1] < REPORTS_SECONDS:
        return kept[0], kept[1]
    reps = report_set(engine, REPORTS)
    cache["reports"] = (reps, now)
    return reps, now


def funnel_data(engine: Engine, cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the page shows (a write: the funnel fires due timers first). `cache`
    keeps the analytics reports between calls (see REPORTS_SECONDS)."""
    data = engine.funnel()
    reps, as_of = _reports(engine, cache if cache is not None else {})
    velocity = [
        {**rec, "median_days": _days(rec["median_hours"]), "p90_days": _days(rec["p90_hours"])}
        for rec in reps["velocity"].records()
    ]
    sources = reps["sources"].records()
    months = reps["cohorts"].records()
    stages = list(data["reached"])
    conv = data["conversion"]
    charts = {
        "stages": bars(
            "stages-chart",
            "Leads per stage: now and ever reached",
            [s.upper() for s in stages],
            [
                ("now", [data["current"].get(s, 0) for s in stages]),
                ("reached", [data["reached"][s] for s in stages]),
            ],
        ),
        "conversion": bars(
            "conversion-chart",
            "Conversion between funnel steps",
            [f"{c['from'].upper()} → {c['to'].upper()}" for c in conv],
            [("rate", [c["rate"] for c in conv])],
            "{:.1%}",
            top=1.0,
        ),
        "velocity": bars(
            "velocity-chart",
            "Days in each stage",
            [v["stage"].upper() for v in velocity],
            [
                ("median", [v["median_days"] for v in velocity]),
                ("p90", [v["p90_days"] for v in velocity]),
            ],
            "{:g} d",
        ),
        "sources": bars(
            "sources-chart",
            "Leads and MQLs by source",
            [s["source"] for s in sources],
            [("leads", [s["leads"] for s in sources]), ("MQLs", [s["mql"] for s in sources])],
        ),
        "months": bars(
            "months-chart",
            "Leads and MQLs by month of creation",
            [m["cohort"] for m in months],
            [("leads", [m["leads"] for m in months]), ("MQLs", [m["mql"] for m in months])],
        ),
    }
    return {
        "funnel": data,
        "velocity": velocity,
        "sources": sources,
        "months": months,
        "charts": charts,
        "reports_at": as_of,
        "reports_seconds": int(REPORTS_SECONDS),
    }


@r.get("/app/funnel")
async def funnel_page(request: Request) -> Response:
    """The funnel as of now."""
    viewer = await signed_in(request, MARKETING)
    h = host(request)
    state = request.app.state
    cache: dict[str, Any] | None = getattr(state, "web_funnel_cache", None)
    if cache is None:
        cache = state.web_funnel_cache = {}
    return page("funnel.html", viewer, **await h.write(funnel_data, h.engine, cache))
