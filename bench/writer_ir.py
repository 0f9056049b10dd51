"""The single writer's instructions an event, counted by valgrind (deterministic).

    .venv/bin/python bench/writer_ir.py [--warm 10000] [--events 3000] [--keep FILE]

On a shared machine CPU time moves by 30% between two runs of the same code (the
other jobs' load, a busy sibling hyperthread); instructions do not (two runs of the
same code agree within 0.05%). This runs `Engine.ingest` as `bench/writer.py` does
(the listeners of `leadgate serve`, its GC policy, 1,000-event batches, a fixed clock)
under callgrind with instrumentation on only around the measured batches, and prints
the instructions an event, split into SQLite, the interpreter, orjson and libc
(malloc, mutexes). Needs `valgrind` (Debian: apt-get install valgrind); ~1 minute.
Alternate the code under test with PYTHONPATH, as with bench/writer.py.

`--against-floor` instead counts, on the HTTP floor's own store and slice (bench/floors.py:
150k events over 20k leads loaded by the engine, then events 150,000 on of the same file),
the floor's 1,000-event transactions and `Engine.ingest` on the same batches, and prints
what the issue-17 target (HTTP at >= 60% of that floor) leaves for the whole server path.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

_INNER = "_LEADGATE_WRITER_IR_INNER"
_STORE = "_LEADGATE_WRITER_IR_STORE"
_NOW = "_LEADGATE_WRITER_IR_NOW"
# The HTTP floor's slice: its store holds the file's first 150,000 events.
_FLOOR_FIRST = 150_000


def measure(warm: int, n: int) -> None:
    """Inside valgrind: warm a store, then ingest `n` events with instrumentation on."""
    import orjson

    from ingest import events_file
    from leadgate.api.gc_policy import FreezeAfterWrites, tune_gc
    from leadgate.ingest.validate import parse_event
    from writer import serving_engine

    with events_file(100_000, 1_000_000).open("rb") as fh:
        lines = [line.strip() for line, _ in zip(fh, range(warm + n), strict=False)]
    now = 1_796_000_000.0  # fixed: the same work in every run
    with tempfile.TemporaryDirectory() as d:
        engine = serving_engine(f"sqlite:///{d}/bench.db")
        policy = FreezeAfterWrites()
        tune_gc()
        evs = [parse_event(orjson.loads(x), now) for x in lines]
        for i in range(0, warm, 1000):
            engine.ingest(evs[i : i + 1000], now)
            policy.after_write()
        _count_ingest(engine, policy, [evs[i : i + 1000] for i in range(warm, warm + n, 1000)], now)


def _instrumented(run: Callable[[], None]) -> None:
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", pid], capture_output=True, check=False)
    run()
    subprocess.run(["callgrind_control", "-i", "off", pid], capture_output=True, check=False)


def _count_ingest(engine: Any, policy: Any, batches: list[list[Any]], now: float) -> None:
    """`Engine.ingest` of each batch as served (the GC policy after each), counted."""

    def run() -> None:
        for b in batches:
            engine.ingest(b, now)
            policy.after_write()

    _instrumented(run)
    engine.db.dispose()


def _floor_batches(n: int) -> list[list[dict[str, Any]]]:
    """The first (uncounted) batch and the `n` events after it, from the floor's slice."""
    from floors import load_lines
    from ingest import events_file

    tail = load_lines(events_file(20_000, 200_000), _FLOOR_FIRST, _FLOOR_FIRST + 1000 + n)
    return [tail[i : i + 1000] for i in range(0, len(tail), 1000)]


def measure_floor(store: str, n: int, now: float) -> None:
    """Inside valgrind: the floor's transactions (bench/floors.py) on a copy of its store."""
    from pathlib import Path

    from floors import connect, floor_batch

    conn = connect(Path(store))
    ids = dict(conn.execute("SELECT email, id FROM leads").fetchall())
    first, *measured = _floor_batches(n)
    floor_batch(conn, ids, first, now)

    def run() -> None:
        for b in measured:
            floor_batch(conn, ids, b, now)

    _instrumented(run)
    conn.close()


