"""`leadgate users ...` and `/api/v1/users`: the same people, by command and over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgate.api import create_app
from leadgate.cli.main import app as cli
from leadgate.engine.engine import Engine
from leadgate.keys import create_key
from leadgate.users import LoginRefused, Users

runner = CliRunner()
PW = "correct horse battery staple"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    r = runner.invoke(cli, list(args), input=stdin)
    return r.exit_code, r.stdout, r.stderr


def test_cli_add_prints_a_generated_password_that_signs_in(sqlite_url: str) -> None:
    code, out, err = run("users", "add", "anna", "--role", "sales", "--db", sqlite_url)
    assert code == 0, err
    password = out.strip()
    assert len(password) >= 20 and "shown once" in err
    assert Users(_db(sqlite_url)).authenticate("anna", password).role == "sales"


def _db(url: str):  # type: ignore[no-untyped-def]
    from leadgate.store.database import Database

    return Database(url)


def test_cli_password_stdin_list_disable_reset(sqlite_url: str) -> None:
    code, out, err = run(
        "users",
        "add",
        "olga",
        "--role",
        "marketing",
        "--password-stdin",
        "--db",
        sqlite_url,
        stdin=PW + "\n",
    )
    assert code == 0 and out == "", (out, err)
    users = Users(_db(sqlite_url))
    assert users.authenticate("olga", PW).role == "marketing"

    code, out, _ = run("users", "list", "--json", "--db", sqlite_url)
    assert code == 0 and [u["name"] for u in json.loads(out)] == ["olga"]
    assert '"password"' not in out and PW not in out

    code, out, _ = run("users", "reset-password", "olga", "--json", "--db", sqlite_url)
    new = json.loads(out)["password"]
    assert users.authenticate("olga", new)
    code, out, _ = run("users", "disable", "olga", "--db", sqlite_url)
    assert code == 0
    with pytest.raises(LoginRefused):
        users.authenticate("olga", new)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "add", "x", "--role", "boss"], None, "error: role: 'boss' is not a role"),
        (["users", "add", "x", "--role", "sales", "--rep", "ghost"], None, "no sales rep named"),
        (["users", "add", "x", "--role", "sales", "--password-stdin"], "short\n", "password:"),
        (["users", "add", "x", "--role", "sales", "--password-stdin"], "", "nothing on stdin"),
        (["users", "disable", "nobody"], None, "error: no user named 'nobody'"),
        (["users", "reset-password", "nobody"], None, "error: no user named 'nobody'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(sqlite_url: str, args, stdin, message) -> None:
    code, _out, err = run(*args, "--db", sqlite_url, stdin=stdin)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert Users(_db(sqlite_url)).list_users() == []


@pytest.fixture
def client(engine: Engine) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    keys = {
        r: {"Authorization": f"Bearer {create_key(engine.db, r, f'{r}-k')[1]}"}
        for r in ("admin", "sales", "marketing")
    }
    with TestClient(create_app(engine=engine), raise_server_exceptions=False) as c:
        yield c, keys


def test_api_users_are_admin_only(client) -> None:  # type: ignore[no-untyped-def]
    c, keys = client
    for role in ("sales", "marketing"):
        assert c.get("/api/v1/users", headers=keys[role]).status_code == 403
        r = c.post("/api/v1/users", headers=keys[role], json={"name": "x", "role": "admin"})
        assert r.status_code == 403
    assert c.get("/api/v1/users").status_code == 401


def test_api_add_disable_reset_sign_out(client, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    c, keys = client
    h = keys["admin"]
    r = c.post("/api/v1/users", headers=h, json={"name": "Anna", "role": "sales"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "anna" and body["created_by"] == "api:admin-k"
    users = Users(engine.db)
    assert users.authenticate("anna", body["password"])

    r = c.post("/api/v1/users", headers=h, json={"name": "bo", "role": "sales", "password": PW})
    assert r.status_code == 201 and "password" not in r.json()
    r = c.post("/api/v1/users", headers=h, json={"name": "bo", "role": "sales", "password": PW})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = c.post("/api/v1/users", headers=h, json={"name": "cy", "role": "ingest"})
    assert r.status_code == 422

    assert [u["name"] for u in c.get("/api/v1/users", headers=h).json()["items"]] == ["anna", "bo"]

    token = users.start_session(users.get("bo"))
    r = c.post("/api/v1/users/bo/sign-out", headers=h)
    assert r.json() == {"name": "bo", "sessions_ended": 1} and users.session(token) is None

    r = c.post("/api/v1/users/bo/reset-password", headers=h, json={})
    new = r.json()["password"]
    assert users.authenticate("bo", new)
    r = c.post("/api/v1/users/bo/reset-password", headers=h, json={"password": PW + "2"})
    assert r.status_code == 200 and "password" not in r.json()

    r = c.post("/api/v1/users/bo/disable", headers=h)
    assert r.json()["active"] is False
    with pytest.raises(LoginRefused):
        users.authenticate("bo", PW + "2")
    assert c.post("/api/v1/users/nobody/disable", headers=h).status_code == 404
