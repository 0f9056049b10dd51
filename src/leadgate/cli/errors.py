"""How the CLI reports bad input: one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from leadgate.cli.terminal import echo


class BadInput(Exception):
    """Raised anywhere below the CLI for input the user must fix (exit code 2)."""


def fail(message: str) -> NoReturn:
    """Print a one-line reason on stderr and exit with code 2."""
    echo(f"error: {message}", err=True)
    sys.stdout.flush()
    raise typer.Exit(code=2)
