"""What the CLI writes to a terminal: the store's data is shown, never obeyed.

Lead fields, reasons, CSV cells and form answers come from people outside the team (a
prospect fills the form; a vendor's CSV is imported). Printed as they are, an escape
sequence in a job title would act on the rep's terminal: `ESC ] 52` writes the
clipboard, `ESC [ 2 J` clears the screen, `ESC ] 8` makes a link whose text lies about
its target, a carriage return or backspaces overwrite what was printed before, and a
right-to-left override (U+202E) reorders what follows. So every line the CLI prints
goes through `shown`: the C0 and C1 control characters but tab and newline, DEL and the
bidirectional overrides are written out as escapes (`\\x1b`, `\\x0d`, `\\u202e`). The
text stays readable and nothing in it is lost; `--json` output is JSON, where control
characters are escaped already.

Rich's own styles are not touched: they are added after the text is made safe.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.text import Text

_TAB, _NEWLINE = 0x09, 0x0A
_CONTROLS = [c for c in range(0x20) if c not in (_TAB, _NEWLINE)] + list(range(0x7F, 0xA0))
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPED = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _BIDI}


def shown(text: str) -> str:
    """`text` with every character that would act on a terminal written out visibly."""
    # Most text has none: the translation (a dict lookup per character) only runs when
    # one might be there.
    if text.isprintable():
        return text
    return text.translate(_ESCAPED)


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
