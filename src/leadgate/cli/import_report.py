"""What `lead import` and `event ingest` print: a progress bar while a file is read, then
the import's decisions (encoding, delimiter, each typed column's format, what a CRM
export brought) and its counts, or the same as JSON; exit 1 when nothing landed.

Example: `leadgate lead import contacts.csv` prints `read as utf-8 (valid UTF-8),
comma-separated`, then `2 rows: 2 leads created, 0 updated, 0 unchanged, 0 rejected`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from leadgate.cli.common import console, print_json
from leadgate.cli.errors import BadInput
from leadgate.cli.terminal import echo
from leadgate.ingest.files import ImportReport, report_of


def with_progress(
    path: Path,
    as_json: bool,
    run: Callable[[Callable[[int], None]], ImportReport],
    what: str = "leads",
) -> ImportReport:
    """`run` the import with a progress bar. An import stopped part-way (Ctrl-C, a full
    or busy store) says what it had stored and how to finish: Ctrl-C exits 130, a store
    error goes on to its one-line message (exit 2)."""
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task(path.name, total=path.stat().st_size)
            return run(lambda n: bar.advance(task, n))
    except BaseException as exc:
        report = report_of(exc)
        if report is None:
            raise
        interrupted = isinstance(exc, KeyboardInterrupt)
        if as_json:
            print_json({**report.as_dict(), "stopped": "interrupted" if interrupted else "error"})
        echo(_stopped_line(report, what, interrupted), err=True)
        if interrupted:
            raise typer.Exit(code=130) from None
        raise


def _stopped_line(report: ImportReport, what: str, interrupted: bool) -> str:
    """Where a stopped import ended, what it stored, and that running it again finishes."""
    why = "interrupted" if interrupted else "stopped"
    through = (
        f"the file is stored up to line {report.stored_through:,}"
        if report.stored_through
        else "nothing of the file was stored"
    )
    if what == "leads":
        done = (
            f"{report.created:,} leads created, {report.updated:,} updated, "
            f"{report.unchanged:,} unchanged"
        )
        again = "the same import again completes it (stored rows are matched, not added twice)"
    else:
        done = f"{report.accepted:,} events stored"
        again = (
            "the same import again stores the rest (an event with an id or an occurred_at "
            "is not stored twice; one with neither would be)"
        )
    return f"{why} after {report.read:,} lines read: {done}; {through}; {again}"


def print_report(report: ImportReport, as_json: bool, what: str) -> None:
    if as_json:
        print_json(report.as_dict())
        _fail_if_nothing_landed(report, what)
        return
    for w in report.warnings[:20]:
        echo(f"warning: {w}", err=True)
    for e in report.errors[:20]:
        echo(f"rejected: {e}", err=True)
    if report.rejected > 20:
        echo(f"... and {report.rejected - 20} more rejected lines", err=True)
    if what == "leads":
        for line in _decision_lines(report):
            echo(line)
        for s in report.skipped[:20]:
            echo(f"skipped value: {s}", err=True)
        if report.values_skipped > 20:
            echo(f"... and {report.values_skipped - 20} more skipped values", err=True)
        echo(
            f"{report.read} rows: {report.created} leads created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.rejected} rejected"
            + (f", {report.values_skipped} values skipped" if report.values_skipped else "")
        )
    else:
        echo(
            f"{report.read} lines: {report.accepted} events accepted, {report.duplicates} "
            f"duplicates (already stored), {report.rejected} rejected"
        )
    if report.rejects_path:
        kinds = "rejected lines" + (" and skipped values" if report.values_skipped else "")
        echo(f"{kinds} written to {report.rejects_path}")
    _fail_if_nothing_landed(report, what)


def _decision_lines(report: ImportReport) -> list[str]:
    """The import's decisions, one line each: how the file was read, each typed column's
    format and what decided it, what a CRM export brought."""
    d = report.decisions
    if not d:
        return []
    delim = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(d["delimiter"])
    out = [f"read as {d['encoding']} ({d['encoding_why']}), {delim}-separated"]
    for column, c in d.get("columns", {}).items():
        if c.get("date_order"):
            out.append(f"  {column}: dates {c['date_order']} ({c['why']})")
        elif c.get("kind") == "date":
            out.append(f"  {column}: dates need no order ({c['why']})")
        elif c.get("decimal"):
            out.append(f"  {column}: decimal mark '{c['decimal']}' ({c['why']})")
    if d.get("ignored_columns"):
        out.append("  not fields (leadgate computes them): " + ", ".join(d["ignored_columns"]))
    crm = report.crm
    if crm:
        stages = ", ".join(f"{k} {v}" for k, v in sorted(crm["stages"].items()))
        out.append(
            f"source {crm['system']}: "
            + (f"stages in the file: {stages}; " if stages else "")
            + f"{crm['stages_imported']} stage moves made, "
            + f"{crm['owners_assigned']} owners assigned"
        )
        for name, n in crm["unknown_owners"].items():
            out.append(f"  unknown owner '{name}' ({n} rows): no rep matches; left to routing")
        for value, n in crm["unknown_stage_values"].items():
            out.append(f"  stage value '{value}' ({n} rows) not mapped: the rules decide")
    return out


def _fail_if_nothing_landed(report: ImportReport, what: str) -> None:
    """Exit 1 when rows were rejected and none landed: a script must not read an import
    that stored nothing as a success. (Only duplicates of stored events is not a failure.)"""
    landed = report.accepted + (report.duplicates if what == "events" else 0)
    if report.rejected and not landed:
        unit = "rows" if what == "leads" else "lines"
        where = f" (see {report.rejects_path})" if report.rejects_path else ""
        echo(
            f"error: nothing imported: {report.rejected} of {report.read} {unit} rejected, "
            f"0 accepted{where}",
            err=True,
        )
        raise typer.Exit(code=1)
