"""`leadgate backtest`, `report velocity|cohorts|sources|deciles|sla`, `advise-threshold`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from leadgate import csvout
from leadgate.cli.common import (
    DbOpt,
    JsonOpt,
    command_group,
    console,
    handle_errors,
    open_engine,
    print_json,
)
from leadgate.cli.errors import BadInput
from leadgate.cli.tables import fmt, percent, table
from leadgate.cli.terminal import echo
from leadgate.ingest.validate import iso

CsvOpt = Annotated[str | None, typer.Option("--csv", help="Also write the table to this CSV file.")]
ChartOpt = Annotated[
    str | None, typer.Option("--chart", help="Also draw a chart into this .png or .svg file.")
]


def advice_line(advice: dict[str, Any]) -> str:
    """The threshold advice as one sentence (the JSON keeps the numbers)."""
    target = advice["target"]
    want = (
        f"at most {fmt(target['mqls_per_month'])} MQLs per month"
        if "mqls_per_month" in target
        else f"MQL→SQL at least {percent(target['min_sql_rate'])}"
    )
    at = advice.get("at_threshold")
    if not advice.get("met") or at is None:
        return f"advice: no threshold gives {want}"
    return (
        f"advice: threshold {fmt(advice['threshold'])} for {want}: "
        f"{fmt(at['mqls_per_month'])} MQLs per month, MQL→SQL {percent(at['mql_to_sql'])}, "
        f"MQL→customer {percent(at['mql_to_customer'])}"
    )


def print_report(rep: Any) -> None:
    """A report as a Rich table (rates as percentages), with its notes below in words."""
    t = table(*rep.columns, title=rep.title, keep=("month",))
    for row in rep.rows:
        t.add_row(*(fmt(v, c) for v, c in zip(row, rep.columns, strict=True)))
    console.print(t)
    for k, v in rep.notes.items():
        if k == "advice" and isinstance(v, dict):
            console.print(advice_line(v), soft_wrap=True)
        elif isinstance(v, dict):
            console.print(f"{k}: " + ", ".join(f"{a} {fmt(b, a)}" for a, b in v.items()))
        else:
            console.print(f"{k}: {fmt(v, k)}")


def emit(rep: Any, as_json: bool, csv_file: str | None, chart: str | None) -> None:
    """Print (table or JSON) and write the CSV and chart files asked for."""
    if chart and not chart.lower().endswith((".png", ".svg")):
        raise BadInput(f"--chart: file must end in .png or .svg, got '{chart}'")
    if as_json:
        print_json(rep.to_dict())
    else:
        print_report(rep)
    if csv_file:
        Path(csv_file).write_text(rep.to_csv(), encoding="utf-8")
    if chart:
        from leadgate.analytics.charts import save_chart

        save_chart(rep, chart)


def register(app: typer.Typer) -> None:
    """Add `backtest`, `score-batch`, `advise-threshold` and the reports under `report`."""
    report = command_group(app, "report", "Funnel and conversion reports.")
    _register_score_batch(app)

    def simple(name: str, doc: str) -> None:
        @report.command(name, help=doc)
        @handle_errors
        def cmd(
            db: DbOpt = None,
            as_json: JsonOpt = False,
            csv_file: CsvOpt = None,
            chart: ChartOpt = None,
        ) -> None:
            from leadgate.analytics import service

            emit(service.report(open_engine(db), name), as_json, csv_file, chart)

    simple("velocity", "Time in each stage: median and p90 hours.")
    simple("cohorts", "Monthly cohorts by creation: leads reaching MQL, SQL, customer.")
    simple("sla", "Share of MQLs accepted within the playbook's SLA, median response time.")

    @report.command("sources")
    @handle_errors
    def sources(
        by: Annotated[str, typer.Option("--by", help="source, campaign or rep.")] = "source",
        db: DbOpt = None,
        as_json: JsonOpt = False,
        csv_file: CsvOpt = None,
        chart: ChartOpt = None,
    ) -> None:
        """Leads, MQLs, SQLs and customers per source, campaign or rep."""
        from leadgate.analytics import service

        emit(service.report(open_engine(db), "sources", by=by), as_json, csv_file, chart)

    @report.command("deciles")
    @handle_errors
    def deciles(
        score: Annotated[str, typer.Option("--score", help="score, fit or engagement.")] = "score",
        db: DbOpt = None,
        as_json: JsonOpt = False,
        csv_file: CsvOpt = None,
        chart: ChartOpt = None,
    ) -> None:
        """Score deciles against conversion: is the MQL threshold in the right place?"""
        from leadgate.analytics import service

        emit(service.report(open_engine(db), "deciles", score=score), as_json, csv_file, chart)

    @app.command("advise-threshold")
    @handle_errors
    def advise_threshold(
        mqls_per_month: Annotated[
            float | None, typer.Option("--mqls-per-month", help="Sales can take this many.")
        ] = None,
        min_sql_rate: Annotated[
            float | None, typer.Option("--min-sql-rate", help="MQL→SQL at least (0.25 = 25%).")
        ] = None,
        score: Annotated[str, typer.Option("--score", help="score, fit or engagement.")] = "score",
        db: DbOpt = None,
        as_json: JsonOpt = False,
        csv_file: CsvOpt = None,
        chart: ChartOpt = None,
    ) -> None:
        """Suggest the score threshold that meets a target, and show the trade-off curve."""
        from leadgate.analytics import service

        rep = service.report(
            open_engine(db),
            "advice",
            score=score,
            mqls_per_month=mqls_per_month,
            min_sql_rate=min_sql_rate,
        )
        emit(rep, as_json, csv_file, chart)

    @app.command("backtest")
    @handle_errors
    def backtest(
        new: Annotated[Path, typer.Argument(help="The playbook YAML to try.")],
        against: Annotated[
            str, typer.Option("--against", help="'active' or a playbook YAML file.")
        ] = "active",
        from_: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
        to: Annotated[
            str | None, typer.Option("--to", help="Day after the last (YYYY-MM-DD).")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Directory for results (JSON, CSV, charts).")
        ] = None,
        workers: Annotated[
            int | None, typer.Option("--workers", help="Processes that replay (or walk) leads.")
        ] = None,
        exact: Annotated[
            bool,
            typer.Option(
                "--exact/--set-based",
                help="Replay every lead in Python (the oracle), or compute scores set-based "
                "in DuckDB with the lifecycle in Python, checked by --verify (the default: "
                "less CPU; docs/analytics.md).",
            ),
        ] = False,
        verify: Annotated[
            int,
            typer.Option(
                "--verify", help="Leads also replayed exactly to check the result (0: none)."
            ),
        ] = 1000,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Replay history under NEW and the active playbook; compare MQLs month by month.

        The scores are computed in DuckDB and only the stage moves by the Python lifecycle;
        a sample of leads (--verify) is replayed exactly too: any disagreement fails (exit
        1). --exact replays every lead in Python (--workers processes), the oracle."""
        from leadgate.analytics import service

        if not new.is_file():
            raise BadInput(f"NEW: no such file: {new}")
        against_text = None
        if against != "active":
            if not Path(against).is_file():
                raise BadInput(f"--against: 'active' or a playbook file; no such file: {against}")
            against_text = Path(against).read_text(encoding="utf-8")
        start = service.parse_day(from_, "from")
        end = service.parse_day(to, "to")
        engine = open_engine(db)
        try:
            with Progress(
                TextColumn("replaying history"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} lead ranges"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=as_json,
            ) as bar:
                task = bar.add_task("backtest", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                res = service.backtest(
                    engine,
                    new.read_text(encoding="utf-8"),
                    against_text,
                    start,
                    end,
                    progress=progress,
                    workers=workers,
                    exact=exact,
                    verify=verify,
                )
        except KeyboardInterrupt:
            echo("interrupted: nothing saved", err=True)
            raise typer.Exit(code=130) from None
        except service.VerificationFailed as exc:
            if as_json:
                print_json({**exc.result.to_dict(), "error": str(exc)})
            echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from None
        target = out or Path("backtests") / service.stamp()
        save_backtest(res, target)
        if as_json:
            print_json({**res.to_dict(), "saved_to": str(target)})
            return
        print_backtest(res)
        m = res.meta
        if m.get("method") == "set-based":
            console.print(
                f"verified: {m['verified_leads']:,} sampled leads replayed exactly, "
                f"{m['disagreements']} disagreements"
            )
        console.print(f"saved to {target}/ (summary.json, monthly.csv, changed.csv, mqls.png)")


def _register_score_batch(app: typer.Typer) -> None:
    @app.command("score-batch")
    @handle_errors
    def score_batch(
        leads: Annotated[
            str, typer.Option("--leads", help="Leads: Parquet/CSV file (a table with postgres).")
        ],
        events: Annotated[
            str, typer.Option("--events", help="Events: Parquet/CSV file (a table with postgres).")
        ],
        out: Annotated[
            str,
            typer.Option(
                "--out", help="Parquet path (a directory with spark) or postgresql:// URL."
            ),
        ],
        engine: Annotated[
            str, typer.Option("--engine", help="duckdb, postgres or spark.")
        ] = "duckdb",
        playbook_file: Annotated[
            Path | None,
            typer.Option("--playbook", help="Playbook YAML (default: the bundled one)."),
        ] = None,
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="Score as of this day (default: now).")
        ] = None,
        source: Annotated[
            str | None, typer.Option("--source", help="postgresql:// URL holding the tables.")
        ] = None,
        out_table: Annotated[
            str, typer.Option("--out-table", help="Table written when --out is a URL.")
        ] = "lead_scores",
        candidates: Annotated[
            str | None,
            typer.Option(
                "--candidates", help="Also write the candidate MQL moments here (duckdb)."
            ),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Score every lead with the compiled playbook where the data lives (no store)."""
        import time as _time

        from leadgate.analytics import service
        from leadgate.analytics.scorebatch import score_batch as run
        from leadgate.playbook.loader import bundled_playbook, load_playbook

        if playbook_file is None:
            pb = bundled_playbook()[0]
        elif not playbook_file.is_file():
            raise BadInput(f"--playbook: no such file: {playbook_file}")
        else:
            pb = load_playbook(playbook_file.read_text(encoding="utf-8"), str(playbook_file))
        when = service.parse_day(as_of, "as-of")
        if candidates and engine != "duckdb":
            raise BadInput("--candidates: only with --engine duckdb")
        res = run(
            pb,
            engine,
            leads,
            events,
            out,
            when if when is not None else _time.time(),
            source=source,
            out_table=out_table,
            candidates=candidates,
        )
        if as_json:
            print_json(res)
            return
        console.print(f"scored {res['leads']:,} leads with {res['engine']}: {res['out']}")
        if "candidates" in res:
            c = res["candidates"]
            console.print(f"candidate MQL moments: {c['rows']:,} rows in {c['out']}")


def save_backtest(res: Any, target: Path) -> None:
    """summary.json, monthly.csv, changed.csv and a chart of MQLs per month."""
    from leadgate.analytics.charts import save_chart
    from leadgate.analytics.reports import Report

    target.mkdir(parents=True, exist_ok=True)
    (target / "summary.json").write_bytes(
        orjson.dumps(res.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    # Times in the CSV as ISO 8601 like every other file and table (the JSON keeps epochs).
    changed = [
        {k: iso(v) if k.endswith("_at") and v is not None else v for k, v in r.items()}
        for r in res.changed
    ]
    for name, rows in (("monthly.csv", res.months), ("changed.csv", changed)):
        with (target / name).open("w", newline="", encoding="utf-8") as fh:
            if rows:
                w = csvout.dict_writer(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    cols = ["month", "mqls_old", "mqls_new"]
    rep = Report(
        "backtest",
        "MQLs per month: active vs new",
        cols,
        [[m.get(c) for c in cols] for m in res.months],
        "month",
        ["mqls_old", "mqls_new"],
    )
    save_chart(rep, target / "mqls.png")


def print_backtest(res: Any) -> None:
    """The side-by-side monthly table and the totals."""
    t = table(
        "month",
        "MQLs old",
        "MQLs new",
        "→SQL old",
        "→SQL new",
        "→cust old",
        "→cust new",
        "days to MQL old",
        "days to MQL new",
        title="Backtest: active (old) vs new",
        keep=("month",),
    )
    for m in res.months:
        t.add_row(
            m["month"],
            fmt(m["mqls_old"]),
            fmt(m["mqls_new"]),
            percent(m["mql_to_sql_old"]),
            percent(m["mql_to_sql_new"]),
            percent(m["mql_to_customer_old"]),
            percent(m["mql_to_customer_new"]),
            fmt(m["median_days_to_mql_old"]),
            fmt(m["median_days_to_mql_new"]),
        )
    console.print(t)
    tot = res.totals
    console.print(
        f"MQLs: {tot['mqls_old']} → {tot['mqls_new']}; leads changed: "
        + ", ".join(f"{k} {v}" for k, v in tot["leads_changed"].items())
    )
    console.print(
        f"customers missed by new rules: {tot['customers_missed_by_new']}, caught only by new: "
        f"{tot['customers_caught_only_by_new']}, caught earlier: "
        f"{tot['customers_caught_earlier_by_new']}, later: {tot['customers_caught_later_by_new']}"
    )
