"""`leadgate lead export` (every lead out, streamed) and `leadgate person
export|erase|consent|retention|purge-visitors` (a person's rights: GDPR art. 15, 17,
21, and the retention of anonymous browser events).

    $ leadgate lead export --format csv --stage mql --out mqls.csv
    $ leadgate person export ana@acme.com > ana.json
    $ leadgate person erase ana@acme.com --reason "art. 17 request #42"
    $ leadgate person consent ana@acme.com --reason "signed up again, form 2026-06-01"
    $ leadgate person retention --dry-run
    $ leadgate person purge-visitors --dry-run
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from leadgate.cli.common import (
    DbOpt,
    JsonOpt,
    actor_default,
    command_group,
    err_console,
    handle_errors,
    open_engine,
    print_json,
)
from leadgate.cli.errors import BadInput
from leadgate.cli.terminal import echo
from leadgate.export import FORMATS


def register(app: typer.Typer) -> None:
    """Add `lead export` and the `person` group."""
    lead = command_group(app, "lead", "Add, import, inspect and list leads.")

    @lead.command("export")
    @handle_errors
    def lead_export(
        fmt: Annotated[
            str, typer.Option("--format", help=" | ".join(FORMATS) + " (default csv)")
        ] = "csv",
        fields: Annotated[
            str | None,
            typer.Option(
                help="Comma-separated columns: lead columns (email, score, stage, owner, ...) "
                "or attribute names. Default: every column and every attribute."
            ),
        ] = None,
        importable: Annotated[
            bool,
            typer.Option(
                "--importable",
                help="Only email, created_at and the attributes: what `lead import` reads back.",
            ),
        ] = False,
        stage: Annotated[str | None, typer.Option(help="Only leads in this stage.")] = None,
        owner: Annotated[str | None, typer.Option(help="Only leads of this rep.")] = None,
        since: Annotated[
            str | None, typer.Option(help="Only leads created on or after (YYYY-MM-DD).")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="File to write (default: stdout).")
        ] = None,
        db: DbOpt = None,
    ) -> None:
        """Every lead with every attribute, scores, grades, stage, owner and predicted,
        streamed (memory stays flat); a progress bar on stderr when it is a terminal."""
        if fmt not in FORMATS:
            raise BadInput(f"--format: '{fmt}' is not one of {', '.join(FORMATS)}")
        if fmt == "parquet" and out is None and sys.stdout.isatty():
            raise BadInput("--format parquet: give --out FILE (binary output)")
        engine = open_engine(db)
        # Imported here: the analytics stack (DuckDB, pyarrow) is not for every `lead`
        # command's start-up (tests/cli/test_startup.py).
        from leadgate.analytics.service import parse_day
        from leadgate.export.leads import IMPORTABLE, ExportFilter, attribute_names, count
        from leadgate.export.leads import export_leads as write_leads

        f = ExportFilter(stage, owner, parse_day(since, "since"))
        cols = [c for c in fields.split(",")] if fields is not None else None
        if importable:
            if fmt == "parquet":
                raise BadInput("--importable: CSV or JSON Lines only")
            cols = [*IMPORTABLE, *attribute_names(engine.db, f)]
        total = count(engine.db, f)
        binary = fmt == "parquet"
        fh: Any
        if out is not None:
            mode, enc = ("wb", None) if binary else ("w", "utf-8")
            fh = open(out, mode, encoding=enc, newline=None if binary else "")  # noqa: SIM115
        else:
            fh = sys.stdout.buffer if binary else sys.stdout
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        try:
            with Progress(
                "export",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
                disable=not sys.stderr.isatty(),
            ) as bar:
                task = bar.add_task("export", total=total)
                n = write_leads(
                    engine.db, fh, fmt, f, cols, lambda k: bar.update(task, completed=k)
                )
        finally:
            if out is not None:
                fh.close()
        if out is not None:
            echo(f"{n} lead(s) written to {out}", err=True)

    person = typer.Typer(
        help="A person's rights: what we hold on them (export), erasure, consent, retention.",
        no_args_is_help=True,
    )
    app.add_typer(person, name="person")

    @person.command("export")
    @handle_errors
    def person_export(
        email: Annotated[str, typer.Argument(help="The person's email address.")],
        db: DbOpt = None,
    ) -> None:
        """Everything held about a person, as JSON (GDPR art. 15): attributes, events with
        properties, stage history, qualification notes, owner, mail and webhooks sent,
        erasures and consent. The export is audited."""
        from leadgate.privacy.erase import export_person

        print_json(export_person(open_engine(db), email, actor=actor_default()))

    @person.command("erase")
    @handle_errors
    def person_erase(
        email: Annotated[str, typer.Argument(help="The person's email address.")],
        reason: Annotated[str, typer.Option(help="The request this answers (audited).")],
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Erase a person everywhere (GDPR art. 17); funnel counts stay under a pseudonym;
        the address is suppressed until they consent again. Audited; announced as the
        `person.erased` webhook."""
        from leadgate.privacy.erase import erase_person

        out = erase_person(open_engine(db), email, reason, actor_default())
        if as_json:
            print_json(out)
            return
        rows = sum(out["rows"].values())
        if out["lead_id"] is None:
            echo(
                f"erased: {rows} row(s) changed; the lead is now (none held)"
                f"; the address is suppressed (audit #{out['audit_id']})"
            )
        else:
            # Which lead the address is (its own, or the one it is another spelling of).
            echo(
                f"erased: lead #{out['lead_id']} ({out['resolved_by']}), {rows} row(s) "
                f"changed; the lead is now {out['pseudonym']}"
            )
            echo(f"suppressed: {', '.join(out['spellings'])} (audit #{out['audit_id']})")
        for m in out["models_removed"]:
            echo(f"model {m} was trained on this person's data: removed, train again")

    @person.command("consent")
    @handle_errors
    def person_consent(
        email: Annotated[str, typer.Argument(help="The person's email address.")],
        reason: Annotated[str, typer.Option(help="Where and when they consented (audited).")],
        db: DbOpt = None,
    ) -> None:
        """The person consented again: take their address off the suppression list."""
        from leadgate.privacy.erase import consent

        if consent(open_engine(db), email, reason, actor_default()):
            echo("the address is no longer suppressed")
        else:
            echo("the address was not suppressed")

    @person.command("retention")
    @handle_errors
    def person_retention(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="List who would be erased; change nothing.")
        ] = False,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Apply the playbook's `retention:` now (the scheduler does it every tick):
        erase leads inactive longer than `erase_inactive_after_days` in its stages."""
        from leadgate.privacy.retention import apply_retention

        report = apply_retention(open_engine(db), dry_run=dry_run, actor="retention:cli")
        if as_json:
            print_json(report)
            return
        if report["policy"] is None:
            echo(
                "the playbook has no retention: policy for leads "
                "(erase_inactive_after_days, stages); nothing to do"
            )
            return
        verb = "would erase" if dry_run else "erased"
        echo(
            f"{verb} {report['count']} lead(s) inactive since before {report['cutoff']} "
            f"in stages {', '.join(report['policy']['stages'])}"
        )
        for item in report["leads"][:50]:
            echo(f"  #{item['id']} {item['stage']} last active {item['last_active']}")

    @person.command("purge-visitors")
    @handle_errors
    def person_purge_visitors(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Count what would be deleted; change nothing.")
        ] = False,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Delete anonymous browser events (visitors never identified) older than the
        playbook's `retention.anonymous_events_days` (90 by default) now; the scheduler
        does it every hour. Nothing of a lead is touched."""
        from leadgate.privacy.visitors import purge_visitor_events

        report = purge_visitor_events(open_engine(db), dry_run=dry_run)
        if as_json:
            print_json(report)
            return
        verb = "would delete" if dry_run else "deleted"
        echo(
            f"{verb} {report['events']} anonymous event(s) of {report['visitors']} visitor(s) "
            f"received before {report['cutoff']} (kept {report['days']} days)"
        )
