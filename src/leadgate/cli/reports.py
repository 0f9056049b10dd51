"""`leadgate report funnel`."""

from __future__ import annotations

import typer
from rich.table import Table

from leadgate.cli.common import DbOpt, JsonOpt, console, handle_errors, open_engine, print_json


def print_funnel(data: dict) -> None:  # type: ignore[type-arg]
    """The funnel as two tables: where leads are now, and step conversion."""
    t = Table("stage", "now", "ever reached", title=f"Funnel ({data['total_leads']} leads)")
    for stage, n in data["current"].items():
        t.add_row(stage, str(n), str(data["reached"].get(stage, "")))
    console.print(t)
    c = Table("step", "from", "to", "conversion")
    for s in data["conversion"]:
        rate = "–" if s["rate"] is None else f"{100 * s['rate']:.1f}%"
        c.add_row(f"{s['from']} → {s['to']}", str(s["from_count"]), str(s["to_count"]), rate)
    console.print(c)


def register(app: typer.Typer) -> None:
    """Add the `report` command group."""
    report = typer.Typer(help="Funnel and conversion reports.", no_args_is_help=True)
    app.add_typer(report, name="report")

    @report.command("funnel")
    @handle_errors
    def funnel(db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """Leads per stage and conversion between stages."""
        engine = open_engine(db)
        data = engine.funnel()
        if as_json:
            print_json(data)
        else:
            print_funnel(data)
