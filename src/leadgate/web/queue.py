"""The queue: `/app/queue`, the signed-in rep's open work, most urgent first.

The order and the one line of why come from the sales workflow (`Sales.queue`: SLA
time left, then grade, then score). A sales user sees the queue of the rep their user
is linked to (`leadgate users add anna --role sales --rep anna`); admin and marketing
see everyone's open work, or one rep's with `?rep=`. `/app/queue/rows` is the table
body alone: the page re-fetches it with htmx every `REFRESH_SECONDS`, so new MQLs
appear without a reload (and the page still works, by reloading, without JavaScript).

The predicted-conversion column is the probability the active predictive model last
stored on each lead (`leadgate predict`); without a model that has scored the leads it
shows a dash.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from leadgate.engine.engine import Engine, NotFound
from leadgate.predictive.hooks import predicted_for
from leadgate.sales import sales_of
from leadgate.store.repository import Repository
from leadgate.web.base import Viewer, WebError, host, page, router, signed_in, storable

REFRESH_SECONDS = 10
LIMIT = 200
r = router()


def _predicted(engine: Engine, ids: list[int]) -> dict[int, float | None] | None:
    with engine.db.read() as conn:
        return predicted_for(Repository(engine.db, conn), ids)


async def _queue(request: Request, viewer: Viewer) -> dict[str, Any]:
    h = host(request)
    sales = sales_of(h.engine)
    note = None
    if viewer.user.role == "sales":
        rep = viewer.user.rep
        if rep is None:
            note = (
                f"Your user ({viewer.user.name}) is not linked to a sales rep, so there is no "
                "queue to show: ask an admin to link it."
            )
    else:
        rep = storable("rep", request.query_params.get("rep", "")) or None
    items: list[dict[str, Any]] = []
    if note is None:
        try:
            # The queue fires due SLA jobs first, so it is a write.
            items = await h.write(sales.queue, rep, LIMIT)
        except NotFound as exc:
            raise WebError(404, "Not found", str(exc)) from None
    predicted = await h.read(_predicted, h.engine, [int(i["id"]) for i in items])
    for item in items:
        item["predicted"] = None if predicted is None else predicted.get(int(item["id"]))
    reps = [] if viewer.user.role == "sales" else await h.read(sales.reps)
    return {
        "items": items,
        "rep": rep,
        "note": note,
        "reps": [x["name"] for x in reps],
        "refresh": REFRESH_SECONDS,
        "model_active": predicted is not None,
    }


@r.get("/app")
async def app_home(request: Request) -> Response:
    """The app opens on the queue."""
    await signed_in(request)
    return RedirectResponse("/app/queue", 303)


@r.get("/app/queue")
async def queue_page(request: Request) -> Response:
    """The whole page."""
    viewer = await signed_in(request)
    return page("queue.html", viewer, **await _queue(request, viewer))


@r.get("/app/queue/rows")
async def queue_rows(request: Request) -> Response:
    """The table body alone (htmx refresh)."""
    viewer = await signed_in(request)
    return page("_queue_rows.html", viewer, **await _queue(request, viewer))
