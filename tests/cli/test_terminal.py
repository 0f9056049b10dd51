"""`leadgate.textout.shown` and the CLI's console: nothing that acts on a terminal gets
through, and nothing else changes."""

from __future__ import annotations

import io
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from leadgate.cli.tables import make_console, table
from leadgate.cli.terminal import safe_text
from leadgate.textout import one_line, shown

# What a terminal obeys: C0 but tab and newline, DEL, C1, the bidirectional embeddings,
# overrides and isolates.
ACTIVE = {chr(c) for c in [*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]} | {
    chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
}


def _escape(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@given(st.text())
def test_no_active_character_gets_through_and_nothing_else_changes(text: str) -> None:
    out = shown(text)
    assert not ACTIVE & set(out)
    assert out == "".join(_escape(c) if c in ACTIVE else c for c in text)


@given(st.text())
def test_one_line_is_shown_with_tabs_and_newlines_escaped_too(text: str) -> None:
    out = one_line(text)
    assert not (ACTIVE | {"\t", "\n"}) & set(out)
    assert out == shown(text).replace("\t", "\\x09").replace("\n", "\\x0a")


@given(st.text(st.characters(blacklist_characters=sorted(ACTIVE))))
def test_text_without_them_is_unchanged(text: str) -> None:
    assert shown(text) == text


def test_each_is_written_as_its_escape() -> None:
    assert shown("a\x1b[2Jb\x07\r\x9b\x7f\u202e\t\n") == (
        "a\\x1b[2Jb\\x07\\x0d\\x9b\\x7f\\u202e\t\n"
    )
    assert unicodedata.name("\u202e") == "RIGHT-TO-LEFT OVERRIDE"


def test_the_cli_console_shows_them_in_prints_cells_and_styled_lines() -> None:
    buf = io.StringIO()
    console = make_console(file=buf)
    t = table("field", "value")
    t.add_row("job_title", "A\x1b]52;c;ZXZpbA==\x07B")
    console.print(t)
    console.print("company \x1b[2J[/b]:smile:")
    console.print(safe_text(("\x1b[8mhidden", "bold"), " tail\r"))
    out = buf.getvalue()
    assert not ACTIVE & set(out)
    assert "A\\x1b]52;c;ZXZpbA==\\x07B" in out
    assert "company \\x1b[2J[/b]:smile:" in out  # no markup, no emoji
    assert "\\x1b[8mhidden tail\\x0d" in out
