"""`leadgate forms list|rejections`: the playbook's lead-capture forms, and the
submissions their spam rules refused.

    $ leadgate forms rejections --since 2026-06-01
    form   reason     count  last
    demo   honeypot   12     2026-06-03T09:12:44Z
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from leadgate.cli.common import DbOpt, JsonOpt, console, handle_errors, open_engine, print_json
from leadgate.cli.tables import table
from leadgate.cli.terminal import echo
from leadgate.forms.service import Forms
from leadgate.ingest.validate import parse_time


def register(app: typer.Typer) -> None:
    """Add the `forms` group."""
    forms = typer.Typer(help="Lead-capture forms: list them, count refused submissions.")
    app.add_typer(forms, name="forms")

    @forms.command("list")
    @handle_errors
    def forms_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """The forms of the active playbook, with their paths."""
        pb = Forms(open_engine(db)).playbook()
        items: list[dict[str, Any]] = [
            {
                "form": name,
                "title": f.title,
                "steps": len(f.steps),
                "fields": len(f.fields),
                "hand_raiser": f.hand_raiser,
                "page": f"/f/{name}",
                "snippet": f"/f/{name}.js",
                "allowed_origins": f.allowed_origins,
            }
            for name, f in pb.forms.items()
        ]
        if as_json:
            print_json(items)
            return
        t = table("form", "title", "steps", "fields", "hand-raiser", "page", "snippet")
        for i in items:
            t.add_row(
                i["form"],
                i["title"] or "",
                str(i["steps"]),
                str(i["fields"]),
                i["hand_raiser"] or "",
                i["page"],
                i["snippet"],
            )
        console.print(t)

    @forms.command("rejections")
    @handle_errors
    def forms_rejections(
        since: Annotated[
            str | None, typer.Option(help="Only rejections from this time on (ISO 8601).")
        ] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Refused submissions by form and reason (spam rules, origins not allowed)."""
        engine = open_engine(db)
        start = parse_time(since, "--since", engine.clock()) if since else None
        out = Forms(engine).rejections(start)
        if as_json:
            print_json(out)
            return
        t = table("form", "reason", "count", "last")
        for r in out["rejections"]:
            t.add_row(r["form"], r["reason"], str(r["count"]), r["last_at"] or "")
        console.print(t)
        echo(f"{out['total']} rejected submissions", err=True)
