"""The `leadgate` command.

Start-up time is part of the product: `leadgate --help` answers from the table below
without importing any command's module, and running a command imports only the modules
that register it (the engine, SQLAlchemy, pandas... come with them, when they are used).
tests/cli/test_startup.py keeps the table equal to what the modules register and lists the
heavy modules `import leadgate.cli.main` may not load.

    leadgate --help                 # the table: no command module imported
    leadgate lead show a@x.com      # imports leadgate.cli.leads (and what it needs)
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from leadgate import __version__
from leadgate.cli.common import DbOpt, set_root_db
from leadgate.cli.plain_params import plain

# Command name -> (the modules of leadgate.cli that register it, in order; its one-line help).
# A module exposes `register(app)`. `report` is one group two modules add to.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "init": (
        ("setup",),
        "Create or upgrade the database and activate a playbook (the bundled one by default).",
    ),
    "playbook": (("playbook",), "Check, activate and inspect playbooks."),
    "lead": (("leads", "identity", "privacy"), "Add, import, inspect and list leads."),
    "event": (("leads",), "Record events (what leads did)."),
    "tick": (
        ("stages",),
        "Fire what is due now: MQLs whose engagement decayed, nurture cooldowns that ended.",
    ),
    "rescore": (("stages",), "Replay every lead under the active playbook."),
    "stage": (("stages",), "Move leads between stages by hand."),
    "report": (("reports", "analytics"), "Funnel and conversion reports."),
    "demo": (
        ("demo",),
        "Load a realistic synthetic funnel (seeded), then print the funnel and the MQL queue.",
    ),
    "train": (
        ("predictive",),
        "Train a conversion model on closed leads (the store's, or a CSV's) and save it.",
    ),
    "predict": (
        ("predictive",),
        "Score every lead in the store (stored as `predicted`), or the rows of a CSV (writes "
        "the id or row and `predicted`, 0-1).",
    ),
    "suggest-points": (
        ("predictive",),
        "Propose integer rule points from outcomes (sparse logistic model on binned "
        "attributes and event counts); print its AUC next to the current playbook's.",
    ),
    "serve": (
        ("api",),
        "Serve the HTTP API (docs at /docs), deliver webhooks and fire what falls due.",
    ),
    "worker": (
        ("api",),
        "Deliver webhooks and fire what falls due (without serving HTTP) until interrupted "
        "(Ctrl-C or SIGTERM: a tick under way finishes first).",
    ),
    "keys": (("api",), "API keys: create (shown once), list, revoke."),
    "webhooks": (("api",), "Webhook subscriptions and deliveries."),
    "qualify": (
        ("sales",),
        "Record discovery-call answers (BANT by default). Without --set/--note: show them.",
    ),
    "queue": (
        ("sales",),
        "Open work by priority: SLA time left, then grade, then score — with the reason.",
    ),
    "assign": (
        ("sales",),
        "Reassign a lead (audited). An MQL's acceptance SLA restarts for the new owner.",
    ),
    "handoff": (
        ("sales",),
        "SAL → SQL once the framework passes, handed to an AE with the BDR's notes.",
    ),
    "scheduler": (
        ("sales",),
        "Fire SLA deadlines, decay exits, cooldown ends and nurture steps when due, and send "
        "the nurture mail outbox. Safe to run several at once on PostgreSQL: each job fires "
        "once.",
    ),
    "reps": (("sales",), "Sales reps: BDRs, AEs and managers."),
    "opportunity": (
        ("sales",),
        "Opportunities: `opportunity EMAIL --amount ...` accepts an SQL (SQL → SQO); "
        "`opportunity update EMAIL ...` changes the open one.",
    ),
    "nurture": (("sales",), "Nurture tracks: a lead's timeline, the mail outbox."),
    "advise-threshold": (
        ("analytics",),
        "Suggest the score threshold that meets a target, and show the trade-off curve.",
    ),
    "backtest": (
        ("analytics",),
        "Replay history under NEW and the active playbook; compare MQLs month by month.",
    ),
    "accounts": (
        ("identity",),
        "Accounts (company email domains, free-mail excluded), most engaged first.",
    ),
    "person": (
        ("privacy",),
        "A person's rights: what we hold on them (export), erasure, consent, retention.",
    ),
    "forms": (("forms",), "Lead-capture forms: list them, count refused submissions."),
    "score-batch": (
        ("analytics",),
        "Score every lead with the compiled playbook where the data lives (no store).",
    ),
    "users": (
        ("users",),
        "People who sign in to the web app: add, list, disable, reset-password.",
    ),
}


def registered(modules: tuple[str, ...], path: tuple[str, ...] = ()) -> TyperGroup:
    """The command group the given command modules make when they register on a fresh app.

    With `path` (the words of the command line: `("lead", "show")`), only the commands on
    that path are built: Typer reads every command's signature when it builds a group,
    ~15 ms for the `lead`, `event`, `accounts` and `person` groups `lead show` shares
    modules with (issue 17). A word that names no command keeps everything at its level,
    so `lead --help`, `lead shw` (and its "did you mean") see every command.
    """
    sub = typer.Typer()

    @sub.callback()
    def _group() -> None:
        """A callback makes Typer build a group even for a module with one command."""

    for name in modules:
        importlib.import_module(f"leadgate.cli.{name}").register(sub)
    if path:
        _keep_only(sub, path)
    group = typer.main.get_command(sub)
    assert isinstance(group, TyperGroup)
    return group


def _keep_only(app: typer.Typer, path: tuple[str, ...]) -> None:
    """Drop from `app` the commands and groups not named path[0] (then path[1:] inside)."""
    name, rest = path[0], path[1:]
    commands = [
        c
        for c in app.registered_commands
        if (c.name or typer.main.get_command_name(getattr(c.callback, "__name__", ""))) == name
    ]
    groups = [
        g
        for g in app.registered_groups
        if (g.name or (g.typer_instance.info.name if g.typer_instance else None)) == name
    ]
    if not commands and not groups:
        return
    app.registered_commands, app.registered_groups = commands, groups
    for g in groups:
        if rest and g.typer_instance is not None:
            _keep_only(g.typer_instance, rest)


class LazyCommands(TyperGroup):
    """The root group: lists commands from COMMANDS, imports a command's modules on use."""

    listing = False
    # The command line from the command's name on, while a command is being resolved.
    words: tuple[str, ...] = ()

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> TyperCommand | Any:
        if cmd_name not in COMMANDS:
            return None
        modules, summary = COMMANDS[cmd_name]
        if self.listing:
            # The root's help lists names and summaries only: nothing to import.
            return TyperCommand(cmd_name, help=summary, short_help=summary)
        # Typer's pydantic converters are not needed for text and flags (plain_params).
        path = self.words[:2] if self.words[:1] == (cmd_name,) else ()
        command = registered(modules, path).get_command(ctx, cmd_name)
        return None if command is None else plain(command, ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        self.words = tuple(args)
        try:
            return super().resolve_command(ctx, args)
        finally:
            self.words = ()

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        plain(self, ctx)  # the root's --db, --version and --help (plain_params)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        # Plain (click's) layout for the root's help: Rich's help renderer and its
        # Markdown parser cost more than the rest of `leadgate --help` together. A
        # command's own help keeps Rich's layout.
        self.listing = True
        try:
            super(TyperGroup, self).format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    name="leadgate",
    cls=LazyCommands,
    help="Self-hosted lead qualification: score, qualify, route and report on leads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"leadgate {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    db: DbOpt = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """leadgate: score every lead on fit and engagement and move it through the funnel."""
    set_root_db(db)


if __name__ == "__main__":  # pragma: no cover
    app()
