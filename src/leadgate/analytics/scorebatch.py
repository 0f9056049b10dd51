"""`leadgate score-batch`: the compiled playbook run where the data lives.

Scores and grades of every lead (`sqlcompile.compile_scoring`) as of a moment, computed
by DuckDB (over Parquet or CSV files), PostgreSQL (over its tables) or Spark (local or a
cluster, over Parquet), and written to Parquet or to a PostgreSQL table. With DuckDB the
candidate MQL moments are written too: each (lead, moment) where the MQL rule may turn
true (a new engagement high or a hand-raiser event, `moments.moments_sql`), the moments
the lifecycle would look at. No leadgate store is involved.

Example (DuckDB, files in, a file out):
    leadgate score-batch --engine duckdb --leads leads.parquet --events events.parquet \\
        --out scores.parquet --playbook playbook.yaml --as-of 2026-12-01
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leadgate.analytics.sqlcompile import compile_scoring
from leadgate.ingest.validate import InputError
from leadgate.playbook.model import Playbook

ENGINES = ("duckdb", "postgres", "spark")


def _is_pg(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def _table(name: str, field: str) -> str:
    if not name.replace("_", "").replace(".", "").isalnum():
        raise InputError(field, f"'{name}' is not a table name")
    return name


def score_batch(
    pb: Playbook,
    engine: str,
    leads: str,
    events: str,
    out: str,
    as_of: float,
    source: str | None = None,
    out_table: str = "lead_scores",
    candidates: str | None = None,
) -> dict[str, Any]:
    """Score every lead with `engine`; returns what was written (counts, where)."""
    if engine not in ENGINES:
        raise InputError("engine", f"one of {', '.join(ENGINES)}, got '{engine}'")
    if engine == "duckdb":
        return _duckdb(pb, leads, events, out, as_of, out_table, candidates)
    if engine == "postgres":
        if not source or not _is_pg(source):
            raise InputError("source", "--source postgresql://… is needed with --engine postgres")
        return _postgres(pb, source, leads, events, out, as_of, out_table)
    return _spark(pb, leads, events, out, as_of)


def _duckdb(
    pb: Playbook,
    leads: str,
    events: str,
    out: str,
    as_of: float,
    out_table: str,
    candidates: str | None,
) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from leadgate.analytics.batch import connect, run_arrow
    from leadgate.analytics.moments import moments_sql

    for name, path in (("leads", leads), ("events", events)):
        if not Path(path).exists():
            raise InputError(name, f"no such file: {path}")
    con = connect(leads, events)
    scores = run_arrow(con, compile_scoring(pb, as_of, "duckdb"))
    res: dict[str, Any] = {"engine": "duckdb", "leads": scores.num_rows}
    res["out"] = _write(scores, out, out_table)
    if candidates:
        con.execute('CREATE TEMP TABLE moves (lead_id BIGINT, "at" DOUBLE)')
        q = (
            'SELECT lead_id, t AS "at", etype AS event_type, '
            "CASE WHEN hand THEN 'hand_raiser' ELSE 'mql_rule' END AS why "
            f"FROM ({moments_sql(pb, as_of)}) AS m WHERE rec OR hand ORDER BY lead_id, t"
        )
        cand = con.sql(q).to_arrow_table()
        pq.write_table(cand, candidates)
        res["candidates"] = {"rows": cand.num_rows, "out": candidates}
    con.close()
    return res


def _write(table: Any, out: str, out_table: str) -> str:
    """Parquet at `out`, or a table `out_table` in the PostgreSQL database `out`."""
    if _is_pg(out):
        import psycopg

        name = _table(out_table, "out-table")
        url = out.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(
                f"CREATE TABLE {name} (lead_id BIGINT PRIMARY KEY, fit DOUBLE PRECISION, "
                "engagement DOUBLE PRECISION, total DOUBLE PRECISION, fit_grade TEXT, "
                "engagement_grade TEXT, grade TEXT)"
            )
            cols = [table.column(i).to_pylist() for i in range(7)]
            with conn.cursor().copy(f"COPY {name} FROM STDIN") as cp:
                for row in zip(*cols, strict=True):
                    cp.write_row(row)
        return f"{url.split('@')[-1]} table {name}"
    import pyarrow.parquet as pq

    pq.write_table(table, out)
    return out


def _postgres(
    pb: Playbook, url: str, leads: str, events: str, out: str, as_of: float, out_table: str
) -> dict[str, Any]:
    import psycopg

    sql = compile_scoring(
        pb, as_of, "postgres", leads=_table(leads, "leads"), events=_table(events, "events")
    )
    url = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        if _is_pg(out) and out.replace("postgresql+psycopg://", "postgresql://") == url:
            # Scored and written inside the database: no row leaves it.
            name = _table(out_table, "out-table")
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            n = conn.execute(f"CREATE TABLE {name} AS {sql}").rowcount
            return {"engine": "postgres", "leads": n, "out": f"table {name}"}
        cur = conn.execute(sql)
        rows = cur.fetchall()
    import pyarrow as pa

    names = ["lead_id", "fit", "engagement", "total", "fit_grade", "engagement_grade", "grade"]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    return {"engine": "postgres", "leads": len(rows), "out": _write(table, out, out_table)}


def _spark(pb: Playbook, leads: str, events: str, out: str, as_of: float) -> dict[str, Any]:
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("leadgate-score-batch")
    # spark-submit passes the cluster's master; run alone, Spark runs in local mode.
    if not SparkConf().contains("spark.master"):
        builder = builder.master("local[*]")
    spark = builder.getOrCreate()
    spark.read.parquet(leads).createOrReplaceTempView("leads")
    spark.read.parquet(events).createOrReplaceTempView("events")
    df = spark.sql(compile_scoring(pb, as_of, "spark"))
    df.write.mode("overwrite").parquet(out)
    n = spark.read.parquet(out).count()
    return {"engine": "spark", "leads": n, "out": out}


def main() -> None:  # pragma: no cover - the spark-submit entry point
    """`spark-submit -m leadgate.analytics.scorebatch PLAYBOOK LEADS EVENTS OUT AS_OF`."""
    import sys

    from leadgate.playbook.loader import load_playbook

    text, leads, events, out, as_of = sys.argv[1:6]
    pb = load_playbook(Path(text).read_text(encoding="utf-8"), text)
    print(_spark(pb, leads, events, out, float(as_of)))


if __name__ == "__main__":  # pragma: no cover
    main()
