"""The analytics use cases over an `Engine`'s store: what the CLI and the HTTP API call."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from leadgate.analytics import advice, reports
from leadgate.analytics.backtest import BacktestResult, run_backtest
from leadgate.analytics.batch import export_store, store_connection
from leadgate.engine.engine import Engine, NoPlaybook
from leadgate.ingest.validate import InputError
from leadgate.playbook.loader import load_playbook

REPORT_NAMES = ("funnel", "velocity", "cohorts", "sources", "deciles", "sla", "advice")


def parse_day(value: str | None, field: str) -> float | None:
    """YYYY-MM-DD (or a full ISO time; naive is UTC) to epoch seconds; None stays None."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(field, f"'{text}' is not a date (use YYYY-MM-DD)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def active_text(engine: Engine) -> str:
    """The active playbook's YAML."""
    from leadgate.store.repository import Repository

    with engine.db.read() as conn:
        active = Repository(engine.db, conn).active_playbook()
    if active is None:
        raise NoPlaybook("no active playbook: run `leadgate init`")
    return active[1]


class VerificationFailed(RuntimeError):
    """The set-based backtest disagreed with the exact replay on sampled leads; `result`
    is what it computed (not to be trusted)."""

    def __init__(self, result: BacktestResult):
        m = result.meta
        super().__init__(
            f"verification failed: {m['disagreements']} of {m['verified_leads']} sampled "
            "leads got other MQL moments than the exact replay; run with --exact and "
            "report this"
        )
        self.result = result


def backtest(
    engine: Engine,
    new_text: str,
    against_text: str | None = None,
    start: float | None = None,
    end: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    exact: bool = False,
    verify: int = 1000,
) -> BacktestResult:
    """Replay the store's history under a new playbook and the active one (or `against`).

    By default the set-based path (issue 17): scores in DuckDB, stage moves by the Python
    lifecycle, `verify` leads also replayed exactly, raising VerificationFailed if any
    disagrees; a history of more than 2M events is taken in lead-id ranges, so its memory
    stays under ~2 GB. `exact=True` replays every lead in Python (`workers` processes):
    the oracle, and the way round a failed verification."""
    if verify < 0:
        raise InputError("verify", "must be 0 or more")
    load_playbook(new_text, "new playbook")
    old_text = against_text if against_text is not None else active_text(engine)
    load_playbook(old_text, "--against playbook")
    if start is not None and end is not None and end <= start:
        raise InputError("to", "must be after --from")
    if start is not None and end is None and engine.clock() <= start:
        raise InputError("from", "must be before now (or give --to)")
    with tempfile.TemporaryDirectory(prefix="leadgate-bt-") as tmp:
        exp = export_store(engine.db, Path(tmp))
        paths = (exp.leads, exp.events, exp.transitions)
        until = end if end is not None else engine.clock()
        if exact:
            res = run_backtest(
                paths, old_text, new_text, start, until, workers=workers, progress=progress
            )
            res.meta["method"] = "exact"
            return res
        from leadgate.analytics.setbased import run_setbased

        res = run_setbased(
            paths,
            old_text,
            new_text,
            start,
            until,
            verify=verify,
            progress=progress,
            workers=workers,
        )
    if res.meta.get("disagreements"):
        raise VerificationFailed(res)
    return res


def report(engine: Engine, name: str, **opts: Any) -> reports.Report:
    """One report over the store (see `reports`), computed in DuckDB on an export."""
    if name not in REPORT_NAMES:
        raise InputError("report", f"unknown report '{name}' (one of {', '.join(REPORT_NAMES)})")
    engine.tick()
    with tempfile.TemporaryDirectory(prefix="leadgate-rep-") as tmp:
        con = store_connection(engine.db, Path(tmp))
        try:
            return _report(engine, con, name, **opts)
        finally:
            con.close()


def report_set(engine: Engine, names: tuple[str, ...], **opts: Any) -> dict[str, reports.Report]:
    """Several reports over one export of the store (the web funnel page shows four:
    one export instead of four). Same names and options as `report`."""
    for name in names:
        if name not in REPORT_NAMES:
            raise InputError("report", f"unknown report '{name}'")
    engine.tick()
    with tempfile.TemporaryDirectory(prefix="leadgate-rep-") as tmp:
        con = store_connection(engine.db, Path(tmp))
        try:
            return {name: _report(engine, con, name, **opts) for name in names}
        finally:
            con.close()


def _report(engine: Engine, con: Any, name: str, **opts: Any) -> reports.Report:
    if name == "funnel":
        return reports.funnel(con)
    if name == "velocity":
        return reports.velocity(con)
    if name == "cohorts":
        return reports.cohorts(con)
    if name == "sources":
        by = opts.get("by") or "source"
        if by not in reports.BREAKDOWNS:
            raise InputError("by", f"one of {', '.join(reports.BREAKDOWNS)}")
        return reports.sources(con, by)
    if name == "deciles":
        score = opts.get("score") or "score"
        if score not in ("score", "fit", "engagement"):
            raise InputError("score", "one of score, fit, engagement")
        return reports.deciles(con, score)
    if name == "sla":
        hours = engine.processor().playbook.stages.sal.accept_within_hours
        return reports.sla(con, hours, engine.clock())
    score = opts.get("score") or "score"
    if score not in ("score", "fit", "engagement"):
        raise InputError("score", "one of score, fit, engagement")
    curve = advice.tradeoff(con, score)
    mpm, rate = opts.get("mqls_per_month"), opts.get("min_sql_rate")
    if mpm is not None or rate is not None:
        if mpm is not None and rate is not None:
            raise InputError("target", "give one target: mqls_per_month or min_sql_rate")
        if rate is not None and not 0 <= rate <= 1:
            raise InputError("min_sql_rate", "a share between 0 and 1 (0.25 = 25%)")
        if mpm is not None and not math.isfinite(mpm):
            # `float("inf")` passed "above 0" and asked for an unreachable target; NaN
            # passed it too, since every comparison with NaN is false.
            raise InputError("mqls_per_month", f"must be a finite number above 0, not {mpm}")
        if mpm is not None and mpm <= 0:
            raise InputError("mqls_per_month", "must be above 0")
        curve.notes["advice"] = {
            k: v for k, v in advice.advise(curve, mpm, rate).items() if k != "curve"
        }
    return curve


def stamp() -> str:
    """A directory-friendly timestamp."""
    return time.strftime("%Y%m%d-%H%M%S")
