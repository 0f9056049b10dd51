"""Shared helpers for bench scripts: machine line, throwaway databases, percentiles."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Appended, not prepended: tests/ has packages named like the bench scripts.
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

# Cached inputs and scratch stores (gitignored). Created here, on import, so every bench
# runs on a fresh clone; $LEADGATE_BENCH_OUT puts it elsewhere (a bigger disk, a test).
OUT = Path(os.environ.get("LEADGATE_BENCH_OUT") or Path(__file__).resolve().parent / "out")
OUT.mkdir(parents=True, exist_ok=True)


def machine() -> str:
    """One line: CPU, cores, memory, Python and SQLite versions."""
    try:
        from _machine import machine_info  # type: ignore[import-not-found]

        return str(machine_info())
    except ImportError:
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return (
            f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}"
        )


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


@contextmanager
def sqlite_url() -> Iterator[str]:
    """A fresh SQLite file in a temporary directory."""
    with tempfile.TemporaryDirectory() as d:
        yield f"sqlite:///{d}/bench.db"


@contextmanager
def postgres_url(given: str | None) -> Iterator[str | None]:
    """The given PostgreSQL URL, else a private throwaway cluster, else None."""
    if given:
        yield given
        return
    try:
        from pgcluster import PgCluster, pg_available  # type: ignore[import-not-found]
    except ImportError:
        yield None
        return
    ok, _ = pg_available()
    if not ok:
        yield None
        return
    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster.create_database("lg_bench")
    finally:
        cluster.stop()


def processes_cpu(select: Callable[[str, list[str]], bool]) -> float:
    """CPU seconds (user + system) used so far by the processes `select(comm, fields)`
    picks; `fields` are those of /proc/PID/stat after the command name (state, ppid,
    pgrp, ...)."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                head, rest = fh.read().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        if select(head.split("(", 1)[-1], fields):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    """`load average 1.0 0.8 0.7` (1, 5, 15 minutes), printed next to wall times."""
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
