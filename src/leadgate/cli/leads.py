"""`leadgate lead add|import|show|list|adjust` and `leadgate event add|ingest`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from leadgate.cli.common import (
    DbOpt,
    JsonOpt,
    actor_default,
    console,
    handle_errors,
    open_engine,
    print_json,
)
from leadgate.cli.errors import BadInput
from leadgate.cli.tables import percent, table
from leadgate.cli.terminal import echo, safe_text

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine

# Start-up time (issue 17): `lead show` runs through this module, so what only another
# command needs (the file importers and their report, CRM columns, countries, the
# suppression list...) is imported inside that command. tests/cli/test_startup.py checks
# which modules `lead show` may not load.


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        if "=" not in item:
            raise BadInput(f"{option}: '{item}' is not key=value")
        k, v = item.split("=", 1)
        if not k.strip():
            raise BadInput(f"{option}: '{item}' has an empty key")
        out[k.strip()] = v
    return out


# Names `lead add --set` refuses: they are not fields but what commands manage.
RESERVED = {
    "email": "the email is the lead's key; use --email",
    "email_domain": "it is derived from the email",
    "stage": "use `leadgate stage set EMAIL STAGE [--reason R]`",
    "owner": "use `leadgate assign EMAIL --rep REP --reason R`",
    **dict.fromkeys(
        ("score", "fit", "engagement", "grade", "fit_grade", "engagement_grade"),
        "use `leadgate lead adjust EMAIL --points N --reason R [--score fit|engagement]`",
    ),
}
FIELD_CLEARED = "field_cleared"


def _attributes_of(engine: Engine, email: str) -> dict[str, Any]:
    from leadgate.engine.engine import NotFound

    try:
        return dict(engine.show(email)["attributes"])
    except NotFound:
        return {}


def _audit_clears(engine: Engine, email: str, cleared: dict[str, Any], actor: str) -> None:
    """One `field_cleared` event per cleared field: who cleared what, and what it was."""
    from leadgate.ingest.validate import EventIn

    now = engine.clock()
    events = []
    for k, was in cleared.items():
        props = {"field": k, "was": was, "actor": actor}
        eid = f"clear-{time.time_ns()}-{k}-{email}"
        events.append(EventIn(eid, email, FIELD_CLEARED, now, props, orjson.dumps(props).decode()))
    engine.ingest(events, now)


# `lead list` columns read from its rows (`since` is the row's stage_since); any other
# name in --fields is a lead field, read from the stored attributes.
_ROW_KEYS = {
    "stage": "stage",
    "grade": "grade",
    "fit": "fit",
    "engagement": "engagement",
    "score": "score",
    "since": "stage_since",
    "owner": "owner",
    "updated_at": "updated_at",
    "id": "id",
}
_DEFAULT_COLUMNS = ["stage", "grade", "fit", "engagement", "score", "since"]


def _columns(fields: str | None) -> list[str]:
    from leadgate.ingest.columns import canonical

    if fields is None:
        return list(_DEFAULT_COLUMNS)
    cols = [canonical(f) for f in fields.split(",") if f.strip()]
    if not cols:
        raise BadInput("--fields: name at least one column, e.g. --fields job_title,score")
    return [c for c in cols if c != "email"]


def _cell(v: Any, column: str) -> str:
    if v is None:
        return ""
    if column == "predicted" and isinstance(v, int | float):
        return percent(float(v))
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _attributes_by_id(engine: Engine, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The stored fields of these leads, read in chunks."""
    from leadgate.store.repository import Repository, loads

    out: dict[int, dict[str, Any]] = {}
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            cur = repo.execute(f"SELECT id, attributes FROM leads WHERE id IN ({marks})", chunk)
            out.update({int(r[0]): loads(r[1]) for r in cur.fetchall()})
    return out


