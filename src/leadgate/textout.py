"""Text written for a person to read, on a terminal or in a log: shown, never obeyed.

Lead fields, reasons, CSV cells, form answers and request paths come from people outside
the team. Written as they are, an escape sequence would act on whoever reads them in a
terminal (`ESC ] 52` writes the clipboard, `ESC [ 2 J` clears the screen, `ESC ] 8`
makes a link whose text lies about its target), a carriage return or backspaces print
over what came before, a line feed in a logged path forges a log line of its own, and a
right-to-left override (U+202E) reorders what follows. `shown` writes the C0 and C1
control characters (all but tab and newline), DEL and the bidirectional embeddings,
overrides and isolates as escapes (`\\x1b`, `\\x0d`, `\\u202e`): the text stays readable
and nothing in it is lost. Used by the CLI's output (`leadgate.cli.terminal`) and the
server's access log (where a newline is escaped too: one request, one line).
"""

from __future__ import annotations

_TAB, _NEWLINE = 0x09, 0x0A
_CONTROLS = [c for c in range(0x20) if c not in (_TAB, _NEWLINE)] + list(range(0x7F, 0xA0))
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPED = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _BIDI}
_ONE_LINE = _ESCAPED | {c: f"\\x{c:02x}" for c in (_TAB, _NEWLINE)}


def shown(text: str) -> str:
    """`text` with every character that would act on a terminal written out visibly."""
    # Most text has none: the translation (a dict lookup per character) only runs when
    # one might be there.
    if text.isprintable():
        return text
    return text.translate(_ESCAPED)


def one_line(text: str) -> str:
    """`shown`, with tabs and line feeds escaped too: for a line of a log."""
    if text.isprintable():
        return text
    return text.translate(_ONE_LINE)
