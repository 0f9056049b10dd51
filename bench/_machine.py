"""What the benchmark ran on: one line to print above every result table.

Numbers without the machine are not comparable, so every bench script starts with
`print_header(title, data_size)`.
"""

from __future__ import annotations

import os
import platform
import sqlite3
from datetime import UTC, datetime
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            # x86 says "model name"; some ARM kernels only give "Hardware" or "Model".
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Model") and value.strip():
                return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cores() -> int:
    # The cores we may use (cgroup/affinity limits), not those the host has.
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (AttributeError, ValueError, OSError):
        return None


def machine_info() -> str:
    """One line: CPU model, usable cores, RAM, Python and SQLite versions."""
    ram = _ram_gb()
    parts = [
        _cpu_model(),
        f"{_cores()} cores",
        f"{ram:.0f} GB RAM" if ram is not None else "RAM unknown",
        f"Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    return ", ".join(parts)


def print_header(title: str, data_size: str) -> None:
    """Print a bench script's header: title, data size, machine line and date (UTC)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"== {title} — {data_size}")
    print(f"   {machine_info()}")
    print(f"   {stamp}", flush=True)


if __name__ == "__main__":
    print_header("machine", "n/a")
