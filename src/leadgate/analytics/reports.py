"""Funnel analytics in DuckDB over the store's export (or any Parquet/CSV with its columns).

Every report is a `Report`: a title, column names and rows — printed as a table, written
as CSV or JSON, drawn as a chart. Times are epoch seconds; durations are reported in
hours (velocity, SLA) so short SLAs (0.25 h) stay readable. Months are UTC months
(`utc_month`), as in backtests, whatever the machine's time zone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import duckdb

from leadgate import csvout
from leadgate.lifecycle.stages import FUNNEL

REPORTS = ("funnel", "velocity", "cohorts", "sources", "deciles", "sla")
BREAKDOWNS = {
    "source": "LOWER(TRIM(JSON_EXTRACT_STRING(attributes, '$.source')))",
    "campaign": "LOWER(TRIM(JSON_EXTRACT_STRING(attributes, '$.campaign')))",
    "rep": "owner",
}


@dataclass
class Report:
    """A report as a table, plus how to chart it (x column, y columns)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    chart_x: str = ""
    chart_y: list[str] = field(default_factory=list)
    chart_kind: str = "bar"
    notes: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts (the JSON form)."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"report": self.name, "title": self.title, "rows": self.records(), **self.notes}

    def to_csv(self) -> str:
        """CSV text with a header row (formula-like text cells neutralised: leadgate.csvout)."""
        buf = io.StringIO()
        w = csvout.writer(buf)
        w.writerow(self.columns)
        w.writerows(self.rows)
        return buf.getvalue()


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[list[Any]]:
    return [list(r) for r in con.execute(sql, params or []).fetchall()]


def utc_month(epoch: str) -> str:
    """SQL for the UTC month (YYYY-MM) of an epoch-seconds column, whatever the session zone.

    `STRFTIME(TO_TIMESTAMP(x), ...)` formats in the connection's TimeZone, which DuckDB
    takes from the machine: a lead at 2026-03-01T03:00Z was a February lead in Los
    Angeles. A plain TIMESTAMP built from microseconds has no zone, so it is UTC.
    """
    micros = f"CAST(ROUND(CAST({epoch} AS DOUBLE) * 1000000) AS BIGINT)"
    return f"STRFTIME(MAKE_TIMESTAMP({micros}), '%Y-%m')"


def _rate(a: str, b: str) -> str:
    return f"CASE WHEN {b} > 0 THEN ROUND(CAST({a} AS DOUBLE) / {b}, 4) END"


def _reached_cte() -> str:
    """Per lead: the first time it reached each funnel stage (creation counts as lead)."""
    cols = ", ".join(f"MIN(CASE WHEN to_stage = '{s}' THEN ts END) AS at_{s}" for s in FUNNEL[1:])
    return (
        f"reached AS (SELECT lead_id, {cols} FROM transitions GROUP BY lead_id), "
        "lr AS (SELECT l.*, r.* EXCLUDE (lead_id) FROM leads l "
        "LEFT JOIN reached r ON r.lead_id = l.id)"
    )


def funnel(con: duckdb.DuckDBPyConnection) -> Report:
    """Leads per stage now, leads that ever reached each stage, step conversion."""
    sums = ", ".join(f"COUNT(at_{s})" for s in FUNNEL[1:])
    row = con.execute(f"WITH {_reached_cte()} SELECT COUNT(*), {sums} FROM lr").fetchone()
    assert row is not None
    now = dict(con.execute("SELECT stage, COUNT(*) FROM leads GROUP BY stage").fetchall())
    reached = dict(zip(FUNNEL, row, strict=True))
    rows = []
    for a, b in zip(FUNNEL, FUNNEL[1:], strict=False):
        na, nb = reached[a], reached[b]
        rows.append([f"{a} → {b}", na, nb, round(nb / na, 4) if na else None, now.get(b, 0)])
    return Report(
        "funnel",
        f"Funnel ({reached['lead']} leads)",
        ["step", "from", "to", "conversion", "now_in_to_stage"],
        rows,
        "step",
        ["conversion"],
    )


