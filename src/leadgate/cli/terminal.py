"""What the CLI writes to a terminal: the store's data is shown, never obeyed.

Every line the CLI prints goes through `leadgate.textout.shown` (why: see there): plain
lines by `echo`, rich output by `DataConsole` (a print's strings, a table's cells) and
`safe_text` (a styled line that carries data). `--json` output is JSON, where control
characters are escaped by the format. Rich's own styles are not touched: they are added
after the text is made safe.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from leadgate.textout import shown


def echo(message: str = "", err: bool = False) -> None:
    """`typer.echo` for a line that may carry data."""
    typer.echo(shown(message), err=err)


class DataConsole(Console):
    """A rich Console whose strings (a print's, a table cell's) are `shown` first."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(shown(text), **kwargs)


def safe_text(*parts: str | tuple[str, str]) -> Text:
    """`Text.assemble` with each piece `shown`: a styled line that carries data."""
    return Text.assemble(
        *((shown(p[0]), p[1]) if isinstance(p, tuple) else shown(p) for p in parts)
    )
