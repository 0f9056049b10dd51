"""The web app: server-rendered pages for the people who work leads, in the same
FastAPI process as the API (`leadgate serve` serves both).

    from leadgate.web import install
    install(app)      # the API app calls this once: pages, /login, static files

Shaped like Datasette: `templates/` (Jinja2, autoescaped), `static/` (our CSS and JS,
and htmx vendored from npm with its licence: static/VENDORED.md), one module per page
family (`auth.py` sign-in, `queue.py`, `leads.py`, `leads_list.py`, `funnel.py`, `playbook.py`,
`model.py`, `admin.py`), and what they share in
`base.py` (sessions, CSRF, security headers, error pages). Every page sends a
Content-Security-Policy without inline script or style; nothing is fetched from
another host.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from leadgate.web import admin, auth, funnel, leads, leads_list, model, playbook, queue
from leadgate.web.base import HERE, STATIC_PREFIX, SecureStatic, WebError, router, signed_in

_fallback = router()


@_fallback.get("/app/{rest:path}")
async def not_found(request: Request, rest: str) -> Response:
    """Any other /app path: the 404 page (after sign-in, so it reveals nothing)."""
    await signed_in(request)
    raise WebError(404, "Not found", "There is no such page.")


def install(app: FastAPI) -> None:
    """Mount the pages and the static files on `app` (the API app; its state carries
    the engine and the read/write gates, `app.state.leadgate`)."""
    app.mount(
        STATIC_PREFIX,
        SecureStatic(StaticFiles(directory=HERE / "static")),
        name="web-static",
    )
    for module in (auth, queue, leads_list, leads, funnel, playbook, model, admin):
        app.include_router(module.r)
    app.include_router(_fallback)
