"""The `leadgate` command."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Annotated

import typer

from leadgate import __version__
from leadgate.cli import leads, playbook, reports, stages
from leadgate.cli.common import DbOpt, handle_errors, open_engine, set_root_db

PLUGGED_IN = ("demo", "predictive", "api", "sales", "analytics", "users", "privacy")

app = typer.Typer(
    name="leadgate",
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


@app.command()
@handle_errors
def init(
    db: DbOpt = None,
    playbook_file: Annotated[
        str | None,
        typer.Option("--playbook", help="Activate this playbook instead of the bundled one."),
    ] = None,
) -> None:
    """Create or upgrade the database and activate a playbook (the bundled one by default)."""
    engine = open_engine(db, ensure_playbook=False, create=True)
    if playbook_file:
        from pathlib import Path

        from leadgate.playbook.loader import load_playbook_file

        load_playbook_file(playbook_file)
        version, _, _ = engine.activate_playbook(
            Path(playbook_file).read_text(encoding="utf-8"), playbook_file
        )
    else:
        version = engine.ensure_playbook()
    typer.echo(f"database ready: {engine.db.url}  (active playbook: version {version})")


playbook.register(app)
leads.register(app)
stages.register(app)
reports.register(app)

# Each area adds its own commands: a module here exposes `register(app)`.
for _name in PLUGGED_IN:
    if importlib.util.find_spec(f"leadgate.cli.{_name}") is not None:
        importlib.import_module(f"leadgate.cli.{_name}").register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
