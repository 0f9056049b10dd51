"""`leadgate demo`: build a realistic synthetic store and show the funnel and MQL queue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url

from leadgate.cli.common import DbOpt, JsonOpt, console, handle_errors, open_engine, print_json
from leadgate.cli.reports import print_funnel
from leadgate.cli.tables import table
from leadgate.engine.engine import Engine
from leadgate.store.database import resolve_url


def load_demo(
    engine: Engine, n_leads: int, n_events: int, seed: int, days: int = 180
) -> dict[str, Any]:
    """`leadgate.demo.loader.load_demo` (imported when used: the CLI starts without the
    generator's tables)."""
    from leadgate.demo.loader import load_demo as play

    return play(engine, n_leads, n_events, seed, days)


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