def measure_writer_on(store: str, n: int, now: float) -> None:
    """Inside valgrind: `Engine.ingest` as served, on a copy of the floor's store."""
    from leadgate.api.gc_policy import FreezeAfterWrites, tune_gc
    from leadgate.ingest.validate import parse_event
    from writer import serving_engine

    engine = serving_engine(f"sqlite:///{store}")
    policy = FreezeAfterWrites()
    tune_gc()
    first, *measured = [[parse_event(e, now) for e in b] for b in _floor_batches(n)]
    engine.ingest(first, now)  # the lead cache warmed, as in a running server
    policy.after_write()
    _count_ingest(engine, policy, measured, now)


def split(annotated: str) -> collections.Counter[str]:
    """Instructions by where they ran, from `callgrind_annotate` output."""
    out: collections.Counter[str] = collections.Counter()
    for line in annotated.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        ob = re.search(r"\[(.*?)\]", m.group(2))
        name = ob.group(1).rsplit("/", 1)[-1] if ob else ""
        # Functions callgrind names without their object are the interpreter's own
        # (ceval's inlined call paths).
        kind = (
            "sqlite"
            if "sqlite" in name
            else "orjson"
            if "orjson" in name
            else "libc"
            if name.startswith(("libc", "ld-linux", "libm"))
            else "python"
        )
        out[kind] += int(m.group(1).replace(",", ""))
    return out


def self_under_callgrind(out: str) -> list[str]:
    """This script's own command line under callgrind, counting nothing until a part turns
    instrumentation on (`callgrind_control -i on`)."""
    return [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        *sys.argv,
    ]


def annotated(path: str, keep: str | None) -> collections.Counter[str]:
    """The instructions of one callgrind output by where they ran (`callgrind_annotate`'s
    output also appended to the file `keep`)."""
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if keep:
        with open(keep, "a", encoding="utf-8") as fh:
            fh.write(text)
    return split(text)


