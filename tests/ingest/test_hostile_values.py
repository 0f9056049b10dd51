"""Absurd values inside well-formed files: each is a reject (or a skipped value) naming
its line and field, and every good line of the same file lands, on SQLite and PostgreSQL.

Each case is a file that once stopped an import with a traceback, losing the good lines
read with it, or stored something other than what the file said.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.files import ingest_events

GOOD = '{"id": "good", "email": "ann@acme.com", "type": "webinar_attended"}\n'


def _rejects(path: str | None) -> list[dict[str, object]]:
    assert path is not None
    return [orjson.loads(line) for line in Path(path).read_text().splitlines()]


def test_properties_nested_too_deep_are_a_reject_and_the_good_lines_land(
    engine: Engine, tmp_path: Path
) -> None:
    # orjson reads 1024 levels but writes 254: the line parsed, and writing it back
    # (for the rejects file) raised, ending the import with the good line unstored.
    deep = '{"a": ' * 300 + "1" + "}" * 300
    path = tmp_path / "deep.jsonl"
    line = '{"id": "deep", "email": "bob@acme.com", "type": "page_view", "properties": '
    path.write_text(GOOD + line + deep + "}\n")
    report = ingest_events(engine, path)
    assert (report.read, report.accepted, report.rejected) == (2, 1, 1)
    (bad,) = _rejects(report.rejects_path)
    assert bad["line"] == 2 and str(bad["error"]).startswith("properties: ")
    assert "nested" in str(bad["error"])
    assert engine.show("ann@acme.com")["engagement"] > 0


@pytest.mark.parametrize("line", ['"ann@acme.com"', '"nothing imported"', "[1, 2]", "42", "null"])
def test_a_line_that_is_json_but_not_an_object_says_so(
    engine: Engine, tmp_path: Path, line: str
) -> None:
    # A JSON string on its own line was taken for the reader's own error message: the
    # reject said `"ann@acme.com"` and the rejects file lost the line.
    path = tmp_path / "e.jsonl"
    path.write_text(GOOD + line + "\n")
    report = ingest_events(engine, path)
    assert (report.accepted, report.rejected) == (1, 1)
    assert report.errors == ["line 2: event: must be a JSON object"]
    assert _rejects(report.rejects_path)[0]["raw"] == line
