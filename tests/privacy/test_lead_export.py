"""`leadgate lead export` / GET /leads/export: every lead out, streamed, in three
formats, and an importable CSV that comes back the same."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.engine.engine import Engine
from leadgate.export.leads import ExportFilter, export_leads
from leadgate.ingest.validate import parse_event
from leadgate.store.database import Database

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def _store(url: str, nasty: bool = True) -> None:
    assert run("init", "--db", url)[0] == 0
    eng = Engine(Database(url))
    eng.upsert_leads(
        [
            (
                f"p{i}@co{i % 7}.com",
                {
                    "first_name": f"Name{i}",
                    "company": f'Acme "Best" {i}, Inc' if nasty else f"Acme {i}",
                    "job_title": "VP Marketing" if i % 3 == 0 else "Engineer",
                    "company_size": 40 + i,
                    "country": ["US", "DE", "GB"][i % 3],
                    "note": "=cmd|' /C calc'!A0" if i == 5 else "multi\nline" if nasty else "x",
                },
                1_770_000_000.0 + i * 3600,
            )
            for i in range(25)
        ]
    )
    eng.ingest(
        [parse_event({"email": "p0@co0.com", "type": "demo_request", "id": "d0"}, eng.clock())]
    )


def test_every_format_holds_every_lead_with_attributes_and_scores(db_url: str) -> None:
    sqlite_url = db_url  # both backends
    _store(sqlite_url)
    db = Database(sqlite_url)
    buf = io.StringIO()
    # A chunk smaller than the store: the keyset pages must join up exactly.
    assert export_leads(db, buf, "jsonl", chunk=4) == 25
    rows = [orjson.loads(line) for line in buf.getvalue().splitlines()]
    assert len({r["id"] for r in rows}) == 25
    top = next(r for r in rows if r["email"] == "p0@co0.com")
    assert top["stage"] == "mql" and top["score"] > 0 and top["grade"]
    assert top["attributes"]["company"] == 'Acme "Best" 0, Inc'
    code, out, err = run("lead", "export", "--db", sqlite_url)
    assert code == 0, err
    import csv

    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 25
    assert {"email", "score", "stage", "owner", "predicted", "company", "job_title"} <= set(
        table[0]
    )
    # Formulas are neutralised like every CSV leadgate writes.
    assert next(r for r in table if r["email"] == "p5@co5.com")["note"].startswith("'=")
    code, out, _ = run("lead", "export", "--db", sqlite_url, "--stage", "mql", "--format", "jsonl")
    assert [orjson.loads(x)["email"] for x in out.splitlines()] == ["p0@co0.com"]
    pq_buf = io.BytesIO()
    assert export_leads(db, pq_buf, "parquet", ExportFilter(), chunk=4) == 25
    t = pq.read_table(io.BytesIO(pq_buf.getvalue()))
    assert t.num_rows == 25
    assert pq.ParquetFile(io.BytesIO(pq_buf.getvalue())).num_row_groups >= 6
    assert "score" in t.column_names and "attributes" in t.column_names


def test_bad_flags_are_one_line_errors(sqlite_url: str) -> None:
    _store(sqlite_url)
    code, _, err = run("lead", "export", "--db", sqlite_url, "--format", "xml")
    assert code == 2 and "--format" in err
    code, _, err = run("lead", "export", "--db", sqlite_url, "--since", "yesterday")
    assert code == 2 and "since" in err


@pytest.mark.parametrize(
    "nasty",
    [
        False,
        True,
    ],
)
def test_export_import_export_gives_the_same_file(
    sqlite_url: str, tmp_path: Path, nasty: bool
) -> None:
    _store(sqlite_url, nasty)
    first = tmp_path / "first.csv"
    code, _, err = run("lead", "export", "--importable", "--db", sqlite_url, "--out", str(first))
    assert code == 0, err
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    assert run("init", "--db", empty)[0] == 0
    code, out, err = run("lead", "import", str(first), "--db", empty)
    assert code == 0, err + out
    second = tmp_path / "second.csv"
    assert run("lead", "export", "--importable", "--db", empty, "--out", str(second))[0] == 0
    assert second.read_text() == first.read_text()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_api_streams_the_export(fmt: str, sqlite_url: str) -> None:
    from fastapi.testclient import TestClient

    from leadgate.api import create_app
    from leadgate.keys import create_key

    _store(sqlite_url)
    db = Database(sqlite_url)
    key = create_key(db, "marketing", "m")[1]
    with TestClient(create_app(engine=Engine(db))) as client:
        r = client.get(
            f"/api/v1/leads/export?format={fmt}&stage=lead",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200, r.text
        if fmt == "jsonl":
            assert len(r.text.splitlines()) == 24
        elif fmt == "csv":
            import csv

            assert len(list(csv.DictReader(io.StringIO(r.text)))) == 24
        else:
            assert pq.read_table(io.BytesIO(r.content)).num_rows == 24
        bad = client.get(
            "/api/v1/leads/export?format=xml", headers={"Authorization": f"Bearer {key}"}
        )
        assert bad.status_code in (400, 422)
        assert bad.headers["content-type"].startswith("application/problem+json")
