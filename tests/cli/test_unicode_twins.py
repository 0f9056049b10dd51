"""`leadgate lead import` (CSV) and `event ingest` (JSONL): the same address in NFC and in
NFD is one lead (it made two: `josé@acme.com` with a precomposed é, and `jose\u0301@acme.com`,
e and a combining acute, as a Mac's export writes it)."""

from __future__ import annotations

from pathlib import Path

import orjson

from .test_hardening import run

NFC = "jos\u00e9@acme.com"
NFD = "jose\u0301@acme.com"


def test_imports_in_either_spelling_make_one_lead(db: list[str], tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text(f"email,company\n{NFC},Acme\n", encoding="utf-8")
    assert run("lead", "import", str(csv), *db)[0] == 0
    other = tmp_path / "b.csv"
    other.write_text(f"Email,Job Title\n{NFD.upper()},CTO\n", encoding="utf-8")
    assert run("lead", "import", str(other), *db)[0] == 0
    events = tmp_path / "e.jsonl"
    events.write_text(orjson.dumps({"email": NFD.upper(), "type": "webinar_attended"}).decode())
    assert run("event", "ingest", str(events), *db)[0] == 0
    code, out, err = run("lead", "list", "--json", *db)
    assert code == 0, err
    rows = orjson.loads(out)
    assert [r["email"] for r in rows] == [NFC], rows
    code, out, err = run("lead", "show", NFD, "--json", *db)
    assert code == 0, err
    shown = orjson.loads(out)
    assert shown["attributes"]["job_title"] == "CTO" and shown["engagement"] > 0
