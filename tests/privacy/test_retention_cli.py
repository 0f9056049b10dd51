"""Retention from the playbook (dry run and for real, by the scheduler's tick) and the
`person` commands."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook
from leadgate.privacy.retention import apply_retention
from leadgate.sales import install
from leadgate.store.database import Database

runner = CliRunner()
DAY = 86_400.0
POLICY = "\nretention:\n  erase_inactive_after_days: 30\n  stages: [lead, nurture]\n"


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_retention_is_validated_with_the_line() -> None:
    _, text = bundled_playbook()
    with pytest.raises(PlaybookError, match=r"retention.stages: unknown stage 'leed'"):
        load_playbook(text + POLICY.replace("lead,", "leed,"), "pb.yaml")
    with pytest.raises(PlaybookError, match="erase_inactive_after_days"):
        load_playbook(text + POLICY.replace("30", "0"), "pb.yaml")


def test_retention_erases_the_inactive_in_its_stages(engine: Engine, clock: Any) -> None:
    _, text = bundled_playbook()
    engine.activate_playbook(text + POLICY, "pb.yaml", "t")
    engine.upsert_leads([("old@acme.com", {"first_name": "Olde"}, None)])
    engine.upsert_leads([("busy@acme.com", {}, None)])
    clock.advance(40 * DAY)
    engine.ingest([parse_event({"email": "busy@acme.com", "type": "page_view"}, clock())])
    engine.upsert_leads([("new@acme.com", {}, None)])
    dry = apply_retention(engine, dry_run=True)
    assert [x["email"] for x in dry["leads"]] == ["old@acme.com"]
    assert engine.show("old@acme.com")["email"] == "old@acme.com"  # a dry run changes nothing
    s = install(engine)
    out = s.tick()
    assert out["erased"] == 1
    assert {row["email"] for row in engine.list_leads(limit=10)} >= {
        "busy@acme.com",
        "new@acme.com",
    }
    assert "old@acme.com" not in {row["email"] for row in engine.list_leads(limit=10)}
    assert s.tick()["erased"] == 0  # at most once an hour


def test_person_commands(sqlite_url: str) -> None:
    assert run("init", "--db", sqlite_url)[0] == 0
    eng = Engine(Database(sqlite_url))
    eng.upsert_leads([("ana@acme.com", {"first_name": "Ana"}, None)])
    code, out, err = run("person", "export", "ana@acme.com", "--db", sqlite_url)
    assert code == 0, err
    held = orjson.loads(out)
    assert held["lead"]["attributes"]["first_name"] == "Ana" and held["suppressed"] is False
    code, _, err = run("person", "erase", "ana@acme.com", "--db", sqlite_url)
    assert code == 2 and "reason" in err
    code, out, err = run(
        "person", "erase", "ana@acme.com", "--reason", "art. 17", "--db", sqlite_url, "--json"
    )
    assert code == 0, err
    assert orjson.loads(out)["pseudonym"].endswith("@erased.invalid")
    code, out, _ = run("person", "export", "ana@acme.com", "--db", sqlite_url)
    assert orjson.loads(out)["suppressed"] is True
    code, _, err = run("lead", "add", "--email", "ana@acme.com", "--db", sqlite_url)
    assert code == 2 and "suppressed" in err
    code, _, err = run(
        "event", "add", "--email", "ana@acme.com", "--type", "page_view", "--db", sqlite_url
    )
    assert code == 2 and "suppressed" in err
    code, _, err = run("person", "export", "nobody@acme.com", "--db", sqlite_url)
    assert code == 2 and "no lead" in err
    code, out, _ = run("person", "consent", "ana@acme.com", "--reason", "form", "--db", sqlite_url)
    assert code == 0 and "no longer suppressed" in out
    code, out, _ = run("person", "retention", "--dry-run", "--db", sqlite_url)
    assert code == 0 and "no retention" in out