def _callgrind(env: dict[str, str], keep: str | None) -> collections.Counter[str]:
    """Run this script inside callgrind with `env`; the instructions by where they ran."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "callgrind.out")
        env = {**os.environ, **env, "PYTHONHASHSEED": "0"}
        subprocess.run(self_under_callgrind(out), env=env, check=True, capture_output=True)
        return annotated(out, keep)


def line(label: str, by: collections.Counter[str], n: int) -> str:
    """`label: N instructions an event (python .., sqlite .., ...)`."""
    parts = ", ".join(f"{k} {v // n:,}" for k, v in by.most_common())
    return f"{label}: {sum(by.values()) // n:,} instructions an event ({parts})"


def against_floor(n: int, cpu_n: int, keep: str | None) -> None:
    """The floor and `Engine.ingest` on the same store and batches, each under callgrind."""
    import time

    from floors import api_store

    now = time.time()
    with tempfile.TemporaryDirectory() as d:
        base = os.path.join(d, "api.db")
        api_store(f"sqlite:///{base}")
        known = _known_share(base, n)
        cpu = {kind: _cpu_on_copy(kind, base, d, cpu_n, now) for kind in ("floor", "writer")}
        got = {}
        for kind in ("floor", "writer"):
            store = os.path.join(d, f"{kind}.db")
            shutil.copyfile(base, store)
            got[kind] = _callgrind({_INNER: kind, _STORE: store, _NOW: repr(now)}, keep)
    floor, writer = got["floor"], got["writer"]
    print(
        f"events {_FLOOR_FIRST + 1000:,}-{_FLOOR_FIRST + 1000 + n:,} of the 200k-event demo "
        f"file, on the floor's store (the first {_FLOOR_FIRST:,} loaded by the engine); "
        f"{known:.0%} of them name a lead the store holds (the floor skips the others)"
    )
    print(line("floor, 1,000-event transactions", floor, n))
    print(line("Engine.ingest as served, same batches", writer, n))
    print(
        f"CPU, {cpu_n:,} events from the same place, outside valgrind (load "
        f"{os.getloadavg()[0]:.1f}): floor "
        f"{cpu['floor']:.1f} µs an event, Engine.ingest {cpu['writer']:.1f} µs "
        f"(the writer alone at {cpu['floor'] / cpu['writer']:.0%} of the floor)"
    )
    budget = sum(floor.values()) / 0.6
    storage = writer["sqlite"] + writer["libc"]
    print(
        f"HTTP at 60% of the floor leaves {budget / n:,.0f} instructions an event for the "
        f"whole server (HTTP, JSON, validation, the writer); the writer's SQLite and libc "
        f"alone take {storage / n:,.0f} ({storage / budget:.0%} of it), its interpreter "
        f"{writer['python'] / n:,.0f}"
    )


def _cpu_on_copy(kind: str, base: str, d: str, n: int, now: float) -> float:
    """CPU-µs an event of the floor's loop or `Engine.ingest` on a copy of the store."""
    import time
    from pathlib import Path

    from floors import connect, floor_batch
    from leadgate.ingest.validate import parse_event
    from writer import serving_engine

    store = os.path.join(d, f"cpu-{kind}.db")
    shutil.copyfile(base, store)
    first, *measured = _floor_batches(n)
    if kind == "floor":
        conn = connect(Path(store))
        ids = dict(conn.execute("SELECT email, id FROM leads").fetchall())
        floor_batch(conn, ids, first, now)
        c = time.process_time()
        for b in measured:
            floor_batch(conn, ids, b, now)
        spent = time.process_time() - c
        conn.close()
    else:
        from leadgate.api.gc_policy import FreezeAfterWrites, tune_gc

        # As served: the server's GC policy (without it the collector walks the cached
        # leads again and again: ~45% more CPU here).
        engine = serving_engine(f"sqlite:///{store}")
        policy = FreezeAfterWrites()
        tune_gc()
        parsed = [[parse_event(e, now) for e in b] for b in measured]
        engine.ingest([parse_event(e, now) for e in first], now)
        policy.after_write()
        c = time.process_time()
        for b in parsed:
            engine.ingest(b, now)
            policy.after_write()
        spent = time.process_time() - c
        engine.db.dispose()
    return 1e6 * spent / sum(len(b) for b in measured)


def _known_share(store: str, n: int) -> float:
    import sqlite3

    conn = sqlite3.connect(store)
    ids = {e for (e,) in conn.execute("SELECT email FROM leads")}
    conn.close()
    measured = [e for b in _floor_batches(n)[1:] for e in b]
    return sum(e["email"] in ids for e in measured) / len(measured)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--warm", type=int, default=10_000, help="events stored first")
    ap.add_argument("--events", type=int, default=3_000, help="events measured (1,000 a batch)")
    ap.add_argument("--keep", help="also write callgrind_annotate's output here")
    ap.add_argument(
        "--against-floor",
        action="store_true",
        help="the HTTP floor and Engine.ingest on the floor's store and batches",
    )
    ap.add_argument(
        "--cpu-events",
        type=int,
        default=40_000,
        help="with --against-floor: events timed by CPU outside valgrind",
    )
    args = ap.parse_args()
    inner = os.environ.get(_INNER)
    if inner == "floor":
        measure_floor(os.environ[_STORE], args.events, float(os.environ[_NOW]))
        return
    if inner == "writer":
        measure_writer_on(os.environ[_STORE], args.events, float(os.environ[_NOW]))
        return
    if inner:
        measure(args.warm, args.events)
        return
    if shutil.which("valgrind") is None:
        sys.exit("error: valgrind is not installed (Debian: apt-get install valgrind)")
    if args.keep:
        open(args.keep, "w", encoding="utf-8").close()  # each run appends its output
    if args.against_floor:
        against_floor(args.events, args.cpu_events, args.keep)
        return
    by = _callgrind({_INNER: "1"}, args.keep)
    print(line("Engine.ingest 1,000/batch", by, args.events))


if __name__ == "__main__":
    main()