def velocity(con: duckdb.DuckDBPyConnection) -> Report:
    """Time in each stage (hours): median and p90 of completed stays, and stays still open."""
    rows = _rows(
        con,
        "WITH t AS (SELECT lead_id, to_stage AS stage, ts, LEAD(ts) OVER (PARTITION BY lead_id "
        "ORDER BY ts, to_stage) AS left_at FROM transitions) "
        "SELECT stage, COUNT(left_at) AS completed, COUNT(*) - COUNT(left_at) AS open, "
        "ROUND(QUANTILE_CONT((left_at - ts) / 3600.0, 0.5), 2) AS median_hours, "
        "ROUND(QUANTILE_CONT((left_at - ts) / 3600.0, 0.9), 2) AS p90_hours "
        "FROM t GROUP BY stage ORDER BY stage",
    )
    order = {s: i for i, s in enumerate((*FUNNEL, "nurture", "disqualified"))}
    rows.sort(key=lambda r: order.get(r[0], 99))
    return Report(
        "velocity",
        "Time in stage (hours)",
        ["stage", "completed", "open", "median_hours", "p90_hours"],
        rows,
        "stage",
        ["median_hours", "p90_hours"],
    )


def cohorts(con: duckdb.DuckDBPyConnection) -> Report:
    """Monthly cohorts (by lead creation): how many reached MQL, SQL, customer."""
    rows = _rows(
        con,
        f"WITH {_reached_cte()}, c AS (SELECT {utc_month('created_at')} AS "
        "cohort, at_mql, at_sql, at_customer FROM lr) "
        "SELECT cohort, COUNT(*) AS leads, COUNT(at_mql) AS mql, COUNT(at_sql) AS sql, "
        f"COUNT(at_customer) AS customer, {_rate('COUNT(at_mql)', 'COUNT(*)')} AS lead_to_mql, "
        f"{_rate('COUNT(at_sql)', 'COUNT(at_mql)')} AS mql_to_sql, "
        f"{_rate('COUNT(at_customer)', 'COUNT(at_mql)')} AS mql_to_customer "
        "FROM c GROUP BY cohort ORDER BY cohort",
    )
    return Report(
        "cohorts",
        "Monthly cohorts (by lead creation)",
        [
            "cohort",
            "leads",
            "mql",
            "sql",
            "customer",
            "lead_to_mql",
            "mql_to_sql",
            "mql_to_customer",
        ],
        rows,
        "cohort",
        ["lead_to_mql", "mql_to_sql"],
        "line",
    )


def sources(con: duckdb.DuckDBPyConnection, by: str = "source") -> Report:
    """Leads, MQLs, SQLs and customers per source, campaign or rep (owner)."""
    if by not in BREAKDOWNS:
        raise ValueError(f"by must be one of {', '.join(BREAKDOWNS)}")
    key = BREAKDOWNS[by]
    rows = _rows(
        con,
        f"WITH {_reached_cte()}, c AS (SELECT COALESCE(NULLIF({key}, ''), '(none)') AS k, "
        "at_mql, at_sql, at_customer FROM lr) "
        "SELECT k, COUNT(*) AS leads, COUNT(at_mql) AS mql, COUNT(at_sql) AS sql, "
        f"COUNT(at_customer) AS customer, {_rate('COUNT(at_mql)', 'COUNT(*)')} AS lead_to_mql, "
        f"{_rate('COUNT(at_sql)', 'COUNT(at_mql)')} AS mql_to_sql, "
        f"{_rate('COUNT(at_customer)', 'COUNT(*)')} AS lead_to_customer "
        "FROM c GROUP BY k ORDER BY leads DESC, k",
    )
    return Report(
        "sources",
        f"Breakdown by {by}",
        [by, "leads", "mql", "sql", "customer", "lead_to_mql", "mql_to_sql", "lead_to_customer"],
        rows,
        by,
        ["lead_to_mql", "mql_to_sql"],
    )


