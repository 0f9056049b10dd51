"""The sales commands: output, --json keys, exit code 2 with a one-line reason."""

from __future__ import annotations

from datetime import date, timedelta

import orjson
import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.sales import install
from leadgate.store.database import Database
from tests.sales.conftest import HOT

runner = CliRunner()
# The CLI runs on the real clock: an expected close date that is always in the future.
CLOSE = (date.today() + timedelta(days=90)).isoformat()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def db(db_url: str) -> list[str]:
    assert run("init", "--db", db_url)[0] == 0
    return ["--db", db_url]


def make_mql(url: str, email: str) -> None:
    eng = Engine(Database(url))
    install(eng)
    eng.upsert_leads([(email, HOT, None)])
    eng.ingest([parse_event({"email": email, "type": "demo_request"}, eng.clock())])
    eng.db.dispose()


def test_reps_commands(db: list[str]) -> None:
    code, out, err = run(
        "reps",
        "add",
        "anna",
        "--role",
        "bdr",
        "--team",
        "emea",
        "--timezone",
        "Europe/Rome",
        "--capacity",
        "30",
        "--hours",
        "09:00-17:30",
        "--days",
        "mon-fri",
        "--json",
        *db,
    )
    assert code == 0, err
    rep = orjson.loads(out)
    assert (rep["name"], rep["role"], rep["team"], rep["capacity"]) == ("anna", "bdr", "emea", 30)
    code, _, err = run("reps", "add", "zed", "--role", "cto", *db)
    assert code == 2 and err.startswith("error: role:")
    code, _, err = run("reps", "add", "zed", "--role", "bdr", "--timezone", "Mars/Base", *db)
    assert code == 2 and "unknown time zone" in err
    code, out, _ = run("reps", "away", "anna", "--until", "2099-01-05", "--json", *db)
    assert code == 0 and orjson.loads(out)["away"] is True
    code, out, _ = run("reps", "list", "--json", *db)
    assert [r["name"] for r in orjson.loads(out)] == ["anna"]
    code, out, _ = run("reps", "list", *db)
    assert "away until 2099-01-04T23:00:00Z" in out
    code, _, err = run("reps", "away", "nobody", "--back", *db)
    assert code == 2 and "no rep named 'nobody'" in err


def test_qualify_queue_assign_opportunity(db: list[str], db_url: str) -> None:
    for name, role in (("anna", "bdr"), ("bo", "bdr"), ("eve", "ae")):
        assert (
            run(
                "reps",
                "add",
                name,
                "--role",
                role,
                "--hours",
                "00:00-24:00",
                "--days",
                "mon-sun",
                *db,
            )[0]
            == 0
        )
    make_mql(db_url, "ann@acme.com")
    code, out, _ = run("queue", "--rep", "anna", "--json", *db)
    q = orjson.loads(out)
    assert q[0]["email"] == "ann@acme.com" and q[0]["reason"].startswith("SLA due in")
    code, out, _ = run("queue", *db)
    assert "ann@acme.com" in out

    code, _, err = run("qualify", "ann@acme.com", "--set", "budgett=met", *db)
    assert code == 2 and "did you mean 'budget'" in err
    code, _, err = run("qualify", "ann@acme.com", "--set", "budget=maybe", *db)
    assert code == 2 and "'maybe' is not an answer" in err
    code, _, err = run("qualify", "ann@acme.com", "--set", "budget", *db)
    assert code == 2 and "KEY=VALUE" in err
    code, out, err = run(
        "qualify",
        "ann@acme.com",
        "--set",
        "budget=met",
        "--note",
        "budget=50k approved",
        "--json",
        *db,
    )
    assert code == 0, err
    crit = orjson.loads(out)["criteria"][0]
    assert (crit["status"], crit["note"]) == ("met", "50k approved")
    code, out, _ = run("qualify", "ann@acme.com", *db)
    assert "50k approved" in out and "BANT not passed" in out

    code, out, err = run(
        "assign", "ann@acme.com", "--rep", "bo", "--reason", "cover", "--json", *db
    )
    assert code == 0, err
    assert orjson.loads(out)["owner"] == "bo"
    code, _, err = run("assign", "ann@acme.com", "--rep", "bo", *db)
    assert code == 2  # --reason is required

    assert run("stage", "set", "ann@acme.com", "sal", *db)[0] == 0
    run(
        "qualify",
        "ann@acme.com",
        "--set",
        "authority=met",
        "--set",
        "need=met",
        "--set",
        "timeline=met",
        *db,
    )
    code, out, err = run("handoff", "ann@acme.com", "--ae", "eve", *db)
    assert code == 0, err
    assert "handed to eve" in out
    code, _, err = run(
        "opportunity",
        "ann@acme.com",
        "--amount",
        "12000",
        "--currency",
        "EURO",
        "--close-date",
        CLOSE,
        *db,
    )
    assert code == 2 and err.startswith("error: currency:")
    code, out, err = run(
        "opportunity",
        "ann@acme.com",
        "--amount",
        "12000",
        "--currency",
        "EUR",
        "--close-date",
        CLOSE,
        *db,
    )
    assert code == 0, err
    assert f"sqo, 12000 EUR, closing {CLOSE}" in out


