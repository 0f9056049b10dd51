"""`leadgate report funnel`: where leads are now and how many moved on at each step.

Like the other reports it prints a table (or `--json`), and writes `--csv FILE`
(one row per stage: now, ever reached, conversion from the previous stage) and
`--chart FILE.png|.svg` (leads that ever reached each stage).

Example:
    leadgate report funnel --csv funnel.csv --chart funnel.png
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from leadgate.cli.common import DbOpt, JsonOpt, console, handle_errors, open_engine, print_json
from leadgate.cli.errors import BadInput
from leadgate.cli.tables import percent, table
from leadgate.lifecycle.stages import FUNNEL


def print_funnel(data: dict) -> None:  # type: ignore[type-arg]
    """The funnel as two tables: where leads are now, and step conversion."""
    t = table("stage", "now", "ever reached", title=f"Funnel ({data['total_leads']} leads)")
    for stage, n in data["current"].items():
        t.add_row(stage, str(n), str(data["reached"].get(stage, "")))
    console.print(t)
    c = table("step", "from", "to", "conversion")
    for s in data["conversion"]:
        c.add_row(
            f"{s['from']} → {s['to']}", str(s["from_count"]), str(s["to_count"]), percent(s["rate"])
        )
    console.print(c)


def funnel_report(data: dict[str, Any]) -> Any:
    """The funnel as one `Report`: a row per stage (for --csv and --chart)."""
    from leadgate.analytics.reports import Report

    rate_into = {s["to"]: s["rate"] for s in data["conversion"]}
    stages = [*FUNNEL, "nurture", "disqualified"]
    rows = [
        [s, data["current"].get(s, 0), data["reached"].get(s, 0), rate_into.get(s)] for s in stages
    ]
    return Report(
        "funnel",
        f"Funnel ({data['total_leads']} leads)",
        ["stage", "now", "ever_reached", "conversion_from_previous"],
        rows,
        "stage",
        ["ever_reached", "now"],
    )


def register(app: typer.Typer) -> None:
    """Add the `report` command group."""
    report = typer.Typer(help="Funnel and conversion reports.", no_args_is_help=True)
    app.add_typer(report, name="report")

    @report.command("funnel")
    @handle_errors
    def funnel(
        db: DbOpt = None,
        as_json: JsonOpt = False,
        csv_file: Annotated[
            str | None, typer.Option("--csv", help="Also write the table to this CSV file.")
        ] = None,
        chart: Annotated[
            str | None,
            typer.Option("--chart", help="Also draw a chart into this .png or .svg file."),
        ] = None,
        segment: Annotated[
            str | None,
            typer.Option(help="Only the leads in this segment of the playbook (segments:)."),
        ] = None,
    ) -> None:
        """Leads per stage and conversion between stages."""
        if chart and not chart.lower().endswith((".png", ".svg")):
            raise BadInput(f"--chart: file must end in .png or .svg, got '{chart}'")
        engine = open_engine(db)
        data = engine.funnel(segment)
        if as_json:
            print_json(data)
        else:
            print_funnel(data)
        if csv_file or chart:
            rep = funnel_report(data)
            if csv_file:
                with open(csv_file, "w", encoding="utf-8", newline="") as fh:
                    fh.write(rep.to_csv())
            if chart:
                from leadgate.analytics.charts import save_chart

                save_chart(rep, chart)
