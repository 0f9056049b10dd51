"""The leads list: `/app/leads`, searched, filtered, sorted and paged through any number
of leads, and the same list as CSV (`/app/leads.csv`). Everyone signed in may read it.

It is `leadgate.engine.listing` (as `leadgate lead list --segment` is): pages are found
by seeking from the last row shown (`after=`, a cursor), never by OFFSET, so the
thousandth page costs what the first does. A plain GET form: no JavaScript needed.

    /app/leads?q=acme&stage=mql&grade=A&sort=score&limit=200
    /app/leads?segment=hot_mqls&predicted=high&after=WyJwcmlvcml0eSIs...
    /app/leads.csv?stage=sql          the whole filtered list, streamed, a download

Parameters: q (email, name or company, every word), stage, owner, grade (A, 2, B2),
source, predicted (high, medium, low, none), min_predicted (0-1), min_score, segment (a
name from the playbook's `segments:`), sort (priority, score, recent, predicted, email),
limit (50, 200, 1000), after (the next-page cursor). CSV cells that a spreadsheet would
run as a formula are written with a leading apostrophe (leadgate.csvout).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from leadgate import csvout
from leadgate.engine.listing import BANDS, SORTS, LeadQuery, Page, list_page
from leadgate.ingest.validate import InputError
from leadgate.lifecycle.stages import STAGES
from leadgate.sales import sales_of
from leadgate.web.base import (
    Viewer,
    WebError,
    host,
    page,
    router,
    signed_in,
    storable,
    whole,
)

r = router()
LIMITS = (50, 200, 1000)
COLUMNS = (
    "id", "email", "stage", "grade", "score", "fit", "engagement", "owner", "stage_since",
    "first_name", "last_name", "company", "source", "predicted",
)  # fmt: skip
EXPORT_PAGE = 2000
_TEXT = {"q": 200, "owner": 200, "source": 200, "segment": 100, "after": 500}


def _text(request: Request, name: str) -> str | None:
    raw = (request.query_params.get(name) or "").strip()
    if len(raw) > _TEXT.get(name, 50):
        raise WebError(400, "Bad filter", f"{name}: longer than {_TEXT.get(name, 50)} characters")
    return storable(name, raw) or None


def _number(request: Request, name: str) -> float | None:
    raw = _text(request, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise WebError(400, "Bad filter", f"{name}: '{raw}' is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise WebError(400, "Bad filter", f"{name}: '{raw}' is not a number")
    return value


def _query(request: Request) -> LeadQuery:
    limit = whole(request.query_params.get("limit"))
    limit = limit if limit in LIMITS else LIMITS[0]
    sort = _text(request, "sort") or "priority"
    if sort not in SORTS:
        raise WebError(400, "Bad filter", f"sort: one of {', '.join(SORTS)}")
    return LeadQuery(
        stage=_text(request, "stage"),
        grade=_text(request, "grade"),
        owner=_text(request, "owner"),
        min_score=_number(request, "min_score"),
        source=_text(request, "source"),
        search=_text(request, "q"),
        predicted=_text(request, "predicted"),
        min_predicted=_number(request, "min_predicted"),
        segment=_text(request, "segment"),
        sort=sort,
        limit=limit,
        after=_text(request, "after"),
    )


def _params(q: LeadQuery, after: str | None = None) -> dict[str, Any]:
    """The query string of a list (without the cursor unless given)."""
    out = {
        "q": q.search,
        "stage": q.stage,
        "owner": q.owner,
        "grade": q.grade,
        "source": q.source,
        "predicted": q.predicted,
        "min_predicted": q.min_predicted,
        "min_score": q.min_score,
        "segment": q.segment,
        "sort": q.sort if q.sort != "priority" else None,
        "limit": q.limit if q.limit != LIMITS[0] else None,
        "after": after,
    }
    return {k: v for k, v in out.items() if v not in (None, "")}


async def _page(request: Request, q: LeadQuery, tick: bool = True) -> Page:
    h = host(request)
    try:
        if tick:  # due timers fire first: a write
            result: Page = await h.write(list_page, h.engine, q)
        else:
            result = await h.read(list_page, h.engine, q, False)
    except InputError as exc:
        raise WebError(400, "Bad filter", str(exc)) from None
    return result


@r.get("/app/leads")
async def leads_page(request: Request) -> Response:
    """The filtered list, one page."""
    viewer: Viewer = await signed_in(request)
    q = _query(request)
    result = await _page(request, q)
    h = host(request)
    reps = await h.read(sales_of(h.engine).reps)
    segments = await h.read(lambda: list(h.engine.processor().playbook.segments))
    return page(
        "leads.html",
        viewer,
        rows=result.rows,
        f=q,
        stages=STAGES,
        sorts=list(SORTS),
        limits=LIMITS,
        bands=[*BANDS, "none"],
        reps=[x["name"] for x in reps],
        segments=segments,
        query=urlencode(_params(q)),
        next_query=urlencode(_params(q, result.next)) if result.next else None,
        first_query=urlencode(_params(q)) if q.after else None,
    )


@r.get("/app/leads.csv")
async def leads_csv(request: Request) -> Response:
    """The whole filtered list as CSV, streamed a page at a time (memory stays one page)."""
    await signed_in(request)
    q = replace(_query(request), limit=EXPORT_PAGE)
    first = await _page(request, q)  # a bad filter is a 400 page before anything is sent

    async def lines() -> AsyncIterator[str]:
        buf = io.StringIO()
        w = csvout.writer(buf)
        w.writerow(COLUMNS)
        result = first
        while True:
            for row in result.rows:
                w.writerow([row.get(c) for c in COLUMNS])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if result.next is None:
                return
            result = await _page(request, replace(q, after=result.next), tick=False)

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="leads.csv"'},
    )
