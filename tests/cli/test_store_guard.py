"""Opening a store from the CLI: a mistyped --db or a read-only file never harms a store.

Only `init` (and `demo`) create a store; every other command refuses a URL with no
leadgate store behind it, leaving nothing behind. A store that cannot be written (file or
directory read-only) still answers every read; a write exits 2 naming the file.

As root, chmod does not stop writes, so the read-only cases use `chattr +i` (the kernel
refuses root too); where neither works the test is skipped with a notice.
"""

from __future__ import annotations

import gc
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    # No traceback ever: a crash shows up here as an exception other than SystemExit.
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr


def one_error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


# -- 1. a mistyped --db ------------------------------------------------------------------

COMMANDS = [
    ("lead", "show", "ann@acme.com"),
    ("lead", "list"),
    ("lead", "add", "--email", "ann@acme.com"),
    ("event", "add", "--email", "ann@acme.com", "--type", "webinar_attended"),
    ("report", "funnel"),
    ("playbook", "show"),
    ("keys", "list"),
    ("tick",),
    ("serve", "--port", "1"),
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_missing_sqlite_store_is_refused_and_not_created(
    tmp_path: Path, cmd: tuple[str, ...]
) -> None:
    path = tmp_path / "leadgate.bd"
    url = f"sqlite:///{path}"
    code, out, err = run(*cmd, "--db", url)
    assert code == 2, (out, err)
    line = one_error_line(err)
    assert f"no store at {path}" in line
    assert f"leadgate init --db {url}" in line
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_given_as_the_store_is_named_so(tmp_path: Path) -> None:
    for args in (["lead", "list"], ["init"]):
        code, _, err = run(*args, "--db", f"sqlite:///{tmp_path}")
        assert code == 2
        assert one_error_line(err) == f"error: --db: {tmp_path} is a folder, not a store file"
    assert list(tmp_path.iterdir()) == []


def test_the_root_db_option_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    code, _, err = run("--db", f"sqlite:///{path}", "lead", "list")
    assert code == 2
    assert "no store at" in one_error_line(err)
    assert not path.exists()


def test_an_empty_or_foreign_sqlite_file_is_refused_unchanged(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    code, _, err = run("lead", "list", "--db", f"sqlite:///{empty}")
    assert code == 2
    assert "no store at" in one_error_line(err)
    assert empty.read_bytes() == b""

    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    before = other.read_bytes()
    code, _, err = run("lead", "add", "--email", "a@b.co", "--db", f"sqlite:///{other}")
    assert code == 2
    assert "no store at" in one_error_line(err)
    assert other.read_bytes() == before

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all\n" * 200)
    code, _, err = run("lead", "list", "--db", f"sqlite:///{junk}")
    assert code == 2
    assert str(junk) in one_error_line(err)


def test_init_creates_and_then_every_command_works(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert run("init", "--db", url)[0] == 0
    assert run("lead", "add", "--email", "ann@acme.com", "--db", url)[0] == 0
    code, out, _ = run("lead", "show", "ann@acme.com", "--json", "--db", url)
    assert code == 0
    assert orjson.loads(out)["email"] == "ann@acme.com"


def test_a_postgres_database_without_leadgate_tables_is_refused(postgres_url: str) -> None:
    from sqlalchemy import create_engine, text

    from leadgate.store.database import resolve_url

    # The fixture's database is migrated: drop leadgate's tables to get a bare one.
    eng = create_engine(resolve_url(postgres_url))
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    code, _, err = run("lead", "list", "--db", postgres_url)
    assert code == 2
    line = one_error_line(err)
    assert "no store at" in line and "leadgate init --db" in line
    eng = create_engine(resolve_url(postgres_url))
    with eng.connect() as conn:
        n = conn.execute(
            text("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'")
        ).scalar()
    eng.dispose()
    assert n == 0  # nothing created
    assert run("init", "--db", postgres_url)[0] == 0
    assert run("lead", "list", "--db", postgres_url)[0] == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_store_from_a_newer_leadgate_is_refused_unchanged(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """After a downgrade the store names a migration this version lacks: one line saying
    so (it was Alembic's "Can't locate revision" trace), for reads, writes, init and serve,
    and the store is left as it was."""
    from sqlalchemy import create_engine, text

    from leadgate.store.database import resolve_url

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'leadgate.db'}"
        assert run("init", "--db", url)[0] == 0
    else:
        url = request.getfixturevalue("postgres_url")
    assert run("lead", "add", "--email", "ann@acme.com", "--db", url)[0] == 0
    eng = create_engine(resolve_url(url))
    with eng.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999_from_the_future'"))
    eng.dispose()
    for args in (
        ("lead", "show", "ann@acme.com"),
        ("lead", "add", "--email", "bob@acme.com"),
        ("init",),
        ("serve", "--port", "1"),
    ):
        code, _, err = run(*args, "--db", url)
        assert code == 2, (args, err)
        line = one_error_line(err)
        assert "was written by a newer leadgate" in line and "0999_from_the_future" in line
    eng = create_engine(resolve_url(url))
    with eng.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            "0999_from_the_future"
        )
        assert conn.execute(text("SELECT email FROM leads")).scalars().all() == ["ann@acme.com"]
    eng.dispose()


def test_a_subprocess_prints_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "leadgate.bd"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "leadgate.cli.main",
            "--db",
            f"sqlite:///{path}",
            "lead",
            "show",
            "x@y.co",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    one_error_line(p.stderr)
    assert not path.exists()


# -- 2. a read-only store ----------------------------------------------------------------


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _freeze(paths: list[Path]) -> None:
    """Make `paths` unwritable even for root (chattr +i), or skip."""
    if os.geteuid() != 0:
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return
    for p in paths:
        r = subprocess.run(["chattr", "+i", str(p)], capture_output=True, text=True)
        if r.returncode != 0:
            _thaw(paths)
            pytest.skip(f"cannot make a file read-only for root here (chattr: {r.stderr.strip()})")


def _thaw(paths: list[Path]) -> None:
    for p in paths:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(p)], capture_output=True)
        p.chmod(0o755 if p.is_dir() else 0o644)


