"""How the CLI prints tables: as wide as the terminal, long cells folded, rates as percentages.

A terminal of 60 columns shows `ananya.krishnamurthy@clearlighton.in` folded over
two lines of its cell rather than cut to `ananya@clearlighto…`; the same table
piped to a file or `less` is never cut at all (no terminal: no width to fit).
A rate column (`mql_to_sql`, `sql_rate`, `sla_share`) prints 0.1525 as `15.3%`;
`--json` and `--csv` keep the fraction.

Example:
    t = table("email", "stage", title="Leads")
    t.add_row("ann@acme.com", "mql")
    console.print(t)
"""

from __future__ import annotations

import os
import sys
from decimal import ROUND_HALF_UP, Decimal
from typing import IO, Any

from rich.console import Console
from rich.table import Column, Table

from leadgate.cli.terminal import DataConsole

# Without a terminal, rich would assume 80 columns and cut every wider table;
# output meant for a file or a pipe is printed in full instead.
_UNBOUNDED = 10_000


def make_console(file: IO[str] | None = None, stderr: bool = False) -> Console:
    """A Console as wide as the terminal, or unbounded when writing to a pipe or file.

    Markup and emoji codes are off: what the CLI prints is mostly the store's data (a
    job title, a company, a CSV's column, a reason typed by a rep), and with them on a
    value like `[/b]` stopped `lead show` with rich's MarkupError, `[link=...]` became a
    terminal hyperlink and `:smile:` an emoji. Styles are given as `style=` or
    `terminal.safe_text`; control characters are written out (`terminal.shown`).
    """
    stream = file or (sys.stderr if stderr else sys.stdout)
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if is_tty or os.environ.get("COLUMNS") else _UNBOUNDED
    return DataConsole(file=file, stderr=stderr, width=width, markup=False, emoji=False)


def table(*headers: str, title: str | None = None, keep: tuple[str, ...] = ()) -> Table:
    """A table whose cells fold (emails, URLs stay whole); `keep` columns never wrap."""
    # No minimum widths: rich crops the last columns when minimums exceed the terminal.
    cols = [Column(h, overflow="fold", no_wrap=h in keep) for h in headers]
    return Table(*cols, title=title)


def is_rate(column: str) -> bool:
    """Columns holding a share between 0 and 1 (conversion, SLA share)."""
    c = column.lower()
    return (
        "_to_" in c
        or c.endswith(("_rate", "_share"))
        or c.startswith(("→",))
        or c in ("rate", "conversion")
    )


def percent(v: float | None) -> str:
    """0.1525 → '15.3%' (half up, as a reader rounds); None → '–'."""
    if v is None:
        return "–"
    pct = (Decimal(str(v)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{pct}%"


def fmt(v: Any, column: str = "") -> str:
    """A cell: rates as percentages, other floats to four significant digits."""
    if v is None:
        return "–"
    if isinstance(v, int | float) and not isinstance(v, bool) and column and is_rate(column):
        return percent(float(v))
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)
