"""`leadgate serve`, `leadgate worker`, `leadgate keys ...`, `leadgate webhooks ...`."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
from typing import Annotated

import typer

from leadgate.cli.common import (
    DbOpt,
    JsonOpt,
    actor_default,
    console,
    handle_errors,
    open_engine,
    print_json,
)
from leadgate.cli.errors import BadInput, fail
from leadgate.cli.tables import table
from leadgate.cli.terminal import echo
from leadgate.engine.engine import Engine
from leadgate.keys import ROLES, KeyNotFound, create_key, list_keys, revoke_key
from leadgate.webhooks import (
    EVENT_TYPES,
    OutboxWriter,
    SubscriptionNotFound,
    add_subscription,
    list_deliveries,
    list_subscriptions,
    outbox_counts,
    replay,
)

# leadgate.api.background.DEFAULT_TICK_SECONDS, not imported: leadgate.api pulls in
# FastAPI, which every other command would then load for nothing.
DEFAULT_TICK_SECONDS = 15.0
TickSecondsOpt = Annotated[
    float,
    typer.Option(min=0.01, help="Seconds between scheduler ticks (from the end of one)."),
]


async def _work(engine: Engine, deliver: bool, tick: bool, tick_seconds: float) -> None:
    """`leadgate worker`: the delivery loop and the tick loop until SIGINT/SIGTERM."""
    from leadgate.api.background import Ticker, serialised_writes, stop_task
    from leadgate.webhooks.delivery import Deliverer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    run_write = serialised_writes(engine.db.is_sqlite)
    deliverer = Deliverer(engine.db, run_write=run_write) if deliver else None
    tasks: list[asyncio.Task[None]] = []
    if deliverer is not None:
        tasks.append(asyncio.create_task(deliverer.run(stop)))
    if tick:
        ticker = Ticker(
            engine,
            tick_seconds,
            run_write=run_write,
            on_work=deliverer.wake if deliverer is not None else None,
        )
        tasks.append(asyncio.create_task(ticker.run(stop)))
    await stop.wait()
    for t in tasks:
        await stop_task(t)


def port_free(host: str, port: int) -> None:
    """Exit 2 with one line unless `host:port` can be listened on now."""
    if not 0 < port < 65536:
        fail(f"--port: {port} is not a TCP port (1-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"--host: cannot listen on '{host}': {exc.strerror}")
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        # As uvicorn binds: SO_REUSEADDR, so a port in TIME_WAIT is not "busy".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            why = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            fail(f"--port: cannot listen on {host}:{port}: {why} (choose another with --port)")


def register(app: typer.Typer) -> None:
    """Add `serve`, `worker`, and the `keys` and `webhooks` groups."""

    @app.command()
    @handle_errors
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
        deliver: Annotated[
            bool, typer.Option(help="Run the webhook delivery loop in the server.")
        ] = True,
        tick: Annotated[
            bool,
            typer.Option(
                help="Run the scheduler in the server: SLA deadlines, decay exits, cooldown "
                "ends, nurture steps and mail."
            ),
        ] = True,
        tick_seconds: TickSecondsOpt = DEFAULT_TICK_SECONDS,
        access_log: Annotated[
            bool,
            typer.Option(
                help="Log one line per request: method, path, status, ms (never the key)."
            ),
        ] = True,
        forwarded_allow_ips: Annotated[
            str | None,
            typer.Option(
                help="Proxies trusted to name the client address (X-Forwarded-For), comma-"
                "separated, or '*'; the rate limits count that address. Default: "
                "$FORWARDED_ALLOW_IPS, else 127.0.0.1."
            ),
        ] = None,
        db: DbOpt = None,
    ) -> None:
        """Serve the HTTP API (docs at /docs), deliver webhooks and fire what falls due."""
        import uvicorn

        # Before the banner and the store: a busy port is one line and exit 2, not a
        # banner followed by uvicorn's traceback and exit 3.
        port_free(host, port)
        engine = open_engine(db)  # migrate and activate a playbook once, before the workers
        # The server writes (events, ticks, deliveries): a read-only store is refused here,
        # in one line, not by each worker process at start-up with a traceback.
        engine.db.require_writable()
        url = engine.db.url
        if engine.db.is_sqlite and workers > 1:
            # Measured in docs/benchmarks-api.md: a writer waiting for the other process's
            # lock sleeps in SQLite's busy-handler steps (up to 100 ms each).
            echo(
                "note: SQLite takes one writer at a time; with several workers a write may "
                "wait for another worker's lock (tens of ms at p99). One worker serves "
                "SQLite best; use PostgreSQL to scale out.",
                err=True,
            )
        engine.db.dispose()
        os.environ["LEADGATE_DB"] = url
        os.environ["LEADGATE_DELIVERY"] = "1" if deliver else "0"
        os.environ["LEADGATE_TICK"] = "1" if tick else "0"
        os.environ["LEADGATE_TICK_SECONDS"] = repr(tick_seconds)
        os.environ["LEADGATE_WORKERS"] = str(workers)
        os.environ["LEADGATE_ACCESS_LOG"] = "1" if access_log else "0"
        echo(
            f"leadgate API on http://{host}:{port}/api/v1 (docs: http://{host}:{port}/docs), "
            f"{workers} worker(s), store {url.split('@')[-1]}; webhooks "
            f"{'delivered' if deliver else 'not delivered (--no-deliver)'}, scheduler "
            f"{f'ticking every {tick_seconds:g} s' if tick else 'off (--no-tick)'}",
            err=True,
        )
        uvicorn.run(
            "leadgate.api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=os.environ.get("LEADGATE_LOG_LEVEL", "warning"),
            access_log=False,
            # uvicorn's own default when None: $FORWARDED_ALLOW_IPS, else 127.0.0.1.
            forwarded_allow_ips=forwarded_allow_ips,
        )

    @app.command()
    @handle_errors
    def worker(
        deliver: Annotated[bool, typer.Option(help="Run the webhook delivery loop.")] = True,
        tick: Annotated[
            bool,
            typer.Option(
                help="Run the scheduler: SLA deadlines, decay exits, cooldown ends, nurture "
                "steps and mail."
            ),
        ] = True,
        tick_seconds: TickSecondsOpt = DEFAULT_TICK_SECONDS,
        db: DbOpt = None,
    ) -> None:
        """Deliver webhooks and fire what falls due (without serving HTTP) until
        interrupted (Ctrl-C or SIGTERM: a tick under way finishes first)."""
        if not deliver and not tick:
            raise BadInput("--no-deliver --no-tick: nothing left to run")
        engine = open_engine(db)
        engine.db.require_writable()
        # The tick's stage changes (decay exits, cooldown ends) are announced like the
        # API's: the outbox rows are written in the transaction that made them.
        engine.listeners.append(OutboxWriter())
        jobs = (["delivering webhooks"] if deliver else []) + (
            [f"ticking every {tick_seconds:g} s"] if tick else []
        )
        echo(f"{' and '.join(jobs)}; Ctrl-C stops", err=True)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_work(engine, deliver, tick, tick_seconds))

    keys = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("create")
    @handle_errors
    def keys_create(
        role: Annotated[str, typer.Option(help=" | ".join(ROLES))],
        name: Annotated[str, typer.Option(help="Who or what uses the key.")],
        origin: Annotated[
            list[str] | None,
            typer.Option(
                help="A browser key: a web origin it may be used from (repeat for several), "
                "e.g. https://www.example.com."
            ),
        ] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Create a key and print it: the only time it is shown (only a hash is stored)."""
        database = open_engine(db, ensure_playbook=False).db
        key, secret = create_key(database, role, name, actor_default(), origin or [])
        if as_json:
            print_json({**key.as_dict(), "key": secret})
            return
        echo(secret)
        echo(
            f"key {key.id} '{key.name}' (role {key.role}) created: store it now, it is not "
            "shown again",
            err=True,
        )

    @keys.command("list")
    @handle_errors
    def keys_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """Every key (never the secret)."""
        database = open_engine(db, ensure_playbook=False).db
        items = list_keys(database)
        if as_json:
            print_json([k.as_dict() for k in items])
            return
        t = table("id", "name", "role", "prefix", "created", "status", "origins")
        for k in items:
            d = k.as_dict()
            status = "active" if k.revoked_at is None else f"revoked {d['revoked_at']}"
            t.add_row(
                str(k.id),
                k.name,
                k.role,
                f"lg_{k.prefix}_…",
                d["created_at"],
                status,
                " ".join(k.origins) or "-",
            )
        console.print(t)

    @keys.command("revoke")
    @handle_errors
    def keys_revoke(
        ref: Annotated[str, typer.Argument(help="The key's id, prefix or name.")],
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Revoke a key: requests with it are refused at once."""
        database = open_engine(db, ensure_playbook=False).db
        try:
            key = revoke_key(database, ref)
        except KeyNotFound as exc:
            fail(str(exc))
        if as_json:
            print_json(key.as_dict())
        else:
            echo(f"key {key.id} '{key.name}' revoked")

    hooks = typer.Typer(help="Webhook subscriptions and deliveries.", no_args_is_help=True)
    app.add_typer(hooks, name="webhooks")

    @hooks.command("add")
    @handle_errors
    def hooks_add(
        url: Annotated[str, typer.Argument(help="http(s) URL that receives the POSTs.")],
        events: Annotated[str, typer.Option(help="Comma-separated: " + ",".join(EVENT_TYPES))],
        secret: Annotated[
            str | None, typer.Option(help="Signing secret (default: generated, shown once).")
        ] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Subscribe a URL; prints the signing secret when it was generated."""
        database = open_engine(db, ensure_playbook=False).db
        sub, made = add_subscription(database, url, events, secret, actor_default())
        out = sub.as_dict()
        if secret is None:
            out["secret"] = made
        if as_json:
            print_json(out)
            return
        echo(f"webhook {sub.id}: {sub.url} ← {', '.join(sub.events)}")
        if secret is None:
            echo(f"signing secret (shown once): {made}")

    @hooks.command("list")
    @handle_errors
    def hooks_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """Subscriptions and delivery counts."""
        database = open_engine(db, ensure_playbook=False).db
        subs = list_subscriptions(database)
        counts = outbox_counts(database)
        if as_json:
            print_json({"subscriptions": [s.as_dict() for s in subs], "deliveries": counts})
            return
        t = table("id", "url", "events", "active", "created")
        for s in subs:
            d = s.as_dict()
            t.add_row(
                str(s.id), s.url, ",".join(s.events), "yes" if s.active else "no", d["created_at"]
            )
        console.print(t)
        echo(
            f"deliveries: {counts['pending']} pending, {counts['delivered']} delivered, "
            f"{counts['dead']} dead"
        )

    @hooks.command("deliveries")
    @handle_errors
    def hooks_deliveries(
        status: Annotated[str | None, typer.Option(help="pending | delivered | dead")] = None,
        limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The latest deliveries, newest first."""
        if status not in (None, "pending", "delivered", "dead"):
            raise BadInput("--status: one of pending, delivered, dead")
        database = open_engine(db, ensure_playbook=False).db
        items = list_deliveries(database, status, limit)
        if as_json:
            print_json(items)
            return
        t = table("id", "event", "lead", "status", "attempts", "last", "created")
        for d in items:
            last = d["last_error"] or (str(d["last_status"]) if d["last_status"] else "")
            t.add_row(
                d["id"],
                d["event"],
                str(d["lead_id"]),
                d["status"],
                str(d["attempts"]),
                last,
                d["created_at"],
            )
        console.print(t)

    @hooks.command("replay")
    @handle_errors
    def hooks_replay(
        delivery: Annotated[
            str | None, typer.Option("--delivery", help="Send this delivery again.")
        ] = None,
        dead: Annotated[
            bool, typer.Option("--dead", help="Send every dead-lettered delivery again.")
        ] = False,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Queue deliveries again (same delivery id: receivers de-duplicate)."""
        if (delivery is None) == (not dead):
            raise BadInput("give --delivery ID or --dead")
        database = open_engine(db, ensure_playbook=False).db
        try:
            n = replay(database, delivery, dead)
        except SubscriptionNotFound as exc:
            fail(str(exc))
        if as_json:
            print_json({"queued": n})
        else:
            echo(f"{n} deliveries queued again")
