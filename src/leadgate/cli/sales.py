"""`leadgate reps|qualify|queue|assign|handoff|opportunity|scheduler|nurture`: the sales
team's day."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import OperationalError
from typer.core import TyperGroup

from leadgate.cli.common import (
    DbOpt,
    JsonOpt,
    actor_default,
    handle_errors,
    open_engine,
    print_json,
)
from leadgate.cli.errors import fail
from leadgate.cli.terminal import echo
from leadgate.qualification.frameworks import QualificationError
from leadgate.sales import Sales, install
from leadgate.sla.calendar import CalendarError

F = TypeVar("F", bound=Callable[..., Any])


def _sales_errors(fn: F) -> F:
    """Qualification and calendar mistakes are bad input too: one line, exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (QualificationError, CalendarError) as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


BackfillOpt = Annotated[
    bool,
    typer.Option(
        "--backfill", help="Allow a close date in the past (recording a deal after the fact)."
    ),
]


class _CreateByDefault(TyperGroup):
    """`leadgate opportunity EMAIL ...` (the original form) runs `opportunity create`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["create", *args]
        return super().parse_args(ctx, args)


def _open(db: str | None) -> Sales:
    return install(open_engine(db))


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        key, eq, val = v.partition("=")
        if not eq or not key.strip():
            fail(f"{option}: '{v}' is not KEY=VALUE")
        out[key.strip()] = val.strip()
    return out


def register(app: typer.Typer) -> None:
    """Add the sales commands."""
    reps = typer.Typer(help="Sales reps: BDRs, AEs and managers.", no_args_is_help=True)
    app.add_typer(reps, name="reps")

    @reps.command("add")
    @handle_errors
    @_sales_errors
    def reps_add(
        name: Annotated[str, typer.Argument(help="The rep's name (what `owner` shows).")],
        role: Annotated[str, typer.Option("--role", help="bdr, ae or manager.")],
        team: Annotated[str | None, typer.Option(help="Team name (created if new).")] = None,
        email: Annotated[str | None, typer.Option(help="The rep's email.")] = None,
        timezone: Annotated[
            str | None, typer.Option(help="IANA zone, e.g. Europe/Rome (default: playbook's).")
        ] = None,
        capacity: Annotated[
            int | None, typer.Option(help="Most open leads at once (default: no limit).")
        ] = None,
        hours: Annotated[
            str | None, typer.Option(help="Working hours, e.g. 09:00-17:30 (default: playbook's).")
        ] = None,
        days: Annotated[
            str | None, typer.Option(help="Working days, e.g. mon-fri (default: playbook's).")
        ] = None,
        weight: Annotated[float, typer.Option(help="Share in weighted round robin.")] = 1.0,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Add a rep."""
        r = _open(db).add_rep(name, role, team, email, timezone, capacity, hours, days, weight)
        if as_json:
            print_json(r)
        else:
            echo(f"added {r['role']} {r['name']}" + (f" ({r['team']})" if r["team"] else ""))

    @reps.command("list")
    @handle_errors
    def reps_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """Every rep, with open leads and whether they are away."""
        rows = _open(db).reps()
        if as_json:
            print_json(rows)
            return
        if not rows:
            echo("no reps yet: leadgate reps add NAME --role bdr")
            return
        for r in rows:
            cap = f"/{r['capacity']}" if r["capacity"] else ""
            away = f"  away until {r['away_until']}" if r["away"] else ""
            echo(
                f"{r['name']:<20} {r['role']:<8} {r['team'] or '-':<12} "
                f"{r['open_leads']}{cap} open{away}"
            )

    @reps.command("away")
    @handle_errors
    def reps_away(
        name: Annotated[str, typer.Argument(help="The rep.")],
        until: Annotated[
            str | None,
            typer.Option(help="Back on this date (YYYY-MM-DD, rep's zone) or ISO time."),
        ] = None,
        back: Annotated[bool, typer.Option("--back", help="Back now (clears away).")] = False,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Mark a rep out of office: routing skips them until then."""
        if until is None and not back:
            fail("--until: give a date, or --back")
        r = _open(db).set_away(name, None if back else until)
        if as_json:
            print_json(r)
        else:
            echo(f"{name}: away until {r['away_until']}" if r["away"] else f"{name}: back")

    @app.command("qualify")
    @handle_errors
    @_sales_errors
    def qualify(
        email: Annotated[str, typer.Argument(help="The lead's email.")],
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", help="criterion=met|not_met|unknown (repeatable)."),
        ] = None,
        note: Annotated[
            list[str] | None, typer.Option("--note", help='criterion="what was said" (repeatable).')
        ] = None,
        actor: Annotated[str | None, typer.Option(help="Who records it.")] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Record discovery-call answers (BANT by default). Without --set/--note: show them."""
        sales = _open(db)
        answers, notes = _pairs(set_, "--set"), _pairs(note, "--note")
        if answers or notes:
            q = sales.qualify(email, answers, notes, actor or actor_default())
        else:
            q = sales.qualification(email)
        if as_json:
            print_json(q)
            return
        for c in q["criteria"]:
            n = f"  — {c['note']}" if c["note"] else ""
            echo(f"{c['label']:<24} {c['status']:<8}{n}")
        echo(q["summary"])

    @app.command("queue")
    @handle_errors
    def queue(
        rep: Annotated[str | None, typer.Option("--rep", help="Only this rep's leads.")] = None,
        limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Open work by priority: SLA time left, then grade, then score — with the reason."""
        rows = _open(db).queue(rep, limit)
        if as_json:
            print_json(rows)
            return
        if not rows:
            echo("queue is empty")
        for r in rows:
            echo(
                f"{r['position']:>3}. {r['email']:<32} {r['stage']:<4} {r['owner'] or '-':<12} "
                f"{r['reason']}"
            )

    @app.command("assign")
    @handle_errors
    def assign(
        email: Annotated[str, typer.Argument(help="The lead's email.")],
        rep: Annotated[str, typer.Option("--rep", help="The new owner.")],
        reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit).")],
        actor: Annotated[str | None, typer.Option(help="Who reassigns.")] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Reassign a lead (audited). An MQL's acceptance SLA restarts for the new owner."""
        data = _open(db).assign(email, rep, reason, actor or actor_default())
        if as_json:
            print_json(data)
        else:
            echo(f"{data['email']}: owner {data['owner']}, SLA due {data['sla_due_at']}")

    @app.command("handoff")
    @handle_errors
    def handoff(
        email: Annotated[str, typer.Argument(help="The lead's email.")],
        ae: Annotated[
            str | None, typer.Option("--ae", help="Hand to this AE (default: routing rules).")
        ] = None,
        actor: Annotated[str | None, typer.Option(help="Who hands it over.")] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """SAL → SQL once the framework passes, handed to an AE with the BDR's notes."""
        data = _open(db).promote_sql(email, actor or actor_default(), ae)
        if as_json:
            print_json(data)
        else:
            echo(f"{data['email']}: sql, handed to {data['owner']}")

    opp = typer.Typer(
        cls=_CreateByDefault,
        help="Opportunities: `opportunity EMAIL --amount ...` accepts an SQL (SQL → SQO); "
        "`opportunity update EMAIL ...` changes the open one.",
        no_args_is_help=True,
    )
    app.add_typer(opp, name="opportunity")

    def _print_opp(data: dict[str, Any], as_json: bool) -> None:
        if as_json:
            print_json(data)
        else:
            o = data["opportunity"]
            echo(
                f"{data['email']}: {data['stage']}, {o['amount']:g} {o['currency']}, "
                f"closing {o['expected_close']}"
            )

    @opp.command("create")
    @handle_errors
    def opportunity(
        email: Annotated[str, typer.Argument(help="The lead's email.")],
        amount: Annotated[str, typer.Option("--amount", help="Deal value.")],
        currency: Annotated[str, typer.Option("--currency", help="ISO 4217, e.g. EUR.")],
        close_date: Annotated[
            str, typer.Option("--close-date", help="Expected close, YYYY-MM-DD (today or later).")
        ],
        backfill: BackfillOpt = False,
        actor: Annotated[str | None, typer.Option(help="The AE.")] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The AE accepts an SQL as an opportunity: SQL → SQO (`create` may be left out)."""
        data = _open(db).opportunity(
            email, amount, currency, close_date, actor or actor_default(), backfill=backfill
        )
        _print_opp(data, as_json)

    @opp.command("update")
    @handle_errors
    def opportunity_update(
        email: Annotated[str, typer.Argument(help="The lead's email.")],
        amount: Annotated[str | None, typer.Option("--amount", help="New deal value.")] = None,
        currency: Annotated[str | None, typer.Option("--currency", help="New currency.")] = None,
        close_date: Annotated[
            str | None, typer.Option("--close-date", help="New expected close, YYYY-MM-DD.")
        ] = None,
        backfill: BackfillOpt = False,
        actor: Annotated[str | None, typer.Option(help="Who changes it.")] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Change the open opportunity (kept as an `opportunity_updated` event)."""
        data = _open(db).update_opportunity(
            email,
            actor or actor_default(),
            amount=amount,
            currency=currency,
            close_date=close_date,
            backfill=backfill,
        )
        _print_opp(data, as_json)

    nurture = typer.Typer(help="Nurture tracks: a lead's timeline, the mail outbox.")
    app.add_typer(nurture, name="nurture")

    @nurture.command("enrol")
    @handle_errors
    def nurture_enrol(
        track: Annotated[str, typer.Option("--track", help="The playbook's nurture track.")],
        segment: Annotated[
            list[str],
            typer.Option(
                "--segment",
                help="field=value (repeatable, any case), e.g. country=DE or "
                "nurture_reason=lost: only those leads.",
            ),
        ] = [],  # noqa: B006 - Typer reads the default, never mutates it
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Count them, enrol nobody.")
        ] = False,
        actor: Annotated[str | None, typer.Option(help="Who enrols them.")] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Enrol leads already in nurture (in no track) that match the track and segment."""
        pairs: dict[str, str] = {}
        for item in segment:
            k, sep, v = item.partition("=")
            if not sep or not k.strip():
                fail(f"--segment: '{item}' is not field=value")
            pairs[k.strip()] = v
        data = _open(db).enrol(track, pairs, actor or actor_default(), dry_run)
        if as_json:
            print_json(data)
        else:
            verb = "would enrol" if dry_run else "enrolled"
            echo(f"{verb} {data['enrolled']} leads already in nurture in track '{track}'")

    @nurture.command("show")
    @handle_errors
    def nurture_show(
        email: Annotated[str, typer.Argument(help="The lead (email or id).")],
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The lead's nurture track, where it is, and every step it went through."""
        data = _open(db).nurture(email)
        if as_json:
            print_json(data)
            return
        n = data["nurture"]
        if n is None:
            echo(f"{data['email']}: {data['stage']}, never enrolled in a nurture track")
            return
        nxt = f", next step at {n['next_step_at']}" if n["next_step_at"] else ""
        end = f" ({n['end_reason']})" if n["end_reason"] else ""
        echo(
            f"{data['email']}: {data['stage']}, track '{n['track']}' {n['status']}{end}, "
            f"step {n['step']}{nxt}"
        )
        for t in n["timeline"]:
            step = f"step {t['step']}" if t["step"] is not None else "-"
            echo(f"  {t['at']}  {t['kind']:<9} {step:<7} {t['detail']}")

    @nurture.command("outbox")
    @handle_errors
    def nurture_outbox(db: DbOpt = None, as_json: JsonOpt = False) -> None:
        """Nurture e-mail per status (pending ones are sent by `leadgate scheduler`)."""
        counts = _open(db).mail_outbox()
        if as_json:
            print_json(counts)
        else:
            echo(", ".join(f"{v} {k}" for k, v in counts.items()))

    @nurture.command("replay")
    @handle_errors
    def nurture_replay(
        message: Annotated[
            str | None, typer.Option("--id", help="Only this message (default: every dead one).")
        ] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Queue dead nurture e-mail again, e.g. after fixing the SMTP settings."""
        n = _open(db).replay_mail(message, actor_default())
        if as_json:
            print_json({"queued": n})
        else:
            echo(f"queued {n} message(s) again; the next scheduler tick sends them")

    @app.command("scheduler")
    @handle_errors
    def scheduler(
        once: Annotated[bool, typer.Option("--once", help="One tick, then exit.")] = False,
        interval: Annotated[float, typer.Option(help="Seconds between ticks.")] = 15.0,
        name: Annotated[str, typer.Option(help="This worker's name (in the job log).")] = "",
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Fire SLA deadlines, decay exits, cooldown ends and nurture steps when due, and send
        the nurture mail outbox. Safe to run several at once on PostgreSQL: each job fires
        once."""
        import os
        import socket

        sales = _open(db)
        worker = name or f"{socket.gethostname()}:{os.getpid()}"
        while True:
            if once:
                out = sales.tick(worker=worker)
            else:
                try:
                    out = sales.tick(worker=worker)
                except OperationalError as exc:
                    # A database that is restarting or unreachable for a moment: what was
                    # due is still due at the next tick (each tick is its own transactions).
                    echo(f"scheduler: tick failed, retrying: {exc.orig}", err=True)
                    time.sleep(interval)
                    continue
            if as_json:
                print_json(out)
            elif once or any(out.values()):
                echo(
                    f"{out['transitions']} stage changes, {out['sla_breached']} SLA breaches, "
                    f"{out['reassigned']} reassigned, {out['nurture_steps']} nurture steps, "
                    f"{out['messages_sent']} messages sent, {out['messages_failed']} failed"
                )
            if once:
                return
            time.sleep(interval)