@pytest.fixture(params=["file", "file-and-directory"])
def frozen_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "leadgate.db"
    url = f"sqlite:///{path}"
    assert run("init", "--db", url)[0] == 0
    assert run("lead", "add", "--email", "ann@acme.com", "--set", "country=de", "--db", url)[0] == 0
    # The CLI's pooled connections (in this process) close, and the last close
    # checkpoints the WAL: only the database file is left, as after a clean shutdown.
    gc.collect()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    assert sorted(p.name for p in folder.iterdir()) == ["leadgate.db"]
    frozen = [path] if request.param == "file" else [path, folder]
    _freeze(frozen)
    try:
        yield url, folder
    finally:
        _thaw(frozen)


def test_reads_work_on_a_read_only_store(frozen_store: tuple[str, Path]) -> None:
    url, folder = frozen_store
    before = _digest(folder)
    code, out, err = run("lead", "show", "ann@acme.com", "--json", "--db", url)
    assert code == 0, err
    assert orjson.loads(out)["email"] == "ann@acme.com"
    code, out, err = run("lead", "list", "--json", "--db", url)
    assert code == 0, err
    assert [x["email"] for x in orjson.loads(out)] == ["ann@acme.com"]
    assert run("report", "funnel", "--db", url)[0] == 0
    code, out, err = run("report", "sources", "--json", "--db", url)
    assert code == 0, (out, err)
    assert run("keys", "list", "--db", url)[0] == 0
    assert run("playbook", "show", "--db", url)[0] == 0
    assert _digest(folder) == before


@pytest.mark.parametrize(
    "cmd",
    [
        ("lead", "add", "--email", "bob@acme.com"),
        ("event", "add", "--email", "ann@acme.com", "--type", "webinar_attended"),
        ("keys", "create", "--role", "admin", "--name", "x"),
        ("lead", "add", "--email", "ann@acme.com", "--set", "country=fr"),
        ("serve", "--port", "1"),
        ("worker",),
    ],
    ids=["lead add", "event add", "keys create", "lead update", "serve", "worker"],
)
def test_writes_to_a_read_only_store_exit_2_naming_the_file(
    frozen_store: tuple[str, Path], cmd: tuple[str, ...]
) -> None:
    url, folder = frozen_store
    before = _digest(folder)
    code, out, err = run(*cmd, "--db", url)
    assert code == 2, (out, err)
    line = one_error_line(err)
    assert str(folder / "leadgate.db") in line and "read-only" in line
    assert _digest(folder) == before


def test_an_unreachable_postgres_server_is_one_line() -> None:
    # Nothing listens on port 1: psycopg's message spans lines; the error must not.
    code, _, err = run("lead", "list", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert code == 2
    assert "cannot open postgresql://nobody@127.0.0.1:1/none" in one_error_line(err)


def test_serve_passes_the_trusted_proxies_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rate limits of the tracker and the forms count the client address: behind a
    # reverse proxy that is the proxy's unless the server trusts its X-Forwarded-For.
    import socket

    import uvicorn

    seen: dict[str, object] = {}
    # `serve` hands its settings to the worker processes in the environment: restored
    # after this test, whatever it set.
    for name in ("DB", "DELIVERY", "TICK", "TICK_SECONDS", "WORKERS", "ACCESS_LOG"):
        monkeypatch.delenv(f"LEADGATE_{name}", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'lg.db'}"
    assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
    args = ["serve", "--db", url, "--port", str(port), "--no-tick", "--no-deliver"]
    r = runner.invoke(app, [*args, "--forwarded-allow-ips", "10.0.0.5,10.0.0.6"])
    assert r.exit_code == 0, r.output
    assert seen["forwarded_allow_ips"] == "10.0.0.5,10.0.0.6"
    assert seen["port"] == port
    seen.clear()
    assert runner.invoke(app, args).exit_code == 0
    assert seen["forwarded_allow_ips"] is None  # uvicorn's default applies
