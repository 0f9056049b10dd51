"""`leadgate demo`: build a realistic synthetic store and show the funnel and MQL queue."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url

from leadgate.cli.common import DbOpt, JsonOpt, console, handle_errors, open_engine, print_json
from leadgate.cli.reports import print_funnel
from leadgate.cli.tables import table
from leadgate.engine.engine import Engine, iter_chunks
from leadgate.ingest.validate import parse_event, parse_time
from leadgate.lifecycle.stages import IllegalTransition
from leadgate.sales import Sales
from leadgate.sales import install as install_sales
from leadgate.store.database import resolve_url
from leadgate.store.repository import Repository


def load_demo(
    engine: Engine, n_leads: int, n_events: int, seed: int, days: int = 180
) -> dict[str, Any]:
    """Generate the seeded demo data and load it through the engine (the real code path)."""
    from leadgate.demo.generator import generate

    now = engine.clock()
    t0 = time.perf_counter()
    # The window ends now, so decay and SLAs look as they would in a live store.
    start = datetime.fromtimestamp(now, UTC) - timedelta(days=days, minutes=10)
    data = generate(n_leads=n_leads, n_events=n_events, seed=seed, start=start, days=days)
    gen_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    # The team first, so the MQLs the events make are routed to BDRs as they arrive.
    sales = install_sales(engine)
    have = {r["name"] for r in sales.reps()}
    for rep in data.reps:
        if rep["name"] not in have:
            sales.add_rep(**rep)
    rows = []
    for lead in data.leads:
        attrs = {
            k: v
            for k, v in lead.items()
            if k not in ("email", "created_at") and v not in (None, "")
        }
        created = (
            parse_time(lead["created_at"], "created_at", now) if lead.get("created_at") else None
        )
        rows.append((lead["email"].strip().lower(), attrs, created))
    for chunk in iter_chunks(rows, 5000):
        engine.upsert_leads(chunk, actor="demo")
    events = sorted(data.events, key=lambda e: e["occurred_at"])
    for chunk in iter_chunks(events, 20_000):
        engine.ingest([parse_event(e, now) for e in chunk], now)
    moved = skipped = 0
    # The stage each lead was last moved to here: answers are recorded only on a lead
    # that is really in SAL (its earlier moves may have been skipped).
    stage_of: dict[str, str] = {}
    real_clock = engine.clock
    try:
        for action in sorted(data.actions, key=lambda a: a["at"]):
            at = parse_time(action["at"], "at", now)
            engine.clock = lambda at=at: at  # type: ignore[misc]
            if _play(sales, engine, action, stage_of.get(action["email"])):
                stage_of[action["email"]] = action["to"]
                moved += 1
            else:
                skipped += 1
    finally:
        engine.clock = real_clock
    engine.tick()
    return {
        "leads": len(data.leads),
        "events": len(data.events),
        "sales_actions": moved,
        "sales_actions_skipped": skipped,
        "generate_seconds": round(gen_s, 2),
        "load_seconds": round(time.perf_counter() - t1, 2),
    }


def _play(sales: Sales, engine: Engine, action: dict[str, Any], stage: str | None) -> bool:
    """One scripted move, done the way a rep does it: BANT answers before SQL, the
    opportunity (which makes the SQO) through the sales API. False when it cannot apply."""
    email, actor = action["email"], action["actor"]
    role, _, _ = actor.partition(":")
    if role in ("bdr", "ae"):
        # The script picks its reps blind; the move is made by whoever routing gave the
        # lead to, so the history and `owner` tell one story.
        with engine.db.read() as conn:
            row = (
                Repository(engine.db, conn)
                .execute("SELECT owner FROM leads WHERE email = ?", [email])
                .fetchone()
            )
        if row and row[0]:
            actor = f"{role}:{row[0]}"
    try:
        answers = action.get("qualification")
        if answers and stage == "sal":
            sales.qualify(email, answers, actor=actor)
        opp = action.get("opportunity")
        if action["to"] == "sqo" and opp:
            # A replayed history: its close dates may be before the demo's "now".
            sales.opportunity(
                email, opp["amount"], opp["currency"], opp["close_date"], actor, backfill=True
            )
        else:
            engine.set_stage(email, action["to"], action.get("reason"), actor)
    except IllegalTransition:
        # The generator's sales history need not match this playbook's MQLs.
        return False
    return True


def register(app: typer.Typer) -> None:
    """Add `demo`."""

    @app.command("demo")
    @handle_errors
    def demo(
        leads: Annotated[int, typer.Option(min=1, help="How many leads.")] = 5000,
        events: Annotated[int, typer.Option(min=0, help="How many events.")] = 100_000,
        seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
        reset: Annotated[
            bool, typer.Option("--reset", help="Start from an empty SQLite file.")
        ] = False,
        db: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Load a realistic synthetic funnel (seeded), then print the funnel and the MQL queue."""
        from leadgate.cli.common import _root_db

        url = resolve_url(db or _root_db["url"])
        if reset:
            parsed = make_url(url)
            if parsed.get_backend_name() != "sqlite" or not parsed.database:
                from leadgate.cli.errors import fail

                fail("--reset only deletes SQLite files; use an empty PostgreSQL database")
            for suffix in ("", "-wal", "-shm"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        engine = open_engine(url, create=True)
        stats = load_demo(engine, leads, events, seed)
        funnel = engine.funnel()
        queue = engine.list_leads(stage="mql", limit=10)
        if as_json:
            print_json({"loaded": stats, "funnel": funnel, "mql_queue": queue})
            return
        console.print(
            f"loaded {stats['leads']:,} leads and {stats['events']:,} events "
            f"({stats['sales_actions']:,} sales actions) in {stats['load_seconds']} s "
            f"into {engine.db.url}"
        )
        print_funnel(funnel)
        t = table(
            "email",
            "grade",
            "fit",
            "engagement",
            "score",
            "MQL since",
            title="Top of the MQL queue",
        )
        for r in queue:
            t.add_row(
                r["email"],
                r["grade"],
                f"{r['fit']:g}",
                f"{r['engagement']:g}",
                f"{r['score']:g}",
                r["stage_since"],
            )
        console.print(t)
        console.print(
            "next: leadgate --db "
            + engine.db.url
            + " lead show "
            + (queue[0]["email"] if queue else "EMAIL")
        )
