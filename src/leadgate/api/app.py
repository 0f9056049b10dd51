"""The FastAPI application: `create_app(db_url=...)` or `create_app(engine=...)`.

`leadgate serve` runs `app_from_env` through uvicorn's factory mode, so every worker
process builds its own app (and its own delivery loop) from $LEADGATE_DB.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

from leadgate import __version__
from leadgate.api import admin, events, leads
from leadgate.api.auth import authenticate
from leadgate.api.context import ApiContext
from leadgate.api.problems import PROBLEM_SCHEMA, BodyTooLarge, install, problem
from leadgate.engine.engine import Engine
from leadgate.predictive.hooks import install as install_predictive
from leadgate.store.database import Database
from leadgate.webhooks import OutboxWriter
from leadgate.webhooks.delivery import Deliverer, DeliverySettings

log = logging.getLogger("leadgate.api")
PREFIX = "/api/v1"
DEFAULT_MAX_BODY = 16 * 1024 * 1024
OPTIONAL_ROUTERS = ("leadgate.analytics.http", "leadgate.sales.http")


class BodyLimit:
    """Refuse bodies over `limit` bytes with a 413 problem, before reading them when the
    Content-Length says so, and as they arrive otherwise (chunked uploads)."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    exc = BodyTooLarge(self.limit)
                    resp = problem(exc.status, exc.detail, exc.kind, limit=self.limit)
                    await resp(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


def _module_exists(name: str) -> bool:
    # find_spec of a submodule imports its parent: a missing parent means "absent" too.
    parent = name.rsplit(".", 1)[0]
    if importlib.util.find_spec(parent) is None:
        return False
    return importlib.util.find_spec(name) is not None


def create_app(
    db_url: str | None = None,
    engine: Engine | None = None,
    *,
    deliver: bool = False,
    max_body: int | None = None,
    delivery_settings: DeliverySettings | None = None,
) -> FastAPI:
    """The API over `engine` (or a new engine on `db_url`, migrated, playbook ensured).

    `deliver=True` runs the webhook delivery loop for the app's lifetime (what `serve` does).
    """
    if engine is None:
        db = Database(db_url)
        if not db.schema_current():
            db.migrate()
        engine = Engine(db)
        engine.ensure_playbook()
    ctx = ApiContext(engine)
    # GET /leads/{id} carries the stored conversion probability and its factors.
    install_predictive(engine)
    if not any(isinstance(x, OutboxWriter) for x in engine.listeners):
        engine.listeners.append(OutboxWriter(ctx.mark_outbox))
    if deliver:
        ctx.deliverer = Deliverer(engine.db, delivery_settings, run_write=ctx.write)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        stop = asyncio.Event()
        if ctx.deliverer is not None:
            task = asyncio.create_task(ctx.deliverer.run(stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    app = FastAPI(
        title="leadgate",
        version=__version__,
        description=(
            "Lead qualification API: push leads and events, read scores, move stages. "
            "Send `Authorization: Bearer <key>` (`leadgate keys create`). Errors are "
            "`application/problem+json` (RFC 9457)."
        ),
        lifespan=lifespan,
    )
    app.state.leadgate = ctx
    app.state.max_body = max_body or int(
        os.environ.get("LEADGATE_MAX_BODY_BYTES", DEFAULT_MAX_BODY)
    )
    install(app)
    app.include_router(admin.health)
    app.include_router(leads.router, prefix=PREFIX, tags=["leads"])
    app.include_router(events.router, prefix=PREFIX, tags=["events"])
    app.include_router(admin.router, prefix=PREFIX, tags=["admin"])
    for name in OPTIONAL_ROUTERS:
        # Other areas plug in here; a missing module is fine, a broken one must fail loudly.
        if _module_exists(name):
            mod = importlib.import_module(name)
            app.include_router(mod.router, prefix=PREFIX, dependencies=[Depends(authenticate)])
    app.add_middleware(BodyLimit, limit=app.state.max_body)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                PROBLEM_SCHEMA
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory for `leadgate serve`: $LEADGATE_DB, delivery unless
    $LEADGATE_DELIVERY=0."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    deliver = os.environ.get("LEADGATE_DELIVERY", "1") != "0"
    return create_app(os.environ.get("LEADGATE_DB"), deliver=deliver)
