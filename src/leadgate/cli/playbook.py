"""`leadgate playbook check|activate|show|schema|history`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from leadgate.cli.common import (
    DbOpt,
    JsonOpt,
    actor_default,
    console,
    handle_errors,
    open_engine,
    print_json,
)
from leadgate.cli.terminal import echo
from leadgate.engine.activation import activate as activate_playbook
from leadgate.ingest.validate import iso
from leadgate.playbook.loader import load_playbook, load_playbook_file
from leadgate.playbook.model import Playbook
from leadgate.store.repository import Repository

FileArg = Annotated[Path, typer.Argument(help="Playbook YAML file.", show_default=False)]


def register(app: typer.Typer) -> None:
    """Add the `playbook` command group."""
    group = typer.Typer(help="Check, activate and inspect playbooks.", no_args_is_help=True)
    app.add_typer(group, name="playbook")

    @group.command("check")
    @handle_errors
    def check(file: FileArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """Validate a playbook file; exit 2 with file:line: field: reason on any error."""
        pb = load_playbook_file(file)
        warnings = pb.warnings()
        if as_json:
            print_json({"valid": True, "name": pb.name, "warnings": warnings})
        else:
            for w in warnings:
                echo(f"warning: {file.name}: {w}", err=True)
            echo(
                f"{file}: ok ({len(pb.fit.rules)} fit rules, {len(pb.engagement.rules)} "
                "engagement rules)"
            )

    @group.command("activate")
    @handle_errors
    def activate(
        file: FileArg,
        db: DbOpt = None,
        actor: Annotated[str | None, typer.Option(help="Who activates it.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Store the file as the next playbook version and rescore every lead under it."""
        load_playbook_file(file)
        engine = open_engine(db, ensure_playbook=False)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bar:
            with engine.db.read() as conn:
                total = (
                    Repository(engine.db, conn).execute("SELECT COUNT(*) FROM leads").fetchone()[0]
                )
            task = bar.add_task("rescoring", total=total)
            done = activate_playbook(
                engine,
                file.read_text(encoding="utf-8"),
                file.name,
                actor or actor_default(),
                progress=lambda k: bar.advance(task, k),
            )
        if as_json:
            print_json(done.as_dict())
        else:
            for w in done.playbook.warnings():
                echo(f"warning: {w}", err=True)
            echo(done.summary())

    @group.command("show")
    @handle_errors
    def show(
        db: DbOpt = None,
        version: Annotated[int | None, typer.Option(help="A past version.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Print the active playbook (or a past version) as YAML."""
        engine = open_engine(db)
        with engine.db.read() as conn:
            repo = Repository(engine.db, conn)
            if version is None:
                active = repo.active_playbook()
                assert active is not None
                version, text = active
            else:
                found = repo.playbook_version(version)
                if found is None:
                    from leadgate.cli.errors import fail

                    fail(f"--version: no playbook version {version}")
                text = found
        if as_json:
            pb = load_playbook(text)
            print_json(
                {
                    "version": version,
                    "yaml": text,
                    "playbook": pb.model_dump(by_alias=True, exclude_none=True),
                }
            )
        else:
            echo(f"# version {version}")
            echo(text.rstrip("\n"))

    @group.command("history")
    @handle_errors
    def history(db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """Every playbook version that was ever active."""
        engine = open_engine(db)
        with engine.db.read() as conn:
            rows = Repository(engine.db, conn).playbook_versions()
        data = [
            {
                "version": r[0],
                "name": r[1],
                "sha256": r[2],
                "activated_at": iso(r[3]),
                "activated_by": r[4],
            }
            for r in rows
        ]
        if as_json:
            print_json(data)
        else:
            for d in data:
                echo(f"v{d['version']}  {d['activated_at']}  {d['activated_by']}  {d['name']}")

    @group.command("schema")
    def schema() -> None:
        """Print the playbook JSON Schema (point your editor's YAML plugin at it)."""
        print_json(Playbook.model_json_schema(by_alias=True))
