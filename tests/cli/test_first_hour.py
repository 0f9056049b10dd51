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
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.cli.tables import fmt, is_rate, table

runner = CliRunner()
LONG = "ananya.krishnamurthy-venkataraman@clearlighton-consulting.example.com"


@pytest.fixture
def db(sqlite_url: str) -> list[str]:
    assert runner.invoke(app, ["init", "--db", sqlite_url]).exit_code == 0
    return ["--db", sqlite_url]


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


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


def test_webhook_urls_and_key_tables_are_whole(db: list[str]) -> None:
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


# 8. re-activating an identical playbook keeps its version; activation counts changes


def test_identical_playbook_is_unchanged_and_a_new_one_counts_changes(
    db: list[str], tmp_path: Path
) -> None:
    from leadgate.playbook.loader import bundled_playbook_path

    for i in range(3):
        run("lead", "add", "--email", f"p{i}@acme.com", "--set", "job_title=VP Sales", *db)
    same = tmp_path / "same.yaml"
    same.write_text(Path(bundled_playbook_path()).read_text(encoding="utf-8"))
    code, out, _ = run("playbook", "activate", str(same), *db)
    assert code == 0
    assert out.strip().startswith("unchanged (same as v1)"), out
    history = orjson.loads(run("playbook", "history", "--json", *db)[1])
    assert [h["version"] for h in history] == [1]
    data = orjson.loads(run("playbook", "activate", str(same), "--json", *db)[1])
    assert data["unchanged"] is True and data["same_as"] == 1 and data["rescored"] == 0

    # Senior titles worth 25 (was 20) and fit alone makes an MQL: all three move.
    text = same.read_text(encoding="utf-8")
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        text.replace(
            "when: {all: [{score: fit, op: gte, value: 30}, {score: engagement, op: gte, value: 30}]}",
            "when: {score: fit, op: gte, value: 20}",
        ).replace("      points: 20\n", "      points: 25\n", 1)
    )
    code, out, err = run("playbook", "activate", str(changed), *db)
    assert code == 0, err
    assert out.strip() == (
        "activated 'leadgate-default' as version 2; rescored 3 leads: 3 changed score, 3 changed stage "
        "(lead → mql 3)"
    )


# 9. an empty value clears a field (audited); reserved names point to their command


def test_empty_value_clears_a_field_and_is_audited(db: list[str]) -> None:
    run("lead", "add", "--email", "ann@acme.com", "--set", "country=de", *db)
    code, out, _ = run("lead", "add", "--email", "ann@acme.com", "--set", "country=", *db)
    assert code == 0
    assert out.strip().endswith("; cleared country (was DE)")
    data = orjson.loads(run("lead", "show", "ann@acme.com", "--json", *db)[1])
    assert data["attributes"].get("country") is None
    assert "target country" not in [line["rule"] for line in data["explanation"]]
    [audit] = [e for e in data["recent_events"] if e["type"] == "field_cleared"]
    assert audit["properties"]["field"] == "country" and audit["properties"]["was"] == "DE"
    assert audit["properties"]["actor"].startswith("user:")
    code, out, _ = run("lead", "add", "--email", "ann@acme.com", "--set", "country=", *db)
    assert out.startswith("unchanged")
    assert "country=" not in run("lead", "show", "ann@acme.com", *db)[1]


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("stage", "leadgate stage set EMAIL STAGE"),
        ("Stage", "leadgate stage set EMAIL STAGE"),
        ("owner", "leadgate assign EMAIL --rep REP"),
        ("score", "leadgate lead adjust EMAIL --points N"),
    ],
)
def test_reserved_names_are_refused_with_the_command_to_use(
    db: list[str], name: str, hint: str
) -> None:
    code, _, err = run("lead", "add", "--email", "ann@acme.com", "--set", f"{name}=sal", *db)
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: --set {name}: ") and hint in line
    assert orjson.loads(run("lead", "list", "--json", *db)[1]) == []


# 10. lead list --fields and --sort predicted


