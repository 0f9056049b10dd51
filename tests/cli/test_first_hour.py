"""A newcomer's first hour (issue 19): what the user sees on the command line.

Each test runs the command as a user would and checks the printed text, the
exit code, or the files written.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from leadgate.cli.main import app
from leadgate.cli.tables import fmt, is_rate, table

from .firsthour import run, runner

LONG = "ananya.krishnamurthy-venkataraman@clearlighton-consulting.example.com"


def column(text: str, index: int) -> str:
    """The text of one table column, folded lines joined."""
    return "".join(
        line.split("│")[index].strip() for line in text.splitlines() if line.count("│") > index
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    r = runner.invoke(app, ["--db", url, "demo", "--leads", "300", "--events", "3000"])
    assert r.exit_code == 0, r.output
    return ["--db", url]


# 1. tables fit the terminal and never cut a cell


def test_piped_table_shows_long_emails_whole(db: list[str]) -> None:
    assert run("lead", "add", "--email", LONG, *db)[0] == 0
    code, out, _ = run("lead", "list", *db)
    assert code == 0
    assert LONG in out
    assert "…" not in out


def test_narrow_terminal_folds_cells_instead_of_cutting() -> None:
    buf = io.StringIO()
    t = table("email", "stage", "grade", "fit", "engagement", "score", "since")
    t.add_row(LONG, "nurture", "B1", "45", "72.92", "117.92", "2026-11-13T16:12:26Z")
    Console(file=buf, width=60).print(t)
    text = buf.getvalue()
    assert {len(line) for line in text.splitlines()} == {60}
    assert "…" not in text
    assert column(text, 1) == LONG
    assert column(text, 7) == "2026-11-13T16:12:26Z"


def test_webhook_urls_and_key_tables_are_whole(
    db: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # hooks.example.com cannot be resolved here (no network): the intranet switch lets
    # the URL through unresolved.
    monkeypatch.setenv("LEADGATE_ALLOW_PRIVATE_WEBHOOKS", "1")
    url = "https://hooks.example.com/services/T0000/B0000/a-long-webhook-path-that-goes-on"
    assert run("webhooks", "add", url, "--events", "lead.stage_changed", *db)[0] == 0
    code, out, _ = run("webhooks", "list", *db)
    assert code == 0 and url in out
    assert (
        run(
            "keys",
            "create",
            "--role",
            "ingest",
            "--name",
            "a-rather-long-integration-key-name",
            *db,
        )[0]
        == 0
    )
    code, out, _ = run("keys", "list", *db)
    assert (
        code == 0
        and "a-rather-long-integration-key-name" in out
        and "…" not in out.replace("_…", "")
    )


# 2. rates as percentages in tables, fractions in JSON


def test_rate_columns_print_as_percentages() -> None:
    assert fmt(0.1525, "mql_to_sql") == "15.3%"
    assert fmt(0.05, "sla_share") == "5.0%"
    assert fmt(None, "sql_rate") == "–"
    assert fmt(0.1525, "threshold") == "0.1525"
    assert not is_rate("mqls_per_month")


def test_report_tables_show_percent_and_json_keeps_fractions(demo_db: list[str]) -> None:
    code, out, _ = run("report", "deciles", *demo_db)
    assert code == 0 and "%" in out
    code, out, _ = run("report", "deciles", "--json", *demo_db)
    rates = [r["mql_rate"] for r in orjson.loads(out)["rows"] if r["mql_rate"] is not None]
    assert rates and all(0 <= r <= 1 for r in rates)
    code, out, _ = run("report", "sla", *demo_db)
    assert code == 0
    share = next(line for line in out.splitlines() if line.startswith("sla_share"))
    assert share.endswith("%")


# 3. report funnel writes --csv and --chart


def test_report_funnel_csv_and_chart(demo_db: list[str], tmp_path: Path) -> None:
    csv_file, chart = tmp_path / "funnel.csv", tmp_path / "funnel.png"
    code, out, _ = run("report", "funnel", "--csv", str(csv_file), "--chart", str(chart), *demo_db)
    assert code == 0, out
    rows = list(csv.DictReader(csv_file.open(encoding="utf-8")))
    assert [r["stage"] for r in rows][:6] == ["lead", "mql", "sal", "sql", "sqo", "customer"]
    data = orjson.loads(run("report", "funnel", "--json", *demo_db)[1])
    assert int(rows[0]["ever_reached"]) == data["total_leads"]
    assert float(rows[1]["conversion_from_previous"]) == data["conversion"][0]["rate"]
    assert chart.read_bytes()[:4] == b"\x89PNG"
    code, _, err = run("report", "funnel", "--chart", str(tmp_path / "f.gif"), *demo_db)
    assert code == 2 and "--chart" in err


# 4. advise-threshold: a sentence, no raw JSON


def test_advise_threshold_prints_words_not_json(demo_db: list[str]) -> None:
    code, out, _ = run("advise-threshold", "--mqls-per-month", "5", *demo_db)
    assert code == 0
    assert "{" not in out
    line = next(x for x in out.splitlines() if x.startswith("advice:"))
    assert "MQLs per month" in line and "%" in line
    data = orjson.loads(run("advise-threshold", "--mqls-per-month", "5", "--json", *demo_db)[1])
    assert 0 <= data["advice"]["at_threshold"]["mql_to_sql"] <= 1


# 5. operator names: suggest ours, list them all; regex errors as written


def _check(tmp_path: Path, cond: str) -> tuple[int, str]:
    bad = tmp_path / "playbook.yaml"
    bad.write_text(f"name: x\nfit:\n  rules:\n    - {{name: a, if: {cond}, points: 1}}\n")
    code, _, err = run("playbook", "check", str(bad))
    return code, err


def test_equals_suggests_eq_and_lists_the_operators(tmp_path: Path) -> None:
    code, err = _check(tmp_path, "{field: t, op: equals, value: v}")
    assert code == 2
    [line] = err.strip().splitlines()
    assert line == (
        f"error: {tmp_path / 'playbook.yaml'}:4: fit.rules[0].if.op: unknown operator 'equals' (did you mean "
        "'eq'? operators: eq, ne, in, not_in, contains, matches, gt, gte, lt, lte, between, "
        "exists; there are no aliases)"
    )
    code, err = _check(tmp_path, "{field: t, op: '>=', value: 3}")
    assert code == 2 and "did you mean 'gte'?" in err
    code, err = _check(tmp_path, "{field: t, op: frobnicate, value: 3}")
    assert code == 2 and "did you mean" not in err and "operators: eq, ne" in err


def test_regex_error_shows_the_pattern_as_written(tmp_path: Path) -> None:
    code, err = _check(tmp_path, r"""{field: t, op: matches, value: '\b(vp|chief\b'}""")
    assert code == 2
    assert r"bad regular expression '\b(vp|chief\b': missing )" in err
    assert "\\\\" not in err


# 6. stage names ignore case


def test_stage_names_ignore_case(db: list[str]) -> None:
    assert run("lead", "add", "--email", "ann@acme.com", *db)[0] == 0
    code, out, err = run("stage", "set", "ann@acme.com", "MQL", *db)
    assert code == 0, err
    code, out, err = run("stage", "set", "ann@acme.com", " Sal ", *db)
    assert code == 0, err
    assert "mql → sal" in out
    code, out, _ = run("lead", "list", "--stage", "SAL", "--json", *db)
    assert code == 0 and [r["email"] for r in orjson.loads(out)] == ["ann@acme.com"]


# 7. serve on a busy port: one line, exit 2, before any banner


def test_serve_on_a_busy_port_says_so_in_one_line(db: list[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code, out, err = run("serve", "--port", str(port), *db)
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: --port: cannot listen on 127.0.0.1:{port}: already in use "
        "(choose another with --port)"
    ]
    assert "leadgate API on" not in out + err
