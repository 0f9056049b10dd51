"""The FastAPI application: `create_app(db_url=...)` or `create_app(engine=...)`.

`leadgate serve` runs `app_from_env` through uvicorn's factory mode, so every worker
process builds its own app (and its own delivery loop and scheduler tick loop) from
$LEADGATE_DB.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from leadgate import __version__
from leadgate.api import admin, events, leads, tracking
from leadgate.api.access import AccessLog
from leadgate.api.auth import ADMIN, MARKETING, READ_LEADS, STAGE, require_by_method
from leadgate.api.background import DEFAULT_TICK_SECONDS, Ticker, stop_task
from leadgate.api.context import ApiContext
from leadgate.api.gc_policy import GC_THRESHOLDS as GC_THRESHOLDS
from leadgate.api.gc_policy import FreezeAfterWrites
from leadgate.api.gc_policy import tune_gc as tune_gc
from leadgate.api.plugins import module_exists, prepare_engine
from leadgate.api.problems import PROBLEM_SCHEMA, BodyTooLarge, install, problem
from leadgate.engine.engine import Engine
from leadgate.store.database import Database
from leadgate.webhooks.delivery import Deliverer, DeliverySettings

log = logging.getLogger("leadgate.api")
DOCS_ASSETS = "/docs/assets"
PREFIX = "/api/v1"
DEFAULT_MAX_BODY = 16 * 1024 * 1024
# Optional routers and who may use them: (roles for GET, roles for changes). Marketing
# reads everything; sales reads leads and works qualification, handoff and reps; a
# backtest changes nothing, so marketing may run one. Users of the web app: admin only.
OPTIONAL_ROUTERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "leadgate.analytics.http": (MARKETING, MARKETING),
    "leadgate.sales.http": (READ_LEADS, STAGE),
    "leadgate.users.http": (ADMIN, ADMIN),
    "leadgate.forms.admin_http": (ADMIN, ADMIN),
    # Accounts are read like leads; merging two leads is an admin's act.
    "leadgate.identity.http": (READ_LEADS, ADMIN),
    "leadgate.privacy.http": (ADMIN, ADMIN),
}


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


def create_app(
    db_url: str | None = None,
    engine: Engine | None = None,
    *,
    deliver: bool = False,
    max_body: int | None = None,
    delivery_settings: DeliverySettings | None = None,
    tick: bool = False,
    tick_seconds: float = DEFAULT_TICK_SECONDS,
) -> FastAPI:
    """The API over `engine` (or a new engine on `db_url`, migrated, playbook ensured).

    `deliver=True` runs the webhook delivery loop for the app's lifetime, `tick=True` the
    scheduler tick (SLA deadlines, decay exits, cooldown ends, nurture steps) every
    `tick_seconds` (both are what `serve` does).
    """
    if engine is None:
        db = Database(db_url)
        if not db.schema_current():
            db.migrate()
        engine = Engine(db)
        engine.ensure_playbook()
    ctx = ApiContext(engine, single_process=os.environ.get("LEADGATE_WORKERS", "1") == "1")
    prepare_engine(engine, ctx.mark_outbox)
    if deliver:
        ctx.deliverer = Deliverer(engine.db, delivery_settings, run_write=ctx.write)
    ticker = None

    def wake_deliverer() -> None:
        # SLA breaches and nurture messages queue webhooks outside the outbox writer.
        if ctx.deliverer is not None:
            ctx.deliverer.wake()

    if tick:
        # Through ctx.write: on SQLite a tick takes its write turn with the request
        # handlers instead of waiting for their lock in SQLite's busy handler.
        ticker = Ticker(engine, tick_seconds, run_write=ctx.write, on_work=wake_deliverer)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = tick_task = None
        stop = asyncio.Event()
        if ctx.deliverer is not None:
            task = asyncio.create_task(ctx.deliverer.run(stop))
        if ticker is not None:
            tick_task = asyncio.create_task(ticker.run(stop))
        try:
            yield
        finally:
            stop.set()
            # A tick under way finishes its transaction; the delivery loop may stop
            # mid-send (the claim's lease runs out and another process sends it).
            await stop_task(tick_task)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await ctx.quick.aclose()

    app = FastAPIOffline(
        title="leadgate",
        version=__version__,
        description=(
            "Lead qualification API: push leads and events, read scores, move stages. "
            "Send `Authorization: Bearer <key>` (`leadgate keys create`). Errors are "
            "`application/problem+json` (RFC 9457)."
        ),
        lifespan=lifespan,
        # /docs and /redoc from files installed with fastapi-offline, not FastAPI's
        # default CDN: a self-hosted install is often on a network with no way out.
        static_url=DOCS_ASSETS,
    )
    app.state.leadgate = ctx
    app.state.ticker = ticker
    app.state.max_body = max_body or int(
        os.environ.get("LEADGATE_MAX_BODY_BYTES", DEFAULT_MAX_BODY)
    )
    install(app)
    # Routes are matched in order, one by one: the hottest (event posts) first.
    app.include_router(events.router, prefix=PREFIX, tags=["events"])
    app.include_router(leads.router, prefix=PREFIX, tags=["leads"])
    # The browser's way in: the tracker script at the root, its events under /api/v1.
    app.include_router(tracking.router, prefix=PREFIX, tags=["tracking"])
    app.include_router(tracking.public)
    # /healthz and /readyz at the root (load balancers) and under /api/v1, where the
    # API docs list them.
    app.include_router(admin.health, tags=["health"])
    app.include_router(admin.health, prefix=PREFIX, tags=["health"])
    app.include_router(admin.router, prefix=PREFIX, tags=["admin"])
    for name, (read_roles, write_roles) in OPTIONAL_ROUTERS.items():
        # Other areas plug in here; a missing module is fine, a broken one must fail loudly.
        if module_exists(name):
            mod = importlib.import_module(name)
            guard = require_by_method(read_roles, write_roles)
            app.include_router(mod.router, prefix=PREFIX, dependencies=[Depends(guard)])
            if hasattr(mod, "get_engine"):
                # This app's engine, not one opened per request from $LEADGATE_DB. Not
                # through app.dependency_overrides: with any override set, FastAPI
                # rebuilds every dependency's signature on every request (~11% of the
                # CPU of a GET /leads/{id}). The provider is per process; a process
                # serves one app (tests building several get the latest one's engine).
                mod.set_engine_provider(lambda: ctx.engine)
    if module_exists("leadgate.web"):
        # The web app (pages under /app, /login) rides on the same process and context:
        # one mount call, so the API knows nothing of its pages.
        importlib.import_module("leadgate.web").install(app)
    if module_exists("leadgate.forms.http"):
        # Public form pages, the snippet and its JSON (no key: CORS per form).
        importlib.import_module("leadgate.forms.http").install(app)
    app.add_middleware(BodyLimit, limit=app.state.max_body)
    app.add_middleware(AccessLog)

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
    $LEADGATE_DELIVERY=0, the scheduler tick every $LEADGATE_TICK_SECONDS (default 15)
    unless $LEADGATE_TICK=0; the server's GC policy (`gc_policy`)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if os.environ.get("LEADGATE_ACCESS_LOG", "1") == "0":
        logging.getLogger("leadgate.access").setLevel(logging.WARNING)
    deliver = os.environ.get("LEADGATE_DELIVERY", "1") != "0"
    tick = os.environ.get("LEADGATE_TICK", "1") != "0"
    seconds = float(os.environ.get("LEADGATE_TICK_SECONDS") or DEFAULT_TICK_SECONDS)
    app = create_app(
        os.environ.get("LEADGATE_DB"),
        deliver=deliver,
        tick=tick,
        tick_seconds=seconds,
    )
    tune_gc()
    # This process is a server: what each ingest transaction leaves alive is frozen too.
    app.state.leadgate.gc_policy = FreezeAfterWrites()
    return app
