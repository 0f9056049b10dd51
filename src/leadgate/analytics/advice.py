"""Threshold advice: which score threshold meets a target, and the trade-off curve.

For each candidate threshold T (the distinct score quantiles), the leads scoring at least
T are the would-be MQLs: their volume per month (by lead creation month, UTC) and the share
that historically reached SQL. A target is either a volume ("sales can take 300 MQLs a
month": the lowest T whose mean monthly volume fits) or a rate ("MQL→SQL at least 25%":
the lowest T, so the most MQLs, whose rate reaches it).
"""

from __future__ import annotations

from typing import Any

import duckdb

from leadgate.analytics.reports import Report, _reached_cte, utc_month


def tradeoff(con: duckdb.DuckDBPyConnection, score: str = "score", steps: int = 40) -> Report:
    """The curve: threshold, MQLs per month, MQL→SQL and MQL→customer rates at or above it."""
    if score not in ("score", "fit", "engagement"):
        raise ValueError("score must be score, fit or engagement")
    qs = ", ".join(repr(i / steps) for i in range(steps))
    rows = [
        list(r)
        for r in con.execute(
            f"WITH {_reached_cte()}, s AS (SELECT {score} AS s, "
            f"{utc_month('created_at')} AS m, at_sql, at_customer FROM lr), "
            "months AS (SELECT GREATEST(COUNT(DISTINCT m), 1) AS n FROM s), "
            f"th AS (SELECT DISTINCT ROUND(UNNEST(QUANTILE_DISC(s, [{qs}])), 2) AS t FROM s) "
            "SELECT th.t, COUNT(s.s) AS mqls, ROUND(COUNT(s.s) / ANY_VALUE(months.n), 1) "
            "AS mqls_per_month, CASE WHEN COUNT(s.s) > 0 THEN ROUND(CAST(COUNT(s.at_sql) AS "
            "DOUBLE) / COUNT(s.s), 4) END AS mql_to_sql, CASE WHEN COUNT(s.s) > 0 THEN "
            "ROUND(CAST(COUNT(s.at_customer) AS DOUBLE) / COUNT(s.s), 4) END AS mql_to_customer "
            "FROM th CROSS JOIN months LEFT JOIN s ON s.s >= th.t GROUP BY th.t ORDER BY th.t"
        ).fetchall()
    ]
    return Report(
        "advice",
        f"Threshold trade-off ({score})",
        ["threshold", "mqls", "mqls_per_month", "mql_to_sql", "mql_to_customer"],
        rows,
        "threshold",
        ["mqls_per_month"],
        "line",
    )


def advise(
    curve: Report,
    mqls_per_month: float | None = None,
    min_sql_rate: float | None = None,
) -> dict[str, Any]:
    """The suggested threshold for one target, with the curve point it comes from."""
    if (mqls_per_month is None) == (min_sql_rate is None):
        raise ValueError("give exactly one target: mqls_per_month or min_sql_rate")
    pick = None
    for r in curve.records():  # thresholds ascending: volume falls, rate tends to rise
        if mqls_per_month is not None and r["mqls_per_month"] <= mqls_per_month:
            pick = r
            break
        if (
            min_sql_rate is not None
            and r["mql_to_sql"] is not None
            and r["mql_to_sql"] >= min_sql_rate
        ):
            pick = r
            break
    target = (
        {"mqls_per_month": mqls_per_month}
        if mqls_per_month is not None
        else {"min_sql_rate": min_sql_rate}
    )
    return {
        "target": target,
        "threshold": None if pick is None else pick["threshold"],
        "at_threshold": pick,
        "met": pick is not None,
        "curve": curve.records(),
    }