def test_scheduler_once(db: list[str]) -> None:
    code, out, err = run("scheduler", "--once", "--json", *db)
    assert code == 0, err
    assert orjson.loads(out) == {
        "transitions": 0,
        "jobs_fired": 0,
        "sla_breached": 0,
        "reassigned": 0,
        "routed": 0,
        "erased": 0,
        "visitor_events_purged": 0,
        "nurture_steps": 0,
        "messages_queued": 0,
        "messages_sent": 0,
        "messages_failed": 0,
    }


def test_nurture_show_and_outbox(db: list[str], db_url: str) -> None:
    eng = Engine(Database(db_url))
    s = install(
        eng,
        sections={
            "nurture": {
                "tracks": [
                    {
                        "name": "later",
                        "steps": [
                            {"send": {"channel": "smtp", "subject": "Hi", "body": "b"}},
                            {"wait_days": 5},
                        ],
                    }
                ]
            }
        },
    )
    s.add_rep("anna", "bdr", hours="00:00-24:00", days="mon-sun")
    eng.upsert_leads([("n@acme.com", HOT, None)])
    eng.ingest([parse_event({"email": "n@acme.com", "type": "demo_request"}, eng.clock())])
    eng.set_stage("n@acme.com", "nurture", "not now", "user:anna")
    s.tick(deliver=False)
    eng.db.dispose()

    code, out, err = run("nurture", "show", "n@acme.com", *db)
    assert code == 0, err
    assert "n@acme.com: nurture, track 'later' active, step 1, next step at" in out
    assert "enrolled" in out and "queued" in out and "e-mail 'Hi' to n@acme.com queued" in out
    code, out, err = run("nurture", "show", "n@acme.com", "--json", *db)
    data = orjson.loads(out)
    assert data["nurture"]["reason"] == "not now"
    assert [t["kind"] for t in data["nurture"]["timeline"]] == ["enrolled", "queued"]
    code, out, _ = run("nurture", "outbox", "--json", *db)
    assert orjson.loads(out) == {"pending": 1, "sent": 0, "dead": 0, "cancelled": 0}
    code, out, err = run("nurture", "show", "nobody@acme.com", *db)
    assert code == 2 and "no lead with email nobody@acme.com" in err


def test_scheduler_survives_a_database_hiccup(
    db: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from leadgate.sales.service import Sales

    calls: list[int] = []

    def tick(self: Sales, *a: object, **kw: object) -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        raise KeyboardInterrupt  # the operator stops it

    monkeypatch.setattr(Sales, "tick", tick)
    monkeypatch.setattr("time.sleep", lambda s: None)
    r = runner.invoke(app, ["scheduler", "--interval", "0", *db])
    assert len(calls) == 2  # the failed tick was retried, not fatal
    assert "scheduler: tick failed, retrying: server closed the connection" in r.stderr
