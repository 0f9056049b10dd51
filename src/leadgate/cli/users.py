"""`leadgate users add|list|disable|reset-password|sign-out`: the people who sign in to
the web app.

    $ leadgate users add anna --role sales --rep anna
    Tq3…  (the generated password, printed once on stdout)
    $ printf '%s' "$PW" | leadgate users add olga --role marketing --password-stdin
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from leadgate.cli.common import (
    DbOpt,
    JsonOpt,
    actor_default,
    console,
    handle_errors,
    open_engine,
    print_json,
)
from leadgate.cli.errors import BadInput, fail
from leadgate.cli.terminal import echo
from leadgate.users import ROLES, User, UserNotFound, Users

PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from stdin (one line) instead of generating one.",
    ),
]


def _read_password() -> str:
    text = sys.stdin.read()
    # One trailing newline is how `echo` and here-strings end; anything else is kept and
    # judged by the policy (which refuses surrounding white space).
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise BadInput("--password-stdin: nothing on stdin")
    return text


def _print_user(user: User, made: str | None, as_json: bool) -> bool:
    """The user as JSON (with the generated password, if any), or the generated password
    alone on stdout, so `PW=$(leadgate users add ...)` captures it. True when done."""
    if as_json:
        out = user.as_dict()
        if made is not None:
            out["password"] = made
        print_json(out)
        return True
    if made is not None:
        echo(made)
    return False


def _users(db: str | None) -> Users:
    return Users(open_engine(db, ensure_playbook=False).db)


def register(app: typer.Typer) -> None:
    """Add the `users` group."""
    users = typer.Typer(
        help="People who sign in to the web app: add, list, disable, reset-password.",
        no_args_is_help=True,
    )
    app.add_typer(users, name="users")

    @users.command("add")
    @handle_errors
    def users_add(
        name: Annotated[str, typer.Argument(help="Sign-in name (lower case; e.g. anna).")],
        role: Annotated[str, typer.Option(help=" | ".join(ROLES))],
        rep: Annotated[
            str | None, typer.Option(help="The sales rep whose queue this person works.")
        ] = None,
        password_stdin: PasswordStdinOpt = False,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Add a user. Without --password-stdin a password is generated and printed once."""
        password = _read_password() if password_stdin else None
        user, made = _users(db).add(name, role, rep, password, actor_default())
        if _print_user(user, made, as_json):
            return
        echo(
            f"user '{user.name}' (role {user.role}"
            + (f", rep {user.rep}" if user.rep else "")
            + ") added"
            + ("; the password above is shown once" if made is not None else ""),
            err=True,
        )

    @users.command("list")
    @handle_errors
    def users_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """Every user (never a password)."""
        items = _users(db).list_users()
        if as_json:
            print_json([u.as_dict() for u in items])
            return
        t = Table("id", "name", "role", "rep", "created", "status")
        for u in items:
            d = u.as_dict()
            status = "active" if u.active else f"disabled {d['disabled_at']}"
            t.add_row(str(u.id), u.name, u.role, u.rep or "", d["created_at"], status)
        console.print(t)

    @users.command("disable")
    @handle_errors
    def users_disable(
        name: Annotated[str, typer.Argument(help="The user's name.")],
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Disable a user: sign-in refused and every session ended, at once."""
        try:
            user = _users(db).disable(name)
        except UserNotFound as exc:
            fail(str(exc))
        if as_json:
            print_json(user.as_dict())
        else:
            echo(f"user '{user.name}' disabled; their sessions are ended")

    @users.command("reset-password")
    @handle_errors
    def users_reset(
        name: Annotated[str, typer.Argument(help="The user's name.")],
        password_stdin: PasswordStdinOpt = False,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Set a new password (generated and printed once unless --password-stdin); ends
        every session of the user."""
        password = _read_password() if password_stdin else None
        try:
            user, made = _users(db).reset_password(name, password)
        except UserNotFound as exc:
            fail(str(exc))
        if _print_user(user, made, as_json):
            return
        echo(f"password of '{user.name}' reset; their sessions are ended", err=True)

    @users.command("sign-out")
    @handle_errors
    def users_sign_out(
        name: Annotated[str, typer.Argument(help="The user's name.")],
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """End every session of a user (sign out everywhere)."""
        u = _users(db)
        try:
            user = u.get(name)
        except UserNotFound as exc:
            fail(str(exc))
        n = u.end_all_sessions(user.id)
        if as_json:
            print_json({"name": user.name, "sessions_ended": n})
        else:
            echo(f"{n} session(s) of '{user.name}' ended")
