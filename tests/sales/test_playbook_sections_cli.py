"""A playbook's routing, frameworks and nurture sections take effect once activated (CLI).

Nothing is handed to `install(sections=...)` here: the sections come only from the
playbook file, and every step goes through the `leadgate` command, which installs
the sales workflow on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.playbook.loader import bundled_playbook_path

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def ok(*args: str) -> Any:
    code, out, err = run(*args, "--json")
    assert code == 0, err
    return orjson.loads(out)


@pytest.fixture
def db(db_url: str) -> list[str]:
    assert run("init", "--db", db_url)[0] == 0
    return ["--db", db_url]


def _playbook(tmp_path: Path) -> Path:
    data = yaml.safe_load(bundled_playbook_path().read_text())
    data["name"] = "with sales sections"
    data["routing"] = {
        "pools": [
            {"name": "americas", "team": "na", "role": "bdr"},
            {"name": "europe", "team": "emea", "role": "bdr"},
            {"name": "closers", "reps": ["eve"]},
        ],
        "rules": [
            {"name": "north america", "if": {"field": "country", "op": "in", "value": ["US", "CA"]},
             "pool": "americas"},
        ],
        "default_pool": "europe",
        "handoff_default_pool": "closers",
    }  # fmt: skip
    data["frameworks"] = {
        "spiced": {
            "label": "SPICED",
            "criteria": [{"key": "situation"}, {"key": "pain"}, {"key": "impact"}],
            "min_criteria_met": 2,
            "required": ["pain"],
        }
    }
    data["stages"]["sql"] = {"framework": "spiced"}
    data["nurture"] = {
        "tracks": [
            {
                "name": "later",
                "if": {"field": "nurture_reason", "op": "eq", "value": "not now"},
                "steps": [
                    {"send": {"channel": "webhook", "subject": "Hi {{ first_name }}", "body": "b"}},
                    {"wait_days": 5},
                ],
            }
        ]
    }
    path = tmp_path / "sales.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _hand_raiser(db: list[str], email: str, country: str) -> dict[str, Any]:
    attrs = ["--set", "job_title=VP Marketing", "--set", "company_size=200"]
    assert run("lead", "add", "--email", email, *attrs, "--set", f"country={country}", *db)[0] == 0
    assert run("event", "add", "--email", email, "--type", "demo_request", *db)[0] == 0
    lead: dict[str, Any] = ok("lead", "show", email, *db)
    assert lead["stage"] == "mql"
    return lead


def test_sections_take_effect_after_activate(db: list[str], tmp_path: Path) -> None:
    always = ["--hours", "00:00-24:00", "--days", "mon-sun"]
    for name, role, team in (("anna", "bdr", "emea"), ("zoe", "bdr", "na"), ("eve", "ae", "emea"),
                             ("finn", "ae", "emea")):  # fmt: skip
        assert run("reps", "add", name, "--role", role, "--team", team, *always, *db)[0] == 0

    # Under the bundled playbook: BANT. (One domain per lead: account matching would
    # otherwise give every lead to the rep who works acme.com.)
    lead = _hand_raiser(db, "before@first.com", "US")
    assert lead["qualification"]["framework"] == "bant"

    assert ok("playbook", "activate", str(_playbook(tmp_path)), *db)["version"] == 2

    # routing: the rule sends a US lead to the americas pool, anyone else to europe.
    assert _hand_raiser(db, "us@second.com", "US")["owner"] == "zoe"
    assert _hand_raiser(db, "de@third.com", "DE")["owner"] == "anna"

    # frameworks: stages.sql.framework names the playbook's own SPICED.
    assert run("stage", "set", "de@third.com", "sal", *db)[0] == 0
    code, _, err = run("qualify", "de@third.com", "--set", "budget=met", *db)
    assert code == 2 and "not a criterion of SPICED" in err
    assert ok("qualify", "de@third.com", "--set", "situation=met", "--set", "impact=met", *db)
    code, _, err = run("stage", "set", "de@third.com", "sql", *db)
    assert code == 2 and "SPICED not passed" in err and "pain" in err
    q = ok("qualify", "de@third.com", "--set", "pain=met", *db)
    assert q["framework"] == "spiced" and q["passed"] is True
    assert run("stage", "set", "de@third.com", "sql", *db)[0] == 0
    # ...and the SQL is handed to the handoff pool, which holds eve only.
    assert ok("lead", "show", "de@third.com", *db)["owner"] == "eve"

    # nurture: a lead nurtured as "not now" is enrolled in the playbook's track.
    assert run("stage", "set", "us@second.com", "nurture", "--reason", "not now", *db)[0] == 0
    code, out, err = run("nurture", "show", "us@second.com", "--json", *db)
    assert code == 0, err
    assert orjson.loads(out)["nurture"]["track"] == "later"
