"""Shared helpers for bench scripts: machine line, throwaway databases, percentiles, a
real `leadgate serve` to drive over HTTP.

    with serve(url, "--no-deliver", log=Path(d) / "server.log") as (base, pid):
        httpx.get(f"{base}/readyz")
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

# Appended, not prepended: tests/ has packages named like the bench scripts.
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

# Cached inputs and scratch stores (gitignored). Created here, on import, so every bench
# runs on a fresh clone; $LEADGATE_BENCH_OUT puts it elsewhere (a bigger disk, a test).
OUT = Path(os.environ.get("LEADGATE_BENCH_OUT") or Path(__file__).resolve().parent / "out")
OUT.mkdir(parents=True, exist_ok=True)
# The `leadgate` command of the Python running the bench (the checkout's venv).
LEADGATE = str(Path(sys.executable).parent / "leadgate")


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


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    db_url: str,
    *flags: str,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Iterator[tuple[str, int]]:
    """`leadgate serve --db URL --port P *flags` on a free port of 127.0.0.1, in a process
    group of its own (its workers included). Yields (base URL, pid) once GET /readyz
    answers 200; afterwards stops the whole group (SIGTERM, SIGKILL after 20 s). The
    server's stderr (its access log) goes to `log`, whose end is quoted if it does not
    start within `timeout` seconds; without `log` it is dropped."""
    import httpx  # here: most benches never start a server

    port = free_port()
    err = log.open("w") if log else None
    try:
        proc = subprocess.Popen(
            [LEADGATE, "serve", "--db", db_url, "--port", str(port), *flags],
            stdout=subprocess.DEVNULL,
            stderr=err or subprocess.DEVNULL,
            start_new_session=True,
            env=None if env is None else dict(env),
        )
    finally:
        if err:
            err.close()  # the server has its own copy
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                tail = ":\n" + log.read_text()[-2000:] if log else ""
                raise SystemExit("leadgate serve did not start" + tail)
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except ProcessLookupError:
            pass  # it had already exited (did not start): the error above says why
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
