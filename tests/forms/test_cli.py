"""`leadgate forms list|rejections`: the admin's view of forms and what spam they refused."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import FakeClock
from leadgate.api import create_app
from leadgate.cli.main import app
from leadgate.engine.engine import Engine
from leadgate.store.database import Database

from .conftest import playbook_text

runner = CliRunner()


def test_rejections_are_counted_by_form_and_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lg.db'}"
    (tmp_path / "pb.yaml").write_text(playbook_text())
    assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
    r = runner.invoke(app, ["playbook", "activate", str(tmp_path / "pb.yaml"), "--db", url])
    assert r.exit_code == 0, r.output
    db = Database(url)
    clock = FakeClock(time.time())
    engine = Engine(db, clock=clock)
    with TestClient(create_app(engine=engine)) as client:
        ticket = client.get("/f/demo/start").json()["ticket"]
        clock.advance(5)
        good = {"email": "ann@acme.com", "need": "just looking", "consent": True}
        ok = client.post("/f/demo/submit", json={"ticket": ticket, "answers": good})
        assert ok.status_code == 200, ok.text
        for _ in range(2):
            ticket = client.get("/f/demo/start").json()["ticket"]
            # Sent at once: the honeypot filled (and well under the form's 2 s minimum).
            answers = {"email": "bot@acme.com", "website": "spam"}
            assert (
                client.post(
                    "/f/demo/submit", json={"ticket": ticket, "answers": answers}
                ).status_code
                == 403
            )
    db.dispose()
    out = runner.invoke(app, ["forms", "rejections", "--json", "--db", url])
    assert out.exit_code == 0, out.output
    data = orjson.loads(out.stdout)
    assert data["total"] == 2
    assert [(x["form"], x["reason"], x["count"]) for x in data["rejections"]] == [
        ("demo", "honeypot", 2)
    ]
    listed = orjson.loads(runner.invoke(app, ["forms", "list", "--json", "--db", url]).stdout)
    assert [f["form"] for f in listed] == ["demo", "newsletter"]
    shown = runner.invoke(app, ["lead", "show", "ann@acme.com", "--json", "--db", url])
    assert shown.exit_code == 0, shown.output
    assert [c["form"] for c in orjson.loads(shown.stdout)["consents"]] == ["demo"]
    bad = runner.invoke(app, ["forms", "rejections", "--since", "yesterday-ish", "--db", url])
    assert bad.exit_code == 2 and "--since" in bad.stderr
