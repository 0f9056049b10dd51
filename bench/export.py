"""`lead export` memory: peak RSS of an export of N leads against one of N/10, so a flat
line shows the export streams (keyset chunks) instead of loading the store.

    .venv/bin/python bench/export.py [--leads 100000] [--format csv|jsonl|parquet]

The store is built directly (executemany), not through the engine: N leads with ten
attributes each. Each export runs in a child process (`leadgate lead export --out FILE`,
the real CLI), whose peak resident memory is read from `getrusage(RUSAGE_CHILDREN)`
after it ends, so building the store does not count. Run with `--leads 1000000` for the
1M figure (about 1 GB of SQLite, a few minutes on one core).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import OUT, machine
from leadgate.engine.engine import Engine
from leadgate.store.database import Database
from leadgate.store.repository import Repository, dumps

T0 = 1_780_000_000.0
COLS = (
    "email, attributes, created_at, updated_at, stage, stage_at, fit, engagement, score, "
    "fit_grade, engagement_grade, grade, scored_at, playbook_version, score_state, exit_armed"
)


def build(url: str, n: int) -> None:
    """A store with n leads, written in batches."""
    eng = Engine(Database(url))
    eng.ensure_playbook()
    rng = random.Random(7)
    marks = ",".join("?" * 16)
    with eng.db.write() as conn:
        repo = Repository(eng.db, conn)
        for start in range(0, n, 10_000):
            rows = []
            for i in range(start, min(n, start + 10_000)):
                attrs = {
                    "first_name": f"First{i}",
                    "last_name": f"Last{i}",
                    "company": f"Company {i % 5000}",
                    "job_title": rng.choice(["CTO", "VP Marketing", "Engineer", "Intern"]),
                    "company_size": rng.randint(1, 5000),
                    "country": rng.choice(["US", "DE", "GB", "FR"]),
                    "industry": rng.choice(["software", "retail", "health"]),
                    "source": rng.choice(["ads", "webinar", "organic"]),
                    "phone": f"+4930{i:07d}",
                    "campaign": f"c{i % 40}",
                }
                score = rng.random() * 100
                rows.append(
                    (
                        f"p{i}@co{i % 5000}.com",
                        dumps(attrs),
                        T0 - i,
                        T0,
                        "lead",
                        T0 - i,
                        score,
                        0.0,
                        score,
                        "B",
                        "4",
                        "B4",
                        T0,
                        1,
                        "{}",
                        False,
                    )
                )
            repo.executemany(f"INSERT INTO leads ({COLS}) VALUES ({marks})", rows)
    eng.db.dispose()


def export_rss(url: str, fmt: str, out: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of `leadgate lead export` in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "leadgate.cli.main",
            "lead",
            "export",
            "--db",
            url,
            "--format",
            fmt,
            "--out",
            str(out),
        ],
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")},
    )
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # RUSAGE_CHILDREN keeps the largest child: a smaller second run shows the first's.
    return secs, max(peak, before) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--format", default="csv", choices=["csv", "jsonl", "parquet"])
    args = ap.parse_args()
    print(machine())
    results = []
    # Small first: the child's peak can only grow across runs, so the big run's figure
    # is its own when it is higher, and the line is flat when it is not.
    for n in (max(1, args.leads // 10), args.leads):
        path = OUT / f"export-{n}.db"
        for f in OUT.glob(f"export-{n}.db*"):
            f.unlink()
        url = f"sqlite:///{path}"
        Database(url).migrate()
        build(url, n)
        secs, mb = export_rss(url, args.format, OUT / f"export-{n}.{args.format}")
        size = (OUT / f"export-{n}.{args.format}").stat().st_size / 1e6
        results.append((n, secs, mb))
        print(
            f"{n:>9,} leads: {secs:6.1f} s, {n / secs:>9,.0f} leads/s, "
            f"peak RSS {mb:6.0f} MB, file {size:,.0f} MB"
        )
    (n1, _, m1), (n2, _, m2) = results
    print(f"peak RSS grows {m2 - m1:+.0f} MB for {n2 - n1:,} more leads")


if __name__ == "__main__":
    main()
