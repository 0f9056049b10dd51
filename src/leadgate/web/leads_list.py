"""The leads list: `/app/leads`, filtered by stage, grade, owner and minimum score,
sorted by priority, score or recency, and the same list as CSV (`/app/leads.csv`).
Everyone signed in may read it.

It is `Engine.list_leads` (the same as `leadgate lead list` and `GET /api/v1/leads`),
so it shows the first `limit` leads of the order; search by name or company and
pagination through a million leads are still to come (docs/ui.md).

    /app/leads?stage=mql&grade=A&sort=score&limit=200
    /app/leads.csv?stage=sql          the same filters, every column, a download

CSV cells that a spreadsheet would run as a formula (starting with = + - @ or a tab)
are written with a leading apostrophe, so an export opened in Excel runs nothing.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import Request
from starlette.responses import Response

from leadgate.ingest.validate import InputError
from leadgate.lifecycle.stages import STAGES
from leadgate.sales import sales_of
from leadgate.web.base import Viewer, WebError, host, page, router, signed_in

r = router()
LIMITS = (50, 200, 1000)
SORTS = ("priority", "score", "recent")
COLUMNS = ("id", "email", "stage", "grade", "score", "fit", "engagement", "owner", "stage_since")


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    out: dict[str, Any] = {
        "stage": q.get("stage") or None,
        "grade": (q.get("grade") or "").strip() or None,
        "owner": q.get("owner") or None,
        "sort": q.get("sort") or "priority",
        "limit": int(q["limit"]) if q.get("limit", "").isdigit() else LIMITS[0],
        "min_score": None,
    }
    if out["limit"] not in LIMITS:
        out["limit"] = LIMITS[0]
    raw = (q.get("min_score") or "").strip()
    if raw:
        try:
            out["min_score"] = float(raw)
        except ValueError:
            raise WebError(400, "Bad filter", f"min_score: '{raw}' is not a number") from None
    return out


async def _rows(request: Request, f: dict[str, Any]) -> list[dict[str, Any]]:
    h = host(request)
    try:
        # list_leads fires due timers first, so it is a write.
        rows: list[dict[str, Any]] = await h.write(
            h.engine.list_leads,
            f["stage"],
            f["grade"],
            f["owner"],
            f["min_score"],
            f["limit"],
            f["sort"],
        )
    except InputError as exc:
        raise WebError(400, "Bad filter", str(exc)) from None
    return rows


def _query(f: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in f.items() if v not in (None, "")})


@r.get("/app/leads")
async def leads_page(request: Request) -> Response:
    """The filtered list."""
    viewer: Viewer = await signed_in(request)
    f = _filters(request)
    rows = await _rows(request, f)
    h = host(request)
    reps = await h.read(sales_of(h.engine).reps)
    return page(
        "leads.html",
        viewer,
        rows=rows,
        f=f,
        stages=STAGES,
        sorts=SORTS,
        limits=LIMITS,
        reps=[x["name"] for x in reps],
        query=_query(f),
    )


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@r.get("/app/leads.csv")
async def leads_csv(request: Request) -> Response:
    """The filtered list as CSV."""
    await signed_in(request)
    rows = await _rows(request, _filters(request))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for row in rows:
        w.writerow([_cell(row.get(c)) for c in COLUMNS])
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="leads.csv"'},
    )
