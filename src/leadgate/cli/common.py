"""Shared CLI plumbing: the --db option, opening the engine, JSON output, error mapping."""

from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import orjson
import typer
from sqlalchemy.exc import OperationalError

from leadgate.cli.errors import BadInput, fail
from leadgate.cli.tables import make_console
from leadgate.engine.engine import Engine, NoPlaybook, NotFound
from leadgate.ingest.validate import InputError
from leadgate.lifecycle.stages import IllegalTransition
from leadgate.playbook.loader import PlaybookError
from leadgate.predictive.hooks import install as install_predictive
from leadgate.sales import install as install_sales
from leadgate.store.database import Database, DatabaseError
from leadgate.webhooks import OutboxWriter

# As wide as the terminal; unbounded into a pipe or file (leadgate.cli.tables).
console = make_console()
err_console = make_console(stderr=True)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///file.db or postgresql://...). Default: $LEADGATE_DB "
        "or sqlite:///leadgate.db",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

_root_db: dict[str, str | None] = {"url": None}


def set_root_db(url: str | None) -> None:
    """Remember `leadgate --db URL ...` for the subcommand."""
    _root_db["url"] = url


def actor_default() -> str:
    """Who the CLI acts as: $LEADGATE_ACTOR, else the login name."""
    try:
        return os.environ.get("LEADGATE_ACTOR") or f"user:{getpass.getuser()}"
    except Exception:
        return "user:cli"


def open_engine(db: str | None, ensure_playbook: bool = True) -> Engine:
    """Open (migrating if needed) the store and the engine over it."""
    database = Database(db or _root_db["url"])
    try:
        if not database.schema_current():
            database.migrate()
    except OperationalError as exc:
        raise DatabaseError(f"--db: cannot open {database.url}: {exc.orig}") from None
    engine = Engine(database)
    # `lead show` carries the stored conversion probability and its factors.
    install_predictive(engine)
    # The sales workflow guards SAL→SQL and SQL→SQO, routes new MQLs and starts their
    # SLA, whichever command made them (as the API does at start-up).
    install_sales(engine)
    # Stage changes made by a command (stage set, an import, a scheduler tick) are
    # announced to webhook subscribers like the API's: an outbox row in the same
    # transaction, sent by `leadgate worker` or `serve`.
    if not any(isinstance(x, OutboxWriter) for x in engine.listeners):
        engine.listeners.append(OutboxWriter())
    if ensure_playbook:
        engine.ensure_playbook()
    return engine


def print_json(data: Any) -> None:
    """Pretty JSON on stdout."""
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn the errors users can fix into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PlaybookError as exc:
            for p in exc.problems:
                typer.echo(f"error: {p}", err=True)
            raise typer.Exit(code=2) from None
        except (InputError, BadInput, DatabaseError, NotFound, NoPlaybook) as exc:
            fail(str(exc))
        except IllegalTransition as exc:
            allowed = ", ".join(exc.allowed) if exc.allowed else "none"
            msg = str(exc)
            fail(msg if "allowed:" in msg else f"{msg} (allowed: {allowed})")

    return wrapper  # type: ignore[return-value]
