"""Shared by the first-hour CLI tests (issue 19): one `leadgate` command at a time."""

from __future__ import annotations

from typer.testing import CliRunner

from leadgate.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout, stderr of one `leadgate` command."""
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr
