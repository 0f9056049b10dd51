"""A newcomer's first hour (issue 19), leads and playbooks: activation, clearing a field,
reserved names, `lead list --fields/--sort predicted`, ISO times in a backtest's CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from .firsthour import run

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
