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

_INNER = "_LEADGATE_WRITER_IR_INNER"


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
        measured = [evs[i : i + 1000] for i in range(warm, warm + n, 1000)]
        pid = str(os.getpid())
        subprocess.run(["callgrind_control", "-i", "on", pid], capture_output=True, check=False)
        for b in measured:
            engine.ingest(b, now)
            policy.after_write()
        subprocess.run(["callgrind_control", "-i", "off", pid], capture_output=True, check=False)
        engine.db.dispose()


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--warm", type=int, default=10_000, help="events stored first")
    ap.add_argument("--events", type=int, default=3_000, help="events measured (1,000 a batch)")
    ap.add_argument("--keep", help="also write callgrind_annotate's output here")
    args = ap.parse_args()
    if os.environ.get(_INNER):
        measure(args.warm, args.events)
        return
    if shutil.which("valgrind") is None:
        sys.exit("error: valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "callgrind.out")
        env = {**os.environ, _INNER: "1", "PYTHONHASHSEED": "0"}
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            *sys.argv,
        ]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        annotated = subprocess.run(
            ["callgrind_annotate", "--threshold=100", out],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if args.keep:
        with open(args.keep, "w", encoding="utf-8") as fh:
            fh.write(annotated)
    by = split(annotated)
    n = args.events
    parts = ", ".join(f"{k} {v // n:,}" for k, v in by.most_common())
    print(f"Engine.ingest 1,000/batch: {sum(by.values()) // n:,} instructions an event ({parts})")


if __name__ == "__main__":
    main()
