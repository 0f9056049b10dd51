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
from leadgate.ingest.leads_file import import_leads

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


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"email": "bob@acme.com", "type": "page\\u0000view"}', "type"),
        ('{"id": "x\\u0000", "email": "bob@acme.com", "type": "page_view"}', "id"),
        (
            '{"email": "bob@acme.com", "type": "page_view", "properties": {"u": "a\\u0000"}}',
            "properties",
        ),
        (
            '{"email": "bob@acme.com", "type": "page_view", "properties": {"\\u0000": 1}}',
            "properties",
        ),
    ],
)
def test_a_nul_character_in_an_event_is_a_reject(
    engine: Engine, tmp_path: Path, line: str, field: str
) -> None:
    # PostgreSQL keeps no NUL in text (nor \u0000 in JSONB, which the SQL scorer casts
    # properties to): the batch's INSERT failed and took the good line with it.
    path = tmp_path / "e.jsonl"
    path.write_text(GOOD + line + "\n")
    report = ingest_events(engine, path)
    assert (report.accepted, report.rejected) == (1, 1)
    assert report.errors == [f"line 2: {field}: contains a NUL character"]
    assert engine.show("ann@acme.com")["engagement"] > 0


def test_a_written_out_backslash_u0000_is_text_not_a_nul(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    line = '{"email": "bob@acme.com", "type": "page_view", "properties": {"u": "C:\\\\u0000"}}'
    path.write_text(line + "\n")
    report = ingest_events(engine, path)
    assert (report.accepted, report.rejected) == (1, 0), report.errors


def test_a_nul_in_an_event_csv_is_a_reject(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "email,type,url\nann@acme.com,webinar_attended,/a\nbob@acme.com,page\x00view,/b\n"
        "cy@acme.com,page_view,/c\x00\n"
    )
    report = ingest_events(engine, path)
    assert (report.accepted, report.rejected) == (1, 2)
    assert report.errors == [
        "line 3: type: contains a NUL character",
        "line 4: properties: contains a NUL character",
    ]


def test_a_nul_in_a_lead_csv_skips_that_value_and_the_lead_lands(
    engine: Engine, tmp_path: Path
) -> None:
    # The lead's attributes went to PostgreSQL as JSON holding \u0000, which its JSONB
    # cast refused, and the record id to a text column: the import stopped there.
    path = tmp_path / "l.csv"
    path.write_text(
        "email,company,country,record id\n"
        "ann@acme.com,Acme,DE,r1\n"
        "bob@acme.com,Bo\x00b,D\x00E,r\x002\n"
    )
    report = import_leads(engine, path)
    assert (report.accepted, report.rejected, report.created) == (2, 0, 2)
    assert report.skipped == [
        "line 3: record id: contains a NUL character",
        "line 3: company: contains a NUL character",
        "line 3: country: contains a NUL character",
    ]
    assert engine.show("bob@acme.com")["attributes"] == {}
    assert engine.show("ann@acme.com")["attributes"] == {"company": "Acme", "country": "DE"}


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("Number of Employees", "9" * 400),
        ("Annual Revenue", "9" * 400),
        ("Number of Employees", "1-" + "9" * 400),
        ("Annual Revenue", "9" * 300 + " Mrd"),
    ],
)
def test_a_number_too_large_for_a_float_is_skipped_not_stored_as_infinity(
    engine: Engine, tmp_path: Path, column: str, value: str
) -> None:
    # float('9' * 400) is inf: a company size stopped the import (int(inf)), a revenue
    # was kept as infinity in memory and written as null, and no report said so.
    path = tmp_path / "l.csv"
    path.write_text(f"email,{column}\nann@acme.com,12\nbob@acme.com,{value}\n")
    report = import_leads(engine, path)
    assert (report.accepted, report.created) == (2, 2)
    # (A size band "1-999…" names the half that is too large.)
    (skipped,) = report.skipped
    assert skipped.startswith(f"line 3: {column}: '") and skipped.endswith(
        "' is too large a number"
    )
    assert engine.show("bob@acme.com")["attributes"] == {}
