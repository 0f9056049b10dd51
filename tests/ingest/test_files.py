"""File import: bad lines are reported by number and rejected; the rest land; re-runs are no-ops."""

from __future__ import annotations

from pathlib import Path

import orjson

from leadgate.engine.engine import Engine
from leadgate.ingest.files import ingest_events
from leadgate.ingest.leads_file import import_leads


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rejects(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_text().splitlines()]


def test_crm_export_headers_and_bad_rows(engine: Engine, tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "contacts.csv",
        "Email,First Name,Company,Job Title,Number of Employees,Country,Phone Number\n"
        "ann@acme.com,Ann,Acme,VP Sales,200,de,030 1234567\n"
        "not-an-email,Bob,Bobco,CTO,10,US,\n"
        "cy@corp.io,Cy,Corp,Engineer,lots,US,\n"
        "ANN@acme.com ,Ann,Acme,VP Sales,200,DE,\n"
        "dee@corp.io,Dee,Corp,CEO,51-200,GB,+44 20 7946 0958\n",
    )
    report = import_leads(engine, csv_path)
    # Only the bad email rejects its row; "lots" employees is skipped and Cy lands.
    assert (report.read, report.accepted, report.rejected) == (5, 4, 1)
    assert report.created == 3 and report.values_skipped == 1
    assert any("line 5" in w and "same lead as" in w for w in report.warnings)
    bad = rejects(Path(report.rejects_path or ""))
    assert [(r["line"], str(r["error"]).split(":")[0]) for r in bad[:1]] == [(3, "email")]
    assert bad[1] == {
        "line": 4,
        "column": "Number of Employees",
        "error": "'lots' is not a number",
        "value": "lots",
        "skipped": True,
    }
    assert "company_size" not in engine.show("cy@corp.io")["attributes"]
    ann = engine.show("ann@acme.com")
    assert ann["attributes"]["job_title"] == "VP Sales"
    assert ann["attributes"]["company_size"] == 200
    assert ann["attributes"]["country"] == "DE"
    assert ann["attributes"]["phone"] == "+49301234567"
    assert engine.show("dee@corp.io")["attributes"]["company_size"] == 125
    again = import_leads(engine, csv_path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_semicolon_csv_non_utf8_line_and_mixed_delimiters(engine: Engine, tmp_path: Path) -> None:
    data = (
        b"email;company\n"
        b"a@x.io;Alpha\n"
        b"b@x.io;Caf\xe9 Latin-1\n"
        b"c@x.io,Gamma\n"
        b"d@x.io;Delta;extra\n"
        b"e@x.io;Epsilon\n"
        b"z@x.io;Zo\xc3\xab\n"  # UTF-8: the file is UTF-8 with one damaged line
    )
    report = import_leads(engine, write(tmp_path / "semi.csv", data))
    assert report.accepted == 3
    assert engine.show("z@x.io")["attributes"]["company"] == "Zoë"
    errors = "\n".join(report.errors)
    assert "line 3: not UTF-8" in errors
    assert "line 4: expected 2 fields" in errors
    assert "line 5: expected 2 fields" in errors


def test_jsonl_events_with_bad_lines(engine: Engine, tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    lines = [
        {
            "id": "1",
            "email": "a@x.io",
            "type": "webinar_attended",
            "occurred_at": "2026-05-01T10:00:00Z",
        },
        {"id": "2", "email": "", "type": "webinar_attended"},
        {"id": "3", "email": "a@x.io", "type": "webinar_attended", "occurred_at": "yesterday-ish"},
        {
            "id": "4",
            "email": "a@x.io",
            "type": "webinar_attended",
            "occurred_at": "2099-01-01T00:00:00Z",
        },
        {
            "id": "5",
            "email": "a@x.io",
            "type": "whitepaper_download",
            "properties": {"blob": "x" * 10_000_000},
        },
        {"id": "6", "email": "A@X.io", "type": "whitepaper_download", "occurred_at": "2026-05-02"},
    ]
    text = "\n".join(orjson.dumps(x).decode() for x in lines) + "\n{not json\n"
    path = write(tmp_path / "events.jsonl", text)
    report = ingest_events(engine, path)
    assert (report.read, report.accepted, report.rejected) == (7, 2, 5)
    msgs = dict(e.split(": ", 1) for e in report.errors)
    assert msgs["line 2"].startswith("email: missing")
    assert msgs["line 3"].startswith("occurred_at: 'yesterday-ish' is not a date")
    assert "is in the future" in msgs["line 4"]
    assert "MB is over the 64 KB limit" in msgs["line 5"]
    assert msgs["line 7"].startswith("not valid JSON")
    again = ingest_events(engine, path)
    assert (again.accepted, again.duplicates) == (0, 2)
    assert len(engine.show("a@x.io")["recent_events"]) == 2


def test_csv_events(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path / "ev.csv",
        "event_id,email,event_type,timestamp,url\n"
        "p1,a@x.io,page_view,2026-05-01T10:00:00Z,/pricing\n"
        "p2,a@x.io,page_view,2026-05-01T11:00:00Z,/blog\n",
    )
    report = ingest_events(engine, path)
    assert report.accepted == 2
    lead = engine.show("a@x.io")
    assert lead["recent_events"][0]["properties"] == {"url": "/blog"}
    assert [e["rule"] for e in lead["explanation"] if e["score"] == "engagement"] == [
        "page_view (url contains /pricing)"
    ]


def test_progress_adds_up_to_the_file_size(engine: Engine, tmp_path: Path) -> None:
    """The bar hears from the readers in steps, and the steps add up to the whole file."""
    lines = [
        orjson.dumps({"id": f"e{i}", "email": f"p{i % 7}@x.io", "type": "page_view"})
        for i in range(2500)
    ]
    jsonl = write(tmp_path / "ev.jsonl", b"\n".join(lines) + b"\n\n")
    seen: list[int] = []
    ingest_events(engine, jsonl, progress=seen.append)
    assert sum(seen) == jsonl.stat().st_size
    assert 1 < len(seen) < 100
    rows = "".join(f"p{i}@x.io,Acme {i}\n" for i in range(2500))
    csv_path = write(tmp_path / "leads.csv", "email,company\n" + rows)
    seen.clear()
    import_leads(engine, csv_path, progress=seen.append)
    assert sum(seen) == csv_path.stat().st_size
    assert 1 < len(seen) < 100


BOM = b"\xef\xbb\xbf"


def test_a_byte_order_mark_loses_no_line(engine: Engine, tmp_path: Path) -> None:
    # Excel and Notepad save "UTF-8" with a BOM: the first line must land like the rest.
    events = [
        {"id": "b1", "email": "a@x.io", "type": "page_view"},
        {"id": "b2", "email": "b@x.io", "type": "page_view"},
    ]
    jsonl = write(tmp_path / "bom.jsonl", BOM + b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    report = ingest_events(engine, jsonl)
    assert (report.read, report.accepted, report.rejected) == (2, 2, 0), report.errors
    ev_csv = write(
        tmp_path / "bom-events.csv",
        BOM + b"id,email,type\nc1,c@x.io,page_view\nc2,d@x.io,page_view\n",
    )
    report = ingest_events(engine, ev_csv)
    assert (report.accepted, report.rejected) == (2, 0), report.errors
    leads_csv = write(tmp_path / "bom-leads.csv", BOM + b"Email,Company\ne@x.io,Eco\nf@x.io,Fco\n")
    report = import_leads(engine, leads_csv)
    assert (report.created, report.rejected) == (2, 0), report.errors
    assert engine.show("e@x.io")["attributes"]["company"] == "Eco"
    # A BOM anywhere else is data, not a marker: that line is rejected, by number.
    mid = write(tmp_path / "mid.jsonl", orjson.dumps(events[0]) + b"\n" + BOM + b"{}\n")
    report = ingest_events(engine, mid)
    assert report.rejected == 1 and report.errors[0].startswith("line 2: ")


def test_two_columns_of_one_field_keep_the_first_value_given(
    engine: Engine, tmp_path: Path
) -> None:
    # Salesforce exports both `Phone` and `Mobile Phone`: the last column won, so every
    # lead with an empty mobile lost its phone, and a row whose `E-mail` was empty was
    # rejected though its `Email` held the address. Now a row's first non-empty value
    # counts, and the report says which columns were read as one.
    csv_path = write(
        tmp_path / "sf.csv",
        "Email,Phone,Mobile Phone,E-mail\n"
        "ann@acme.com,+49 30 1234567,,\n"
        "bob@acme.com,,+44 20 7946 0958,bob@acme.com\n"
        ",+1 212 555 0100,,cy@acme.com\n",
    )
    report = import_leads(engine, csv_path)
    assert (report.accepted, report.rejected) == (3, 0)
    assert engine.show("ann@acme.com")["attributes"]["phone"] == "+49301234567"
    assert engine.show("bob@acme.com")["attributes"]["phone"] == "+442079460958"
    assert engine.show("cy@acme.com")["attributes"]["phone"] == "+12125550100"
    assert report.warnings == [
        "columns 'Email' and 'E-mail' are both read as email, 'Phone' and 'Mobile Phone' "
        "both as phone: each row's first non-empty value is used"
    ]

    events = write(
        tmp_path / "ev.csv",
        "email,type,event,url\nann@acme.com,,page_view,/pricing\nbob@acme.com,webinar_attended,,\n",
    )
    # An event CSV's `type` and `event` columns: the same rule.
    report = ingest_events(engine, events)
    assert (report.accepted, report.rejected) == (2, 0), report.errors


def test_a_number_too_large_for_a_double_is_skipped_and_its_row_lands(
    engine: Engine, tmp_path: Path
) -> None:
    # 400 digits is more than a double holds: once an OverflowError that stopped the
    # whole import with a traceback, nothing landed.
    huge = "9" * 400
    csv_path = write(
        tmp_path / "leads.csv",
        f"email,company_size,annual_revenue\na@acme.com,{huge},5\nb@acme.com,5,{huge}\n"
        "c@acme.com,5,5\n",
    )
    report = import_leads(engine, csv_path)
    assert (report.accepted, report.rejected, report.values_skipped) == (3, 0, 2)
    skipped = rejects(Path(report.rejects_path or ""))
    assert [(r["line"], r["column"], r["skipped"]) for r in skipped] == [
        (2, "company_size", True),
        (3, "annual_revenue", True),
    ]
    assert "too large" in str(skipped[0]["error"])
    assert "company_size" not in engine.show("a@acme.com")["attributes"]
    assert engine.show("b@acme.com")["attributes"]["company_size"] == 5