def register(app: typer.Typer) -> None:
    """Add the `lead` and `event` command groups."""
    lead = typer.Typer(help="Add, import, inspect and list leads.", no_args_is_help=True)
    event = typer.Typer(help="Record events (what leads did).", no_args_is_help=True)
    app.add_typer(lead, name="lead")
    app.add_typer(event, name="event")

    @lead.command("add")
    @handle_errors
    def add(
        email: Annotated[str, typer.Option("--email", help="The lead's email (the key).")],
        set_: Annotated[
            list[str], typer.Option("--set", help="field=value (repeatable), e.g. job_title=CTO")
        ] = [],  # noqa: B006 - Typer reads the default, never mutates it
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Create a lead, or update its fields (matched by email, ignoring case).

        An empty value (`--set country=`) clears the field; the clear is recorded as a
        `field_cleared` event (who, which field, the old value)."""
        from leadgate.ingest.columns import canonical, typed_value
        from leadgate.ingest.validate import check_email
        from leadgate.privacy.suppression import REFUSED as SUPPRESSED

        norm = check_email(email)
        raw = _pairs(set_, "--set")
        country = raw.get("country")
        attrs: dict[str, Any] = {}
        clears: list[str] = []
        for k, v in raw.items():
            key = canonical(k)
            if key in RESERVED:
                raise BadInput(f"--set {k}: '{key}' is not a field; {RESERVED[key]}")
            value = typed_value(key, v, country)
            if value is None:
                clears.append(key)
            else:
                attrs[key] = value
        engine = open_engine(db)
        who = actor_default()
        before = _attributes_of(engine, norm) if clears else {}
        cleared = {k: before[k] for k in clears if before.get(k) is not None}
        attrs.update(dict.fromkeys(cleared))
        refused: list[str] = []
        created, updated, _ = engine.upsert_leads([(norm, attrs, None)], who, refused)
        if refused:
            raise BadInput(f"--email: {norm} is {SUPPRESSED}")
        if cleared:
            _audit_clears(engine, norm, cleared, who)
        data = engine.show(norm)
        if as_json:
            print_json(data)
        else:
            verb = "created" if created else ("updated" if updated else "unchanged")
            gone = ", ".join(f"{k} (was {v})" for k, v in cleared.items())
            echo(
                f"{verb} {norm}: stage {data['stage']}, score {data['score']:g}, "
                f"grade {data['grade']}" + (f"; cleared {gone}" if gone else "")
            )

    @lead.command("import")
    @handle_errors
    def import_(
        file: Annotated[Path, typer.Argument(help="CSV export (Email, First Name, Company, ...).")],
        rejects: Annotated[
            Path | None,
            typer.Option(help="Where to write rejected lines (default FILE.rejects.jsonl)."),
        ] = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 5000,
        date_order: Annotated[
            str | None,
            typer.Option(
                "--date-order",
                help="dmy, mdy or ymd: how to read dates like 03/04/2026 when no row decides.",
            ),
        ] = None,
        decimal: Annotated[
            str | None,
            typer.Option("--decimal", help="',' or '.': the decimal mark, when no value decides."),
        ] = None,
        encoding: Annotated[
            str | None,
            typer.Option(help="The file's text encoding (default: detected), e.g. cp1252."),
        ] = None,
        source: Annotated[
            str | None,
            typer.Option(
                help="The CRM that wrote the file (hubspot, salesforce, pipedrive, zoho or "
                "any name; default: recognised from the header). Record ids are kept per source."
            ),
        ] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Import leads from a CSV file; bad rows are reported by line and the rest land.

        Only a bad email rejects a row; a bad optional value is skipped (in the rejects
        file with its line and column). Number and date formats are decided per column
        from the whole file and printed."""
        from leadgate.cli.import_report import print_report, with_progress
        from leadgate.ingest.formats import DATE_ORDERS, DECIMALS
        from leadgate.ingest.leads_file import LeadImportOptions, import_leads

        if date_order is not None and date_order.strip().lower() not in DATE_ORDERS:
            raise BadInput(f"--date-order: '{date_order}' is not one of dmy, mdy, ymd")
        if decimal is not None and decimal.strip() not in DECIMALS:
            raise BadInput(f"--decimal: '{decimal}' is not ',' or '.'")
        engine = open_engine(db)
        from leadgate.sales import sales_of
        from leadgate.sales.import_owners import ImportOwners

        opts = LeadImportOptions(
            date_order=date_order.strip().lower() if date_order else None,
            decimal=decimal.strip() if decimal else None,
            encoding=encoding,
            source=source.strip().lower() if source and source.strip() else None,
            owners=ImportOwners(sales_of(engine)),
        )
        report = with_progress(
            file,
            as_json,
            lambda p: import_leads(engine, file, rejects, batch_size, p, opts),
            "leads",
        )
        print_report(report, as_json, "leads")

    @lead.command("show")
    @handle_errors
    def show(
        email: Annotated[str, typer.Argument(help="The lead's email.")],
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """A lead's scores, grade, stage, the reason for every point, and its history."""
        engine = open_engine(db)
        data = engine.show(email)
        if as_json:
            print_json(data)
            return
        console.print(
            safe_text(
                (data["email"], "bold"),
                "  stage ",
                (data["stage"], "bold"),
                f" since {data['stage_since']}  grade ",
                (data["grade"], "bold"),
                f"  (playbook v{data['playbook_version']})",
            )
        )
        console.print(
            f"fit {data['fit']:g} ({data['fit_grade']})  engagement {data['engagement']:g} "
            f"({data['engagement_grade']})  score {data['score']:g}  as of {data['as_of']}"
        )
        if data.get("owner") or data.get("sla_due_at"):
            console.print(
                safe_text(
                    f"owner {data.get('owner') or '-'}  SLA due {data.get('sla_due_at') or '-'}",
                    (" (overdue)", "red") if data.get("sla_overdue") else "",
                )
            )
        if data.get("predicted") is not None:
            console.print(f"predicted conversion {data['predicted']:.1%}")
            ex = data.get("predicted_factors") or {}
            for word, key in (("up", "up"), ("down", "down")):
                parts = [f"{f['feature']}={f['value']}" for f in ex.get(key) or []]
                if parts:
                    console.print(f"  pushed {word} by: " + ", ".join(parts))
        t = table("score", "rule", "points", title="Why")
        for line in data["explanation"]:
            t.add_row(line["score"], line["rule"], f"{line['points']:+g}")
        console.print(t)
        h = table("at", "from", "to", "by", "reason", title="History")
        for item in data["history"]:
            h.add_row(item["at"], item["from"], item["to"], item["actor"], item["reason"] or "")
        console.print(h)
        fields = {k: v for k, v in data["attributes"].items() if v is not None}
        if fields:
            console.print("fields: " + ", ".join(f"{k}={v}" for k, v in sorted(fields.items())))
        console.print("may move to: " + (", ".join(data["allowed_stages"]) or "nothing"))

    @lead.command("list")
    @handle_errors
    def list_(
        stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
        grade: Annotated[
            str | None, typer.Option(help="Fit grade (A), engagement (1) or both (A1).")
        ] = None,
        owner: Annotated[str | None, typer.Option(help="Only this owner.")] = None,
        min_score: Annotated[float | None, typer.Option(help="Only scores at or above.")] = None,
        sort: Annotated[
            str, typer.Option(help="priority, score, recent or predicted (leadgate predict).")
        ] = "priority",
        fields: Annotated[
            str | None,
            typer.Option(
                "--fields",
                help="Columns after the email, comma-separated: stage, grade, fit, engagement, "
                "score, since, owner, predicted or any lead field (job_title, company ...).",
            ),
        ] = None,
        limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
        segment: Annotated[
            str | None,
            typer.Option(help="Only the leads in this segment of the playbook (segments:)."),
        ] = None,
        csv_file: Annotated[
            str | None,
            typer.Option("--csv", help="Also write the list (email and the columns) to this CSV."),
        ] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Leads, best first."""
        from leadgate.lifecycle.stages import stage_name

        engine = open_engine(db)
        if stage is not None:
            stage = stage_name(stage)
        rows = engine.list_leads(stage, grade, owner, min_score, limit, sort, segment=segment)
        cols = _columns(fields)
        extra = [c for c in cols if c not in _ROW_KEYS]
        if extra:
            attrs = _attributes_by_id(engine, [r["id"] for r in rows])
            for r in rows:
                a = attrs.get(r["id"], {})
                for c in extra:
                    r[c] = a.get(c)
        if csv_file:
            from leadgate import csvout

            with open(csv_file, "w", encoding="utf-8", newline="") as fh:
                w = csvout.writer(fh)
                w.writerow(["email", *cols])
                w.writerows([r["email"], *(r.get(_ROW_KEYS.get(c, c)) for c in cols)] for r in rows)
        if as_json:
            print_json(rows)
            return
        t = table("email", *cols)
        for r in rows:
            t.add_row(r["email"], *(_cell(r.get(_ROW_KEYS.get(c, c)), c) for c in cols))
        console.print(t)

    @lead.command("adjust")
    @handle_errors
    def adjust(
        email: Annotated[str, typer.Argument(help="The lead's email.")],
        points: Annotated[
            float, typer.Option("--points", help="Points to add (negative to remove).")
        ],
        reason: Annotated[str, typer.Option("--reason", help="Why (shown in the explanation).")],
        score: Annotated[str, typer.Option(help="fit or engagement.")] = "engagement",
        actor: Annotated[str | None, typer.Option(help="Who adjusts.")] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Add or remove points by hand; stored as an audited event and explained."""
        engine = open_engine(db)
        data = engine.adjust(email, points, reason, actor or actor_default(), score)
        if as_json:
            print_json(data)
        else:
            echo(
                f"{data['email']}: score {data['score']:g} ({data['grade']}), stage {data['stage']}"
            )

    @event.command("add")
    @handle_errors
    def event_add(
        email: Annotated[
            str, typer.Option("--email", help="Whose event (creates the lead if new).")
        ],
        type_: Annotated[str, typer.Option("--type", help="Event type, e.g. webinar_attended.")],
        at: Annotated[
            str | None, typer.Option("--at", help="When (ISO 8601; default now).")
        ] = None,
        id_: Annotated[
            str | None, typer.Option("--id", help="Your id for it (re-sending is safe).")
        ] = None,
        prop: Annotated[list[str], typer.Option("--prop", help="key=value (repeatable).")] = [],  # noqa: B006
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Record one event and show the lead's new score and stage."""
        from leadgate.ingest.validate import parse_event, parse_time

        engine = open_engine(db)
        now = engine.clock()
        if at is not None:
            parse_time(at, "--at", now)
        ev = parse_event(
            {
                "email": email,
                "type": type_,
                "occurred_at": at,
                "id": id_,
                "properties": _pairs(prop, "--prop"),
            },
            now,
        )
        [result] = engine.ingest([ev], now)
        if result.status == "rejected":
            raise BadInput(f"--email: {ev.email}: {result.error}")
        data = engine.show(ev.email)
        if as_json:
            print_json({"event": {"id": result.id, "status": result.status}, "lead": data})
        else:
            echo(
                f"{result.status} {result.id}: {data['email']} score {data['score']:g} "
                f"({data['grade']}), stage {data['stage']}"
            )

    @event.command("ingest")
    @handle_errors
    def event_ingest(
        file: Annotated[Path, typer.Argument(help="JSONL (one event per line) or CSV.")],
        rejects: Annotated[
            Path | None,
            typer.Option(help="Where to write rejected lines (default FILE.rejects.jsonl)."),
        ] = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Events per transaction.")] = 100000,
        window: Annotated[
            int | None,
            typer.Option(
                min=1,
                help="Events read ahead and regrouped by lead, so each lead is saved once per "
                "window (default: 5 batches, at most 500,000; = --batch-size keeps file order).",
            ),
        ] = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Load events from a file; bad lines are reported by number and the rest land."""
        from leadgate.cli.import_report import print_report, with_progress
        from leadgate.ingest.files import ingest_events

        engine = open_engine(db)
        report = with_progress(
            file,
            as_json,
            lambda p: ingest_events(engine, file, rejects, batch_size, p, window),
            "events",
        )
        print_report(report, as_json, "events")
