"""`leadgate lead merge KEEP OTHER` and `leadgate accounts [DOMAIN]`."""

from __future__ import annotations

from typing import Annotated

import typer

from leadgate.cli.common import (
    DbOpt,
    JsonOpt,
    actor_default,
    command_group,
    console,
    handle_errors,
    open_engine,
    print_json,
)
from leadgate.cli.tables import table
from leadgate.cli.terminal import echo


def register(app: typer.Typer) -> None:
    """Add `lead merge` to the `lead` group, and `accounts`."""
    lead = command_group(app, "lead", "Add, import, inspect and list leads.")

    @lead.command("merge")
    @handle_errors
    def merge(
        keep: Annotated[str, typer.Argument(help="The lead kept (email or id).")],
        other: Annotated[str, typer.Argument(help="The lead merged into it (email or id).")],
        actor: Annotated[str | None, typer.Option(help="Who merges (audited).")] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Merge OTHER into KEEP: one person, one lead (OTHER's address becomes an alias)."""
        engine = open_engine(db)
        from leadgate.identity.merge import merge_leads

        out = merge_leads(engine, keep, other, actor or actor_default())
        if as_json:
            print_json(out)
            return
        k, m = out["kept"], out["merged"]
        if out["already"]:
            echo(f"{m['merged_email']} was merged into {k['email']} already ({m['at']})")
        else:
            echo(
                f"merged lead {m['merged_id']} ({m['merged_email']}) into {k['id']} "
                f"({k['email']}): stage {k['stage']}, owner {k['owner'] or '-'}"
            )

    @app.command("accounts")
    @handle_errors
    def accounts(
        domain: Annotated[
            str | None, typer.Argument(help="One account (company domain) and its leads.")
        ] = None,
        limit: Annotated[int, typer.Option(help="Most accounts listed.")] = 50,
        min_leads: Annotated[int, typer.Option(help="Only accounts with this many leads.")] = 1,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Accounts (company email domains, free-mail excluded), most engaged first."""
        from leadgate.identity.accounts import list_accounts, show_account

        engine = open_engine(db)
        if domain is not None:
            one = show_account(engine, domain)
            if as_json:
                print_json(one)
                return
            t = table("lead", "email", "stage", "engagement", "score", "grade")
            for m in one["members"]:
                t.add_row(
                    str(m["id"]),
                    m["email"],
                    m["stage"],
                    f"{m['engagement']:g}",
                    f"{m['score']:g}",
                    m["grade"],
                )
            console.print(
                f"{one['domain']}: {one['leads']} leads, engagement {one['engagement']:g}, "
                f"owner {one['owner'] or '-'}"
            )
            console.print(t)
            return
        items = list_accounts(engine, limit, min_leads)
        if as_json:
            print_json(items)
            return
        t = table("account", "leads", "engagement", "best score", "owner", "stages")
        for a in items:
            stages = ", ".join(f"{k} {v}" for k, v in a["stages"].items())
            t.add_row(
                a["domain"],
                str(a["leads"]),
                f"{a['engagement']:g}",
                f"{a['best_score']:g}",
                a["owner"] or "-",
                stages,
            )
        console.print(t)
