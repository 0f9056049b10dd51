"""Two trees' compiled DuckDB scorers, alternately on one connection over the same data.

    git worktree add --detach /tmp/old 9237e47
    .venv/bin/python bench/rescore_sql_ab.py --old-src /tmp/old/src [--leads 250000]
        [--events 5000000] [--runs 3] [--threads 1] [--pandas]

Each tree's `compile_scoring(bundled_playbook(), as_of, "duckdb")` is written by a fresh
interpreter with that tree's `src` on its path (this checkout's `src` is "new"); both
queries then run one after the other, `--runs` times, on one DuckDB connection over the
bench's synthesized leads and events (`bench/rescore_sql.py`'s cache in bench/out, or
$LEADGATE_BENCH_OUT), so both see the same data, settings and load. Prints each one's
median CPU-seconds (this process, all DuckDB threads) and wall time with the load, the
fixed cost over empty tables, and whether the two give the same table. `--pandas` also
alternates the pandas peer of `bench/rescore_sql.py`, the single-threaded yardstick for
how much of a slowdown is the machine's (docs/benchmarks-analytics.md, 2026-12-07).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import load_average, machine
from rescore_sql import T_END, pandas_scores, synthesize

HERE = Path(__file__).resolve().parent.parent / "src"
_WRITE_SQL = (
    "import sys\n"
    "from leadgate.analytics.sqlcompile import compile_scoring\n"
    "from leadgate.playbook.loader import bundled_playbook\n"
    "pb, _ = bundled_playbook()\n"
    "sys.stdout.write(compile_scoring(pb, float(sys.argv[1]), 'duckdb'))\n"
)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def compiled(src: Path) -> str:
    """The bundled playbook's DuckDB query as the tree at `src` compiles it."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    r = subprocess.run(
        [sys.executable, "-c", _WRITE_SQL, repr(T_END)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        sys.exit(f"--old-src {src}: compiling failed: {r.stderr.strip().splitlines()[-1:]}")
    return r.stdout


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the DB-API's Arrow copy; both sides pay it
        return con.execute(sql).to_arrow_table()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--old-src", type=Path, required=True, help="the other tree's src folder")
    ap.add_argument("--leads", type=int, default=250_000)
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: its own)")
    ap.add_argument("--pandas", action="store_true", help="alternate the pandas peer too")
    a = ap.parse_args()
    if not (a.old_src / "leadgate").is_dir():
        sys.exit(f"--old-src {a.old_src}: no leadgate package there")
    d = synthesize(a.leads, a.events)
    print(f"machine: {machine()}; duckdb {duckdb.__version__}")
    sqls = {"old": compiled(a.old_src.resolve()), "new": compiled(HERE)}
    con = duckdb.connect()
    if a.threads:
        con.execute(f"SET threads = {int(a.threads)}")
    con.execute(f"CREATE VIEW leads AS SELECT * FROM read_parquet('{d / 'leads.parquet'}')")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{d / 'events.parquet'}')")
    sides = [*sqls, "pandas"] if a.pandas else list(sqls)
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    wall: dict[str, list[float]] = {k: [] for k in sides}
    out: dict[str, object] = {}
    print(load_average())
    for _ in range(a.runs):
        for k in sides:
            t, c = time.perf_counter(), _cpu()
            if k == "pandas":
                pandas_scores(d / "leads.parquet", d / "events.parquet", a.events, T_END)
            else:
                out[k] = _run(con, sqls[k])
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(_cpu() - c)
    for k in sides:
        print(
            f"{k}: median {statistics.median(cpu[k]):.2f} CPU-s "
            f"({', '.join(f'{x:.2f}' for x in cpu[k])}), {statistics.median(wall[k]):.2f} s wall"
        )
    old, new = (out[k].sort_by("lead_id") for k in sqls)  # type: ignore[attr-defined]
    same = old.num_rows == new.num_rows and all(
        old.column(c).equals(new.column(c)) for c in new.column_names if c in old.column_names
    )
    print(f"{new.num_rows:,} leads; the same table from both: {same}; {load_average()}")
    empty = duckdb.connect()
    empty.execute("CREATE TABLE leads(id BIGINT, email VARCHAR, attributes VARCHAR)")
    empty.execute(
        "CREATE TABLE events(id VARCHAR, lead_id BIGINT, type VARCHAR, occurred_at DOUBLE, "
        "properties VARCHAR)"
    )
    fixed: dict[str, list[float]] = {k: [] for k in sqls}
    for _ in range(max(a.runs, 5)):
        for k, sql in sqls.items():
            t = time.perf_counter()
            _run(empty, sql)
            fixed[k].append(time.perf_counter() - t)
    print(
        "fixed cost (empty tables, con.execute), min: "
        + ", ".join(f"{k} {min(v):.3f} s" for k, v in fixed.items())
    )


if __name__ == "__main__":
    main()
