"""`leadgate stage set` and `leadgate tick`."""

from __future__ import annotations

from typing import Annotated

import typer

from leadgate.cli.common import (
    DbOpt,
    JsonOpt,
    actor_default,
    handle_errors,
    open_engine,
    print_json,
)
from leadgate.cli.terminal import echo
from leadgate.ingest.validate import iso
from leadgate.lifecycle.stages import stage_name


def register(app: typer.Typer) -> None:
    """Add `stage set` and `tick`."""
    stage = typer.Typer(help="Move leads between stages by hand.", no_args_is_help=True)
    app.add_typer(stage, name="stage")

    @stage.command("set")
    @handle_errors
    def set_(
        email: Annotated[str, typer.Argument(help="The lead's email.")],
        to: Annotated[
            str,
            typer.Argument(
                help="Target stage (mql, sal, sql, sqo, customer, nurture, disqualified, lead)."
            ),
        ],
        reason: Annotated[
            str | None, typer.Option(help="Why (required to move back or out).")
        ] = None,
        actor: Annotated[str | None, typer.Option(help="Who moves it.")] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Move a lead; an illegal move exits 2 and lists where it may go."""
        engine = open_engine(db)
        t = engine.set_stage(email, stage_name(to), reason, actor or actor_default())
        data = {
            "from": t.from_stage,
            "to": t.to_stage,
            "at": iso(t.at),
            "actor": t.actor,
            "reason": t.reason,
        }
        if as_json:
            print_json(data)
        else:
            why = f": {t.reason}" if t.reason else ""
            echo(f"{email}: {t.from_stage} → {t.to_stage} ({t.actor}{why})")

    @app.command("tick")
    @handle_errors
    def tick(db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """Fire what is due now: MQLs whose engagement decayed, nurture cooldowns that ended."""
        engine = open_engine(db)
        n = engine.tick()
        if as_json:
            print_json({"transitions": n})
        else:
            echo(f"{n} stage changes")

    @app.command("rescore")
    @handle_errors
    def rescore(
        db: DbOpt = None,
        as_json: JsonOpt = False,
        per_lead: Annotated[
            bool,
            typer.Option(
                "--per-lead", help="Every lead through the lifecycle (not set-based where it can)."
            ),
        ] = False,
        verify: Annotated[
            int,
            typer.Option(
                min=0, help="Leads of the set-based path checked against the per-lead path."
            ),
        ] = 1000,
    ) -> None:
        """Replay every lead under the active playbook.

        Set-based where no stage can move, with `--verify N` leads (default 1,000) checked
        against the per-lead path; any disagreement fails the command (exit 1)."""
        from leadgate.engine.rescore import last_report
        from leadgate.engine.rescore_set import RescoreMismatch

        engine = open_engine(db)
        try:
            n = engine.rescore_all(method="per-lead" if per_lead else "set", verify=verify)
        except RescoreMismatch as exc:
            echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from None
        report = last_report(engine)
        if as_json:
            print_json({"rescored": n, **(report.as_dict() if report else {"method": "per-lead"})})
        elif report is not None:
            echo(report.line())
        else:
            echo(f"rescored {n} leads")
