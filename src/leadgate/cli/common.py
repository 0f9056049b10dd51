"""Shared CLI plumbing: the --db option, opening the engine, JSON output, error mapping."""

from __future__ import annotations

import functools
import gc
import getpass
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer

from leadgate.cli.errors import BadInput, fail
from leadgate.cli.tables import make_console
from leadgate.cli.terminal import echo

if TYPE_CHECKING:
    from sqlalchemy.exc import OperationalError

    from leadgate.engine.engine import Engine

# The engine, the store and SQLAlchemy are imported by the functions that use them, not
# here: every command imports this module, and `leadgate --help` must not pay for them
# (tests/cli/test_startup.py).

# The engines the CLI opens read the time here: the wall clock for people, a fixed one in
# tests (monkeypatched), so a test of `train` or `lead show` never depends on the hour.
clock: Callable[[], float] = time.time

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


def command_group(app: typer.Typer, name: str, help: str) -> typer.Typer:
    """The group `name` of `app`, made (with `help`) if no module registered it yet.

    Several modules add commands to one group (`lead`, `report`), and a module may be
    registered alone (leadgate.cli.main loads only the modules a command needs).
    """
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group


def actor_default() -> str:
    """Who the CLI acts as: $LEADGATE_ACTOR, else the login name."""
    try:
        return os.environ.get("LEADGATE_ACTOR") or f"user:{getpass.getuser()}"
    except Exception:
        return "user:cli"


# Opening the engine imports most of leadgate (the engine, the playbook's models and
# pydantic) and reads the playbook: objects that live as long as the process. The cyclic
# collector walked them again and again while they were made, and every collection after
# that walked them once more: ~6% of a `lead show` (issue 17). The collector is paused
# while the engine opens, and the first time what is alive then is frozen (kept out of
# later collections, still freed by reference counting), as a server does at start
# (`api.gc_policy.tune_gc`).
_frozen_once = False


def open_engine(db: str | None, ensure_playbook: bool = True, *, create: bool = False) -> Engine:
    """Open the store (migrating an older one) and the engine over it (see `_open`)."""
    global _frozen_once
    was_enabled = gc.isenabled()
    gc.disable()
    wrote: list[str] = []
    try:
        return _open(db, ensure_playbook, create, wrote)
    finally:
        if not _frozen_once:
            _frozen_once = True
            if wrote:
                gc.collect()  # a migration or an activation leaves garbage: not frozen
            gc.freeze()
        if was_enabled:
            gc.enable()


def _open(db: str | None, ensure_playbook: bool, create: bool, wrote: list[str]) -> Engine:
    """Open the store (migrating an older one) and the engine over it.

    Only `create=True` (`init`, `demo`) makes a store where there is none: for every other
    command a mistyped --db is an error (NoStore) and nothing is left behind, not even an
    empty file. A store that cannot be written opens read-only (reads work, writes are
    refused with ReadOnlyStore, one line naming the file).
    """
    from leadgate.engine.engine import Engine, NoPlaybook
    from leadgate.forms.consents import install as install_forms
    from leadgate.predictive.hooks import install as install_predictive
    from leadgate.sales import attach as attach_sales
    from leadgate.store.database import Database, DatabaseError, first_line
    from leadgate.webhooks import OutboxWriter

    database = Database(db or _root_db["url"])
    try:
        if not create:
            database.require_store()
        if not database.schema_current():
            wrote.append("migrated")
            database.migrate()
    except Exception as exc:
        # Only a store SQLAlchemy opened raises its OperationalError, and then it is
        # loaded: importing it up front would cost `lead show` on SQLite its start-up.
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            raise DatabaseError(
                f"--db: cannot open {database.shown}: {first_line(exc.orig)}"
            ) from None
        raise
    engine = Engine(database, clock=clock)
    # `lead show` carries the stored conversion probability and its factors.
    install_predictive(engine)
    # The sales workflow guards SAL→SQL and SQL→SQO, routes new MQLs and starts their
    # SLA, whichever command made them (as the API does at start-up); it is made by the
    # first hook that needs it, so `lead show` reads its extras without it (issue 17).
    attach_sales(engine)
    # `lead show` lists the consents given on forms.
    install_forms(engine)
    # Stage changes made by a command (stage set, an import, a scheduler tick) are
    # announced to webhook subscribers like the API's: an outbox row in the same
    # transaction, sent by `leadgate worker` or `serve`.
    if not any(isinstance(x, OutboxWriter) for x in engine.listeners):
        engine.listeners.append(OutboxWriter())
    if ensure_playbook:
        try:
            # A read first: a store with a playbook (every store after `init`) is not
            # written to just to be opened, so reads work on a read-only store.
            engine.processor()
        except NoPlaybook:
            wrote.append("activated")
            engine.ensure_playbook()
    return engine


def print_json(data: Any) -> None:
    """Pretty JSON on stdout."""
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


F = TypeVar("F", bound=Callable[..., Any])


def _read_only_error(exc: OperationalError) -> bool:
    """SQLite's SQLITE_READONLY or PostgreSQL's read_only_sql_transaction (25006)."""
    orig = exc.orig
    return "readonly database" in str(orig) or getattr(orig, "sqlstate", None) == "25006"


def handle_errors(fn: F) -> F:
    """Turn the errors users can fix into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            _report(exc)
            raise

    return wrapper  # type: ignore[return-value]


def _report(exc: Exception) -> None:
    """Exit 2 with one line for an error the user can fix; return for any other.

    The error classes are imported here, when there is an error, for the start-up time;
    the modules that raise them are loaded by then.
    """
    if isinstance(exc, typer.Exit | typer.Abort | typer.BadParameter):
        return
    from sqlalchemy.exc import OperationalError

    from leadgate.engine.engine import NoPlaybook, NotFound
    from leadgate.ingest.validate import InputError
    from leadgate.lifecycle.stages import IllegalTransition
    from leadgate.playbook.loader import PlaybookError
    from leadgate.store.database import DatabaseError, first_line
    from leadgate.store.trouble import trouble

    if isinstance(exc, PlaybookError):
        for p in exc.problems:
            echo(f"error: {p}", err=True)
        raise typer.Exit(code=2) from None
    if isinstance(exc, InputError | BadInput | DatabaseError | NotFound | NoPlaybook):
        fail(str(exc))
    # The store busy with another process's write, or its disk full: not a bug.
    found = trouble(exc)
    if found is not None:
        fail(found.message)
    # A store that became read-only after it was opened (a read-only mount, a PostgreSQL
    # standby or default_transaction_read_only): one line, not a trace.
    if isinstance(exc, OperationalError) and _read_only_error(exc):
        fail(f"the store is read-only: {first_line(exc.orig)}")
    if isinstance(exc, IllegalTransition):
        allowed = ", ".join(exc.allowed) if exc.allowed else "none"
        msg = str(exc)
        fail(msg if "allowed:" in msg else f"{msg} (allowed: {allowed})")
