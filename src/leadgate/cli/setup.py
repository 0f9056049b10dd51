"""`leadgate init`: create or upgrade a store and activate a playbook.

leadgate --db sqlite:///leads.db init --playbook my-playbook.yaml
"""

from __future__ import annotations

from typing import Annotated

import typer

from leadgate.cli.common import DbOpt, handle_errors, open_engine
from leadgate.cli.terminal import echo


def register(app: typer.Typer) -> None:
    """Add `init`."""

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
        echo(f"database ready: {engine.db.url}  (active playbook: version {version})")
