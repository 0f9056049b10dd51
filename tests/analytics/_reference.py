"""The real-time engine's scores, computed the way the engine computes them (the oracle)."""

from __future__ import annotations

from typing import Any

import orjson

from leadgate.leads import LeadProcessor, LeadState
from leadgate.playbook.model import Playbook
from leadgate.scoring import Event
from leadgate.scoring.grades import grade_engagement, grade_fit


def engine_scores(
    pb: Playbook,
    leads: list[tuple[int, str, dict[str, Any]]],
    events: list[tuple[str, int, str, float, dict[str, Any]]],
    as_of: float,
) -> dict[int, tuple[float, float, float, str]]:
    """{lead_id: (fit, engagement, total, grade)} as LeadProcessor scores them at as_of."""
    proc = LeadProcessor(pb)
    by_lead: dict[int, list[Event]] = {}
    for eid, lid, typ, at, props in events:
        by_lead.setdefault(lid, []).append(Event(eid, typ, at, props))
    out = {}
    for lid, email, attrs in leads:
        lead = LeadState(email, dict(attrs), 0.0, id=lid)
        lead.engagement_state = proc.rules.replay(by_lead.get(lid, []), as_of)
        fit = proc.fit(lead)
        eng = proc.engagement(lead, as_of)
        grade = grade_fit(fit, pb.fit.grades) + grade_engagement(eng, pb.engagement.grades)
        out[lid] = (fit, eng, round(fit + eng, 2), grade)
    return out


def as_rows(
    leads: list[tuple[int, str, dict[str, Any]]],
    events: list[tuple[str, int, str, float, dict[str, Any]]],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The same data as table rows (JSON as text, as the store keeps it)."""
    lr = [(lid, email, orjson.dumps(a).decode()) for lid, email, a in leads]
    er = [(eid, lid, typ, at, orjson.dumps(p).decode()) for eid, lid, typ, at, p in events]
    return lr, er


def duckdb_tables(lr: list[Any], er: list[Any]) -> Any:
    """A DuckDB connection holding these lead and event rows as `leads` and `events`."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE leads(id BIGINT, email VARCHAR, attributes VARCHAR)")
    con.execute(
        "CREATE TABLE events(id VARCHAR, lead_id BIGINT, type VARCHAR, occurred_at DOUBLE, "
        "properties VARCHAR)"
    )
    con.executemany("INSERT INTO leads VALUES (?, ?, ?)", lr)
    if er:
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", er)
    return con


def duckdb_scores(sql: str, lr: list[Any], er: list[Any]) -> dict[int, tuple[Any, ...]]:
    """{lead_id: (fit, engagement, total, grade)} from the compiled query on DuckDB."""
    con = duckdb_tables(lr, er)
    rows = con.execute(sql).fetchall()
    con.close()
    return {r[0]: (r[1], r[2], r[3], r[6]) for r in rows}


def pg_scores(conn: Any, sql: str, lr: list[Any], er: list[Any]) -> dict[int, tuple[Any, ...]]:
    """The same on PostgreSQL (tables t_leads, t_events), through a psycopg connection."""
    conn.execute("DROP TABLE IF EXISTS t_leads, t_events")
    conn.execute("CREATE TABLE t_leads(id BIGINT, email TEXT, attributes TEXT)")
    conn.execute(
        "CREATE TABLE t_events(id TEXT, lead_id BIGINT, type TEXT, occurred_at FLOAT8, "
        "properties TEXT)"
    )
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO t_leads VALUES (%s, %s, %s)", lr)
        if er:
            cur.executemany("INSERT INTO t_events VALUES (%s, %s, %s, %s, %s)", er)
    rows = conn.execute(sql.replace("%", "%%")).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[6]) for r in rows}