def sla(con: duckdb.DuckDBPyConnection, accept_within_hours: float, now: float) -> Report:
    """Share of MQLs accepted (mql → sal) within the playbook's SLA, and response times.

    Each entry into MQL is one case; it ends ts the lead's next transition. Accepted in
    time: the next move is to sal within the SLA. Cases still open and not yet due are
    left out (their outcome is unknown); open cases past due count as breached.
    """
    limit = accept_within_hours * 3600.0
    rows = _rows(
        con,
        "WITH t AS (SELECT lead_id, to_stage, ts, LEAD(to_stage) OVER w AS nxt, "
        "LEAD(ts) OVER w AS nxt_at FROM transitions WINDOW w AS (PARTITION BY lead_id ORDER BY "
        f"ts, to_stage)), m AS (SELECT {utc_month('ts')} AS month, ts, nxt, "
        "nxt_at FROM t WHERE to_stage = 'mql' AND NOT (nxt IS NULL AND ? - ts <= ?)) "
        "SELECT month, COUNT(*) AS mqls, "
        "COUNT(*) FILTER (WHERE nxt = 'sal') AS accepted, "
        "COUNT(*) FILTER (WHERE nxt = 'sal' AND nxt_at - ts <= ?) AS within_sla, "
        "ROUND(CAST(COUNT(*) FILTER (WHERE nxt = 'sal' AND nxt_at - ts <= ?) AS DOUBLE) / "
        "COUNT(*), 4) AS sla_share, "
        "ROUND(QUANTILE_CONT((nxt_at - ts) / 3600.0, 0.5) FILTER (WHERE nxt = 'sal'), 3) "
        "AS median_response_hours "
        "FROM m GROUP BY month ORDER BY month",
        [now, limit, limit, limit],
    )
    total = con.execute(
        "WITH t AS (SELECT to_stage, ts, LEAD(to_stage) OVER w AS nxt, LEAD(ts) OVER w AS "
        "nxt_at FROM transitions WINDOW w AS (PARTITION BY lead_id ORDER BY ts, to_stage)) "
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE nxt = 'sal' AND nxt_at - ts <= ?), "
        "QUANTILE_CONT((nxt_at - ts) / 3600.0, 0.5) FILTER (WHERE nxt = 'sal') FROM t "
        "WHERE to_stage = 'mql' AND NOT (nxt IS NULL AND ? - ts <= ?)",
        [limit, now, limit],
    ).fetchone()
    assert total is not None
    notes = {
        "accept_within_hours": accept_within_hours,
        "sla_share": round(total[1] / total[0], 4) if total[0] else None,
        "median_response_hours": None if total[2] is None else round(total[2], 3),
    }
    return Report(
        "sla",
        f"SLA compliance (accept within {accept_within_hours:g} h)",
        ["month", "mqls", "accepted", "within_sla", "sla_share", "median_response_hours"],
        rows,
        "month",
        ["sla_share"],
        "line",
        notes,
    )


def deciles(con: duckdb.DuckDBPyConnection, score: str = "score") -> Report:
    """Score deciles (10 = best) against conversion: is the MQL threshold in the right place?"""
    if score not in ("score", "fit", "engagement"):
        raise ValueError("score must be score, fit or engagement")
    rows = _rows(
        con,
        f"WITH {_reached_cte()}, d AS (SELECT NTILE(10) OVER (ORDER BY {score}, id) AS decile, "
        f"{score} AS s, at_mql, at_sql, at_customer FROM lr) "
        "SELECT decile, COUNT(*) AS leads, MIN(s) AS min_score, MAX(s) AS max_score, "
        f"{_rate('COUNT(at_mql)', 'COUNT(*)')} AS mql_rate, "
        f"{_rate('COUNT(at_sql)', 'COUNT(*)')} AS sql_rate, "
        f"{_rate('COUNT(at_customer)', 'COUNT(*)')} AS customer_rate "
        "FROM d GROUP BY decile ORDER BY decile DESC",
    )
    return Report(
        "deciles",
        f"{score} decile vs conversion",
        ["decile", "leads", "min_score", "max_score", "mql_rate", "sql_rate", "customer_rate"],
        rows,
        "decile",
        ["sql_rate", "customer_rate"],
    )