def test_lead_list_fields_and_sort_by_predicted(db_url: str) -> None:
    from leadgate.engine.engine import Engine
    from leadgate.store.database import Database

    db = ["--db", db_url]
    assert run("init", *db)[0] == 0
    engine = Engine(Database(db_url))
    engine.upsert_leads(
        [
            ("low@acme.com", {"job_title": "Intern", "predicted": 0.05}, None),
            ("high@acme.com", {"job_title": "VP Sales", "predicted": 0.9}, None),
            ("none@acme.com", {"job_title": "CTO"}, None),
            ("text@acme.com", {"predicted": "n/a"}, None),
            ("mid@acme.com", {"predicted": 1}, None),
        ]
    )
    engine.db.dispose()
    code, out, err = run("lead", "list", "--sort", "predicted", "--json", *db)
    assert code == 0, err
    emails = [r["email"] for r in orjson.loads(out)]
    assert emails[:3] == ["mid@acme.com", "high@acme.com", "low@acme.com"]
    assert set(emails[3:]) == {"none@acme.com", "text@acme.com"}
    code, out, _ = run(
        "lead", "list", "--sort", "predicted", "--fields", "Job Title,predicted", *db
    )
    assert code == 0
    header = next(line for line in out.splitlines() if "email" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == ["email", "job_title", "predicted"]
    high = next(line for line in out.splitlines() if "high@acme.com" in line)
    assert "VP Sales" in high and "90.0%" in high
    rows = orjson.loads(run("lead", "list", "--fields", "job_title", "--json", *db)[1])
    assert {r["email"]: r["job_title"] for r in rows}["low@acme.com"] == "Intern"
    assert "score" in rows[0]
    code, _, err = run("lead", "list", "--sort", "nope", *db)
    assert code == 2 and "predicted" in err


# 11. a backtest's changed.csv gives times in ISO 8601


def test_backtest_changed_csv_times_are_iso(tmp_path: Path) -> None:
    from leadgate.analytics.backtest import BacktestResult
    from leadgate.cli.analytics import save_backtest

    month = {"month": "2026-05", "mqls_old": 1, "mqls_new": 1}
    changed = [
        {
            "lead_id": 7,
            "change": "earlier",
            "old_mql_at": 1_777_629_600.0,
            "new_mql_at": 1_777_543_200.0,
            "days_shift": -1.0,
            "customer": False,
            "email": "ann@acme.com",
        },
        {"lead_id": 8, "change": "gained", "old_mql_at": None, "new_mql_at": 1_777_629_600.0},
    ]
    res = BacktestResult([month], {}, changed, {})
    save_backtest(res, tmp_path / "bt")
    rows = list(csv.DictReader((tmp_path / "bt" / "changed.csv").open(encoding="utf-8")))
    assert rows[0]["old_mql_at"] == "2026-05-01T10:00:00Z"
    assert rows[0]["new_mql_at"] == "2026-04-30T10:00:00Z"
    assert rows[1]["old_mql_at"] == "" and rows[1]["new_mql_at"] == "2026-05-01T10:00:00Z"
    summary = orjson.loads((tmp_path / "bt" / "summary.json").read_bytes())
    assert summary["changed"][0]["old_mql_at"] == 1_777_629_600.0


# 12. the stage graph: sal → mql with a reason


def test_sales_returns_a_sal_to_marketing_with_a_reason(db: list[str]) -> None:
    run("lead", "add", "--email", "ann@acme.com", *db)
    run("stage", "set", "ann@acme.com", "mql", *db)
    run("stage", "set", "ann@acme.com", "sal", *db)
    code, _, err = run("stage", "set", "ann@acme.com", "mql", *db)
    assert code == 2 and "needs a reason" in err
    code, out, err = run("stage", "set", "ann@acme.com", "mql", "--reason", "wrong persona", *db)
    assert code == 0, err
    assert "sal → mql" in out and out.strip().endswith(": wrong persona)")


# 13. opportunities: no past close date unless --backfill; `opportunity update`


def _to_sql(db: list[str], email: str) -> None:
    for name, role in (("anna", "bdr"), ("eve", "ae")):
        r = run(
            "reps", "add", name, "--role", role, "--hours", "00:00-24:00", "--days", "mon-sun", *db
        )
        assert r[0] == 0, r
    run("lead", "add", "--email", email, *db)
    assert run("stage", "set", email, "mql", *db)[0] == 0
    assert run("stage", "set", email, "sal", *db)[0] == 0
    sets = [x for k in ("budget", "authority", "need", "timeline") for x in ("--set", f"{k}=met")]
    assert run("qualify", email, *sets, *db)[0] == 0
    code, _, err = run("handoff", email, "--ae", "eve", *db)
    assert code == 0, err


def test_opportunity_close_date_in_the_past_needs_backfill_and_can_be_updated(
    db: list[str],
) -> None:
    from datetime import date, timedelta

    _to_sql(db, "ann@acme.com")
    past = (date.today() - timedelta(days=10)).isoformat()
    future = (date.today() + timedelta(days=30)).isoformat()
    later = (date.today() + timedelta(days=60)).isoformat()
    opp = ["--amount", "12000", "--currency", "EUR"]
    code, _, err = run("opportunity", "ann@acme.com", *opp, "--close-date", past, *db)
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: close_date: {past} is in the past") and "--backfill" in line
    assert orjson.loads(run("lead", "show", "ann@acme.com", "--json", *db)[1])["stage"] == "sql"

    code, out, err = run("opportunity", "ann@acme.com", *opp, "--close-date", future, *db)
    assert code == 0, err
    assert f"sqo, 12000 EUR, closing {future}" in out

    code, out, err = run(
        "opportunity", "update", "ann@acme.com", "--amount", "15000", "--close-date", later, *db
    )
    assert code == 0, err
    assert f"sqo, 15000 EUR, closing {later}" in out
    code, _, err = run("opportunity", "update", "ann@acme.com", "--close-date", past, *db)
    assert code == 2 and "--backfill" in err
    code, out, _ = run(
        "opportunity", "update", "ann@acme.com", "--close-date", past, "--backfill", "--json", *db
    )
    data = orjson.loads(out)
    assert data["opportunity"]["expected_close"] == past and data["opportunity"]["amount"] == 15000
    audit = [e for e in data["recent_events"] if e["type"] == "opportunity_updated"]
    assert len(audit) == 2
    assert {"was": 12000.0, "now": 15000.0} in [
        e["properties"]["changes"].get("amount") for e in audit
    ]
    code, _, err = run("opportunity", "update", "ann@acme.com", *db)
    assert code == 2 and "nothing to change" in err


def test_opportunity_backfill_records_a_past_deal(db: list[str]) -> None:
    _to_sql(db, "bob@acme.com")
    code, out, err = run(
        "opportunity",
        "create",
        "bob@acme.com",
        "--amount",
        "5000",
        "--currency",
        "usd",
        "--close-date",
        "2024-03-31",
        "--backfill",
        *db,
    )
    assert code == 0, err
    assert "sqo, 5000 USD, closing 2024-03-31" in out


# 14. leads already in nurture: `nurture enrol`, and `retroactive: true` tracks


def _with_tracks(tmp_path: Path, retroactive: bool) -> Path:
    from leadgate.playbook.loader import bundled_playbook

    _, text = bundled_playbook()
    tracks = (
        "nurture:\n  tracks:\n"
        "    - name: win-back\n"
        "      if: {field: nurture_reason, op: eq, value: lost}\n"
        f"      retroactive: {'true' if retroactive else 'false'}\n"
        "      steps: [{wait_days: 3}, {send: {channel: webhook, subject: hi, body: back}}]\n"
    )
    start = text.index("nurture:") if "\nnurture:" in text else None
    assert start is None or text[start - 1] == "\n"
    body = text if start is None else text[:start] + text[text.index("\nstages:", start) + 1 :]
    path = tmp_path / ("retro.yaml" if retroactive else "tracks.yaml")
    path.write_text(body.replace("\nstages:", "\n" + tracks + "stages:", 1), encoding="utf-8")
    return path


def _nurtured(db: list[str], email: str, reason: str) -> None:
    run("lead", "add", "--email", email, "--set", "country=DE", *db)
    assert run("stage", "set", email, "nurture", "--reason", reason, *db)[0] == 0


def test_nurture_enrol_puts_leads_already_in_nurture_on_a_track(
    db: list[str], tmp_path: Path
) -> None:
    _nurtured(db, "a@acme.com", "lost: price")
    _nurtured(db, "b@acme.com", "not now")
    _nurtured(db, "c@beta.io", "lost")
    code, out, err = run("playbook", "activate", str(_with_tracks(tmp_path, False)), *db)
    assert code == 0, err
    assert "retroactive" not in out
    # A track added later does not pick up leads already in nurture by itself.
    assert orjson.loads(run("nurture", "show", "c@beta.io", "--json", *db)[1])["nurture"] is None
    code, out, err = run("nurture", "enrol", "--track", "win-back", "--dry-run", *db)
    assert code == 0, err
    assert out.strip() == "would enrol 1 leads already in nurture in track 'win-back'"
    code, out, _ = run(
        "nurture", "enrol", "--track", "win-back", "--segment", "Country=de", "--json", *db
    )
    assert orjson.loads(out)["enrolled"] == 1
    assert "win-back" in run("nurture", "show", "c@beta.io", *db)[1]
    # Enrolled once: a second run finds nobody.
    assert (
        orjson.loads(run("nurture", "enrol", "--track", "win-back", "--json", *db)[1])["enrolled"]
        == 0
    )
    code, _, err = run("nurture", "enrol", "--track", "winback", *db)
    assert code == 2 and "no nurture track 'winback' (tracks: win-back)" in err
    code, _, err = run("nurture", "enrol", "--track", "win-back", "--segment", "country", *db)
    assert code == 2 and "field=value" in err


def test_a_retroactive_track_enrols_on_activation(db: list[str], tmp_path: Path) -> None:
    _nurtured(db, "c@beta.io", "lost")
    _nurtured(db, "d@beta.io", "timing")
    code, out, err = run("playbook", "activate", str(_with_tracks(tmp_path, True)), *db)
    assert code == 0, err
    assert out.strip().endswith(
        "; enrolled 1 leads already in nurture in track 'win-back' (retroactive)"
    )
    assert "win-back" in run("nurture", "show", "c@beta.io", *db)[1]
    assert "win-back" not in run("nurture", "show", "d@beta.io", *db)[1]
