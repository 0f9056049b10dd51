"""The backtest's comparison: two playbooks' MQL moments side by side, by month.

`_compare(results, outcomes, ...)` turns each lead's MQL moments under the old and the
new playbook into a `BacktestResult`: MQLs and MQL leads per month, conversion to SQL
and to customer, median days to the first MQL, and the leads whose first MQL in the
window was gained, lost, earlier or later. Split out of `backtest` (its names are still
importable there).

Example:
    >>> month_of(0.0)
    '1970-01'
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_OUTCOMES = ("sql", "sqo", "customer")


def month_of(t: float) -> str:
    """YYYY-MM (UTC) of an epoch time."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m")


@dataclass
class BacktestResult:
    """Side-by-side figures of two playbooks over the same history."""

    months: list[dict[str, Any]]
    totals: dict[str, Any]
    changed: list[dict[str, Any]]
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "meta": self.meta,
            "totals": self.totals,
            "months": self.months,
            "changed": self.changed,
        }


def _outcomes(con: Any, paths: tuple[Path, Path, Path]) -> dict[int, dict[str, float]]:
    rows = con.execute(
        f"SELECT lead_id, to_stage, MIN(\"at\") FROM read_parquet('{paths[2]}') "
        f"WHERE to_stage IN ({', '.join(repr(s) for s in _OUTCOMES)}) "
        # An absorbed move (from == to) is no arrival; the lead was there already.
        "AND from_stage IS DISTINCT FROM to_stage GROUP BY lead_id, to_stage"
    ).fetchall()
    out: dict[int, dict[str, float]] = {}
    for lid, stage, at in rows:
        out.setdefault(lid, {})[stage] = at
    return out


def _median_days(xs: list[float]) -> float | None:
    return round(statistics.median(xs) / 86400.0, 2) if xs else None


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _compare(
    results: dict[int, tuple[list[float], list[float], int]],
    outcomes: dict[int, dict[str, float]],
    emails: dict[int, str],
    con: Any,
    paths: tuple[Path, Path, Path],
    start: float | None,
    end: float | None,
    n_leads: int,
) -> BacktestResult:
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end

    def in_range(t: float) -> bool:
        return lo <= t < hi

    months: dict[str, dict[str, Any]] = {}
    tallies: dict[str, dict[str, list[Any]]] = {}
    for lid, (old_at, new_at, first_touch) in results.items():
        reached = outcomes.get(lid, {})
        for side, times in (("old", old_at), ("new", new_at)):
            seen_month: set[str] = set()
            for k, t in enumerate(times):
                if not in_range(t):
                    continue
                m = month_of(t)
                row = months.setdefault(m, {"month": m})
                row[f"mqls_{side}"] = row.get(f"mqls_{side}", 0) + 1
                if m in seen_month:
                    continue
                seen_month.add(m)
                tal = tallies.setdefault(m, {}).setdefault(side, [0, 0, 0, []])
                tal[0] += 1
                tal[1] += "sql" in reached
                tal[2] += "customer" in reached
                if k == 0:
                    tal[3].append(max(0.0, t - first_touch))
    out_months = []
    for m in sorted(months):
        row = months[m]
        for side in ("old", "new"):
            tal = tallies.get(m, {}).get(side, [0, 0, 0, []])
            row.setdefault(f"mqls_{side}", 0)
            row[f"mql_leads_{side}"] = tal[0]
            row[f"mql_to_sql_{side}"] = _rate(tal[1], tal[0])
            row[f"mql_to_customer_{side}"] = _rate(tal[2], tal[0])
            row[f"median_days_to_mql_{side}"] = _median_days(tal[3])
        out_months.append(row)

    changed = []
    counts = {"gained": 0, "lost": 0, "earlier": 0, "later": 0}
    cust = {"missed": 0, "caught": 0, "earlier": 0, "later": 0}
    for lid, (old_at, new_at, _) in results.items():
        o = next((t for t in old_at if in_range(t)), None)
        n = next((t for t in new_at if in_range(t)), None)
        if o == n:
            continue
        if o is None:
            kind = "gained"
        elif n is None:
            kind = "lost"
        else:
            kind = "earlier" if n < o else "later"
        counts[kind] += 1
        is_customer = "customer" in outcomes.get(lid, {})
        if is_customer:
            cust[{"gained": "caught", "lost": "missed"}.get(kind, kind)] += 1
        changed.append(
            {
                "lead_id": lid,
                "change": kind,
                "old_mql_at": o,
                "new_mql_at": n,
                "days_shift": None if o is None or n is None else round((n - o) / 86400.0, 2),
                "customer": is_customer,
            }
        )
    changed.sort(key=lambda r: (not r["customer"], r["lead_id"]))
    if changed:
        ids = [r["lead_id"] for r in changed]
        # One list parameter, not `executemany` into a temp table: DuckDB runs that
        # row by row, which cost ~12% of a whole backtest at 12k changed leads.
        emails = dict(
            con.execute(
                f"SELECT l.id, l.email FROM read_parquet('{paths[0]}') l "
                "WHERE l.id IN (SELECT unnest(?::BIGINT[]))",
                [ids],
            ).fetchall()
        )
        for r in changed:
            r["email"] = emails.get(r["lead_id"])  # type: ignore[call-overload]
    totals: dict[str, Any] = {
        "mqls_old": sum(r["mqls_old"] for r in out_months),
        "mqls_new": sum(r["mqls_new"] for r in out_months),
        "leads_changed": counts,
        "customers_missed_by_new": cust["missed"],
        "customers_caught_only_by_new": cust["caught"],
        "customers_caught_earlier_by_new": cust["earlier"],
        "customers_caught_later_by_new": cust["later"],
    }
    for side in ("old", "new"):
        leads = sum(r[f"mql_leads_{side}"] for r in out_months)
        totals[f"mql_leads_{side}"] = leads
    meta = {
        "leads": n_leads,
        "replayed_leads_with_mqls": len(results),
        "from": None if start is None else datetime.fromtimestamp(start, UTC).isoformat(),
        "to": None if end is None else datetime.fromtimestamp(end, UTC).isoformat(),
    }
    return BacktestResult(out_months, totals, changed, meta)
