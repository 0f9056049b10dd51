"""`leadgate keys create --role browser --origin`, `leadgate lead merge`, `leadgate
accounts`: JSON shapes, and exit code 2 with a one-line reason on bad input."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from leadgate.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_browser_keys_merge_and_accounts_from_the_cli(sqlite_url: str) -> None:
    db = ["--db", sqlite_url]
    assert run("init", *db)[0] == 0
    code, out, _ = run(
        "keys", "create", "--role", "browser", "--name", "www",
        "--origin", "https://www.acme.com", "--origin", "https://acme.com/", "--json", *db,
    )  # fmt: skip
    assert code == 0 and orjson.loads(out)["origins"] == [
        "https://www.acme.com",
        "https://acme.com",
    ]
    code, _, err = run("keys", "create", "--role", "browser", "--name", "x", *db)
    assert code == 2 and "origin" in err
    code, _, err = run(
        "keys", "create", "--role", "ingest", "--name", "x", "--origin", "https://a.io", *db
    )
    assert code == 2 and "only a browser key" in err

    for email, typ in (("ann@acme.com", "webinar_attended"), ("ann.s@acme.com", "demo_request")):
        assert run("event", "add", "--email", email, "--type", typ, *db)[0] == 0
    code, out, _ = run("lead", "merge", "ann@acme.com", "ann.s@acme.com", "--json", *db)
    merged = orjson.loads(out)
    assert code == 0 and merged["already"] is False and merged["kept"]["stage"] == "mql"
    code, out, _ = run("lead", "merge", "ann@acme.com", "ann.s@acme.com", *db)
    assert code == 0 and "already" in out
    code, _, err = run("lead", "merge", "ann@acme.com", "nobody@acme.com", *db)
    assert code == 2 and err.count("\n") == 1

    code, out, _ = run("accounts", "--json", *db)
    assert code == 0 and [(a["domain"], a["leads"]) for a in orjson.loads(out)] == [("acme.com", 1)]
    code, out, _ = run("accounts", "acme.com", "--json", *db)
    assert code == 0 and [m["email"] for m in orjson.loads(out)["members"]] == ["ann@acme.com"]
    code, _, err = run("accounts", "gmail.com", *db)
    assert code == 2 and "free-mail" in err
