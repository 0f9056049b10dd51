"""The funnel: `/app/funnel`, leads per stage now, how many ever reached each stage, and
the conversion between steps (marketing and admin users; sales gets the 403 page).

The numbers are `Engine.funnel()` (the same as `leadgate report funnel` and
`GET /api/v1/reports/funnel`), shown as tables; each rate also as a <meter>, a bar the
browser draws without any style attribute (the CSP allows none).
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from leadgate.web.base import MARKETING, host, page, router, signed_in

r = router()


@r.get("/app/funnel")
async def funnel_page(request: Request) -> Response:
    """The funnel as of now."""
    viewer = await signed_in(request, MARKETING)
    h = host(request)
    # funnel() fires due timers first: a write.
    data = await h.write(h.engine.funnel)
    return page("funnel.html", viewer, funnel=data)
