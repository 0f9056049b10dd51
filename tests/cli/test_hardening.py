"""Hostile input over the CLI: imports that land nothing, CSV cells that are formulas.

Each case is a bug a user met: an import where every row was rejected exited 0 (a
nightly script saw success), and a lead named `=HYPERLINK(...)` became a live formula
in the spreadsheet that opened a report.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def db(sqlite_url: str) -> list[str]:
    assert run("init", "--db", sqlite_url)[0] == 0
    return ["--db", sqlite_url]


# -- 5. an import that lands nothing ---------------------------------------------------


def test_an_import_where_every_row_is_rejected_exits_1(db: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("email,company\nnot-an-email,A\nalso bad,B\n")
    code, out, err = run("lead", "import", str(bad), *db)
    assert code == 1, (out, err)
    assert "nothing imported: 2 of 2 rows rejected" in err
    code, out, err = run("lead", "import", str(bad), "--json", *db)
    assert code == 1
    assert orjson.loads(out)["rejected"] == 2  # the report is still printed

    events = tmp_path / "bad.jsonl"
    events.write_text('{"email": "", "type": "page_view"}\n{nope\n')
    code, out, err = run("event", "ingest", str(events), *db)
    assert code == 1, (out, err)
    assert "nothing imported: 2 of 2 lines rejected" in err


def test_partial_imports_and_reimports_still_exit_0(db: list[str], tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("email,company\nann@acme.com,Acme\nnot-an-email,B\n")
    assert run("lead", "import", str(mixed), *db)[0] == 0
    events = tmp_path / "ev.jsonl"
    events.write_text('{"id": "e1", "email": "ann@acme.com", "type": "page_view"}\n{nope\n')
    assert run("event", "ingest", str(events), *db)[0] == 0
    # Again: the good line is a duplicate now (already stored), which is not a failure.
    assert run("event", "ingest", str(events), *db)[0] == 0
    empty = tmp_path / "empty.csv"
    empty.write_text("email,company\n")
    assert run("lead", "import", str(empty), *db)[0] == 0
