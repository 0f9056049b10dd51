"""Where a 1,000-event request's server CPU goes at N requests in flight (issue 17).

    .venv/bin/python bench/api_inflight.py [--phases 2,8,2,8] [--batches 30] [--warm 20]

Starts `leadgate.api.app:app_from_env` under uvicorn (as `leadgate serve` does: uvloop,
httptools, the server's GC policy) in a child process that also records each ingest
transaction (events, wall and thread-CPU time) and each garbage collection (generation,
CPU time); then posts `--warm` batches and, per phase, `--batches` more with that many
in flight. Per phase it prints events/s, the server's CPU a request (all threads), the
writer's wall and CPU a request, the transactions' sizes and the GC time a request.
Alternate the code under test with PYTHONPATH (e.g. main's src against a branch's).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from _common import free_port, processes_cpu
from ingest import events_file


def serve(port: int, stats_path: str) -> None:
    """The instrumented server (child process); SIGUSR1 writes the records so far."""
    import uvicorn

    from leadgate.api import context

    writes: list[tuple[int, float, float]] = []
    gcs: list[tuple[int, float]] = []
    real = context.ApiContext._write_group

    def write_group(self: context.ApiContext, group: list[Any]) -> None:
        t, c = time.perf_counter(), time.thread_time()
        try:
            real(self, group)
        finally:
            n = sum(len(q.events) for q in group)
            writes.append((n, time.perf_counter() - t, time.thread_time() - c))

    context.ApiContext._write_group = write_group  # type: ignore[method-assign]
    started = threading.local()

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.t = time.thread_time()
        else:
            gcs.append((info["generation"], time.thread_time() - started.t))

    gc.callbacks.append(on_gc)

    def dump(*_: object) -> None:
        Path(stats_path).write_text(json.dumps({"writes": writes, "gc": gcs}))

    signal.signal(signal.SIGUSR1, dump)
    os.environ["LEADGATE_ACCESS_LOG"] = "0"
    uvicorn.run(
        "leadgate.api.app:app_from_env",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--phases", default="2,8,2,8", help="requests in flight, per phase")
    ap.add_argument("--batches", type=int, default=30, help="1,000-event requests a phase")
    ap.add_argument("--warm", type=int, default=20)
    ap.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    phases = [int(x) for x in args.phases.split(",")]
    total = (args.warm + args.batches * len(phases)) * 1000
    with events_file(100_000, 1_000_000).open("rb") as fh:
        lines = [line.strip() for line, _ in zip(fh, range(total), strict=False)]
    pos = itertools.count()

    def body() -> bytes:
        evs = [orjson.loads(lines[next(pos) % len(lines)]) for _ in range(1000)]
        return orjson.dumps({"events": evs})

    from leadgate.keys import create_key
    from leadgate.store.database import Database

    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{d}/bench.db"
        db = Database(url)
        db.migrate()
        _, key = create_key(db, "admin", "bench")
        db.dispose()
        port, stats = free_port(), f"{d}/stats.json"
        env = {**os.environ, "LEADGATE_DB": url, "LEADGATE_TICK": "1", "LEADGATE_DELIVERY": "1"}
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), stats],
            env=env,
            start_new_session=True,
        )
        try:
            asyncio.run(
                _drive(f"http://127.0.0.1:{port}", key, proc.pid, stats, phases, args, body)
            )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()


async def _drive(
    base: str, key: str, pid: int, stats: str, phases: list[int], args: Any, body: Any
) -> None:
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=120,
        limits=httpx.Limits(max_connections=16),
    ) as c:
        for _ in range(600):
            try:
                if (await c.get("/readyz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        for _ in range(args.warm):
            (await c.post("/api/v1/events", content=body())).raise_for_status()

        async def records() -> dict[str, Any]:
            os.kill(pid, signal.SIGUSR1)
            await asyncio.sleep(0.5)
            out: dict[str, Any] = json.loads(Path(stats).read_text())
            return out

        def cpu() -> float:
            return processes_cpu(lambda _, f: int(f[2]) == pid)

        print(f"# load average at start {os.getloadavg()[0]:.2f}")
        for conc in phases:
            reqs = iter(
                [
                    c.build_request("POST", "/api/v1/events", content=body())
                    for _ in range(args.batches)
                ]
            )

            async def client(reqs: Any = reqs) -> None:
                for r in reqs:
                    (await c.send(r)).raise_for_status()

            before, cpu0, t0 = await records(), cpu(), time.perf_counter()
            await asyncio.gather(*(client() for _ in range(conc)))
            wall, used = time.perf_counter() - t0, cpu() - cpu0
            after = await records()
            w = after["writes"][len(before["writes"]) :]
            g = after["gc"][len(before["gc"]) :]
            n = args.batches
            print(
                f"{conc} in flight: {n * 1000 / wall:,.0f} events/s; server CPU "
                f"{used / n * 1000:.1f} ms a request; writer {sum(x[1] for x in w) / n * 1000:.1f} "
                f"ms wall, {sum(x[2] for x in w) / n * 1000:.1f} ms CPU a request; "
                f"transactions {[x[0] for x in w]}; GC {len(g)} collections "
                f"(gens {sorted({x[0] for x in g})}), {sum(x[1] for x in g) / n * 1000:.1f} ms "
                f"CPU a request; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
