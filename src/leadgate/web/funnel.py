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
HOURS_PER_DAY = 24.0


def _days(hours: float | None) -> float | None:
    return None if hours is None else round(hours / HOURS_PER_DAY, 2)


def funnel_data(engine: Engine) -> dict[str, Any]:
    """Everything the page shows (one write: the reports fire due timers first)."""
    from leadgate.analytics.service import report_set

    data = engine.funnel()
    reps = report_set(engine, REPORTS)
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
    }


@r.get("/app/funnel")
async def funnel_page(request: Request) -> Response:
    """The funnel as of now."""
    viewer = await signed_in(request, MARKETING)
    h = host(request)
    return page("funnel.html", viewer, **await h.write(funnel_data, h.engine))
