"""HTTP API load: a real `leadgate serve` driven from this (separate) process on 127.0.0.1.

    .venv/bin/python bench/api_load.py [--seconds 5] [--workers 1,2] [--pg-url URL | --no-pg]
        [--no-sqlite]

For each store (SQLite; PostgreSQL from --pg-url or a throwaway cluster via
tests/pgcluster.py) and each worker count, starts the server on a fresh database and
measures, each for a bounded time: single-event POSTs (closed loop, 4 in flight), single
events paced at 200 requests/s, batches of 100 and of 1,000 events, and GET /leads/{id}.
Prints requests/s, events/s and p50/p99 latency. Client and server share the machine.

`--floor-batches` also posts the storage floor's own transactions (bench/floors.py: its
store of 150k events over 20k leads, loaded by the engine, and the next 50 batches of
1,000 events of the same file), 8 in flight, to a server started on a copy of that store:
the like-for-like comparison with the floor. The phases above post another file's events
to a store that holds 20k of them, where ~22% of the events make a lead (6% in the floor's
data, whose loop skips such events).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import time
from collections.abc import Awaitable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import orjson

from _common import machine, percentile, postgres_url, processes_cpu, serve
from leadgate.keys import create_key
from leadgate.store.database import Database

TYPES = ["page_view", "page_view", "page_view", "email_click", "webinar_attended",
         "whitepaper_download", "newsletter_signup", "demo_request"]  # fmt: skip
N_LEADS = 20_000
_ids = itertools.count()


def server_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every process of the server's group."""
    return processes_cpu(lambda _, fields: int(fields[2]) == pgid)


@contextmanager
def server(db_url: str, workers: int) -> Iterator[tuple[str, dict[str, str], int]]:
    db = Database(db_url)
    db.migrate()
    _, key = create_key(db, "admin", "bench")
    db.dispose()
    with serve(db_url, "--workers", str(workers)) as (base, pid):
        yield (
            base,
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            pid,
        )


_lines: list[bytes] = []


def load_events(n: int) -> None:
    """The demo generator's events (bench/out, as bench/ingest.py uses): realistic skew."""
    from ingest import events_file

    with events_file(100_000, 1_000_000).open("rb") as fh:
        for line, _ in zip(fh, range(n), strict=False):
            _lines.append(line.strip())


def events_needed(seconds: float) -> int:
    """How many events one store's run prepares (`run_store`: the warm-up, then each phase's
    requests, made before it starts), so that no phase replays events already ingested."""
    n_s = int(seconds + 1)
    return N_LEADS + 1500 * n_s + 200 * n_s + 60 * n_s * 100 + 2 * 30 * n_s * 1000


def event(rnd: random.Random) -> dict[str, object]:
    """The next event of the file, in order (each run's store is fresh: ids are new to it).
    Never the file again from its start: those ids are in the store already, and a replayed
    event is answered as a duplicate, far cheaper than a new one (a 10-s run once read 91%
    of the floor that way)."""
    i = next(_ids)
    if i >= len(_lines):
        raise SystemExit(f"api_load: ran out of events ({len(_lines):,} loaded)")
    ev: dict[str, object] = orjson.loads(_lines[i])
    return ev


def bodies(rnd: random.Random, size: int, n: int) -> list[bytes]:
    if size == 1:
        return [orjson.dumps(event(rnd)) for _ in range(n)]
    return [orjson.dumps({"events": [event(rnd) for _ in range(size)]}) for _ in range(n)]


def engine_ceiling(skip: int = 60_000, events: int = 50_000) -> float:
    """Engine.ingest alone on 1,000-event batches (no HTTP), events/s: the `events` after
    the first `skip` of the file, i.e. on a store about as full as the server's when the
    batch runs start (the engine slows as the store fills: measuring from an empty store
    flatters it). Same GC policy as `leadgate serve`."""
    import tempfile

    from leadgate.api.app import tune_gc
    from leadgate.engine.engine import Engine
    from leadgate.ingest.validate import parse_event
    from leadgate.store.database import open_database

    tune_gc()
    with tempfile.TemporaryDirectory() as d:
        eng = Engine(open_database(f"sqlite:///{d}/c.db"))
        eng.ensure_playbook()
        now = time.time()
        evs = [parse_event(orjson.loads(x), now) for x in _lines[: skip + events]]
        for i in range(0, skip, 1000):
            eng.ingest(evs[i : i + 1000], now)
        t0 = time.perf_counter()
        for i in range(skip, len(evs), 1000):
            eng.ingest(evs[i : i + 1000], now)
        out = (len(evs) - skip) / (time.perf_counter() - t0)
        eng.db.dispose()
    return out


def prepare(
    client: httpx.AsyncClient, reqs: list[tuple[str, str, bytes | None]]
) -> list[httpx.Request]:
    """Requests built before the clock starts: httpx spends ~0.2 ms of CPU building one,
    CPU the server on the same 2 cores would otherwise lose while being measured."""
    return [client.build_request(m, p, content=b) for m, p, b in reqs]


async def closed_loop(
    client: httpx.AsyncClient, reqs: list[httpx.Request], seconds: float, conc: int
) -> tuple[int, float, list[float]]:
    """`conc` requests in flight until `seconds` pass or `reqs` run out."""
    lat: list[float] = []
    it = iter(reqs)
    end = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        for req in it:
            if time.perf_counter() > end:
                return
            t0 = time.perf_counter()
            r = await client.send(req)
            lat.append(time.perf_counter() - t0)
            if r.status_code >= 400:
                raise RuntimeError(f"{req.method} {req.url}: {r.status_code} {r.text[:200]}")
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return done, time.perf_counter() - t0, lat


async def paced(
    client: httpx.AsyncClient,
    reqs: list[httpx.Request],
    rate: float,
    seconds: float,
) -> tuple[int, float, list[float]]:
    """Open loop: one request every 1/rate s, whatever the answers take."""
    lat: list[float] = []
    n = min(len(reqs), int(rate * seconds))
    start = time.perf_counter()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        t0 = time.perf_counter()
        r = await client.send(reqs[i])
        lat.append(time.perf_counter() - t0)
        if r.status_code >= 400:
            raise RuntimeError(f"{r.status_code} {r.text[:200]}")

    await asyncio.gather(*(one(i) for i in range(n)))
    return n, time.perf_counter() - start, lat


async def run_store(
    label: str,
    db_url: str,
    workers: int,
    seconds: float,
    batches_only: bool = False,
) -> list[list[str]]:
    global _ids
    _ids = itertools.count()  # every run replays the same events into a fresh store
    rows: list[list[str]] = []
    rnd = random.Random(7)
    n_s = int(seconds + 1)
    with server(db_url, workers) as (base, headers, pgid):
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        async with httpx.AsyncClient(
            base_url=base, headers=headers, limits=limits, timeout=60
        ) as c:
            # Warm up (N_LEADS events), so runs measure a store that holds leads already.
            for b in bodies(rnd, 1000, N_LEADS // 1000):
                await c.post("/api/v1/events", content=b)

            async def add(
                name: str, size: int, run: Awaitable[tuple[int, float, list[float]]]
            ) -> None:
                cpu0, own0 = server_cpu(pgid), time.process_time()
                n, secs, lat = await run
                srv, own = server_cpu(pgid) - cpu0, time.process_time() - own0
                rows.append([
                    label, str(workers), name, f"{n / secs:,.0f}", f"{n * size / secs:,.0f}",
                    f"{percentile(lat, 50) * 1000:.1f}", f"{percentile(lat, 99) * 1000:.1f}", str(n),
                    f"{srv / n * 1000:.2f}", f"{own / n * 1000:.2f}",
                ])  # fmt: skip
                print("  " + " | ".join(rows[-1]), flush=True)

            def posts(size: int, n: int) -> list[httpx.Request]:
                return prepare(c, [("POST", "/api/v1/events", b) for b in bodies(rnd, size, n)])

            if batches_only:
                # The batch phases read the very events they read in a full run.
                for _ in range(1500 * n_s + 200 * n_s + 60 * n_s * 100):
                    next(_ids)
            else:
                await add(
                    "1 event, 4 in flight", 1, closed_loop(c, posts(1, 1500 * n_s), seconds, 4)
                )
                await add("1 event @ 200 req/s", 1, paced(c, posts(1, 200 * n_s), 200, seconds))
                await add(
                    "batch 100, 2 in flight", 100, closed_loop(c, posts(100, 60 * n_s), seconds, 2)
                )
            await add(
                "batch 1,000, 2 in flight", 1000, closed_loop(c, posts(1000, 30 * n_s), seconds, 2)
            )
            # Issue 17: 8 clients sending 1,000-event batches; on SQLite the queued batches
            # share a transaction (group commit). Held against the storage floor below.
            await add(
                "batch 1,000, 8 in flight", 1000, closed_loop(c, posts(1000, 30 * n_s), seconds, 8)
            )
            if batches_only:
                return rows
            page = (await c.get("/api/v1/leads", params={"limit": 500})).json()["items"]
            ids = [x["id"] for x in page]

            def gets(n: int) -> list[httpx.Request]:
                return prepare(
                    c, [("GET", f"/api/v1/leads/{rnd.choice(ids)}", None) for _ in range(n)]
                )

            await add(
                "GET /leads/{id}, 1 in flight", 0, closed_loop(c, gets(1500 * n_s), seconds, 1)
            )
            await add("GET /leads/{id} @ 100 req/s", 0, paced(c, gets(100 * n_s), 100, seconds))
    return rows


FLOOR_BATCHES = "batch 1,000, 8 in flight, the floor's batches"


async def run_floor_batches(workers: int) -> list[list[str]]:
    """The floor's 50 transactions of 1,000 events, over HTTP with 8 in flight, on a copy
    of the floor's store (`--floor-batches`)."""
    from floors import api_store, load_lines
    from ingest import events_file

    tail = load_lines(events_file(20_000, 200_000), 150_000, 200_000)
    sent = [orjson.dumps({"events": tail[i : i + 1000]}) for i in range(0, len(tail), 1000)]
    rows: list[list[str]] = []
    with _tmpdir() as d:
        url = f"sqlite:///{d}/api.db"
        api_store(url)
        with server(url, workers) as (base, headers, pgid):
            limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
            async with httpx.AsyncClient(
                base_url=base, headers=headers, limits=limits, timeout=60
            ) as c:
                reqs = prepare(c, [("POST", "/api/v1/events", b) for b in sent])
                cpu0, own0 = server_cpu(pgid), time.process_time()
                n, secs, lat = await closed_loop(c, reqs, 3600.0, 8)
                srv, own = server_cpu(pgid) - cpu0, time.process_time() - own0
                rows.append([
                    "SQLite", str(workers), FLOOR_BATCHES, f"{n / secs:,.0f}",
                    f"{n * 1000 / secs:,.0f}", f"{percentile(lat, 50) * 1000:.1f}",
                    f"{percentile(lat, 99) * 1000:.1f}", str(n), f"{srv / n * 1000:.2f}",
                    f"{own / n * 1000:.2f}",
                ])  # fmt: skip
                print("  " + " | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--pg-url", default=None)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="SQLite runs (fresh stores, same events)")
    ap.add_argument(
        "--batches-only",
        action="store_true",
        help="only the 1,000-event batch phases (A/B runs of the 8-in-flight target)",
    )
    ap.add_argument(
        "--floor-batches",
        action="store_true",
        help="also the floor's own transactions over HTTP, on a copy of its store",
    )
    args = ap.parse_args()
    print(f"# API load — {machine()}")
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at start "
        f"{_load()} (other jobs on the machine share its 2 cores)"
    )
    print(
        f"# {N_LEADS:,} leads warmed up; {args.seconds:g} s per measurement; client in this process, server in `leadgate serve`"
    )
    need = events_needed(args.seconds)
    load_events(need)
    if len(_lines) < need:
        ap.error(
            f"--seconds {args.seconds:g} needs {need:,} events and the file holds "
            f"{len(_lines):,}: use fewer seconds"
        )
    print(
        f"# events: the demo generator's JSONL (bench/out), read in order; {len(_lines):,} loaded"
    )
    print(
        "# engine alone (Engine.ingest, SQLite, 1,000-event batches, no HTTP, events 60k-110k "
        f"of the file after the first 60k): {engine_ceiling():,.0f} events/s"
    )
    header = ["store", "workers", "load", "requests/s", "events/s", "p50 ms", "p99 ms",
              "requests", "server CPU ms/req", "client CPU ms/req"]  # fmt: skip
    rows: list[list[str]] = []
    with ExitStack() as stack:
        pg = None if args.no_pg else stack.enter_context(postgres_url(args.pg_url))
        for workers in [int(w) for w in args.workers.split(",")]:
            for _ in range(args.repeat if not args.no_sqlite else 0):
                with _tmpdir() as d:
                    rows += asyncio.run(
                        run_store(
                            "SQLite",
                            f"sqlite:///{d}/bench.db",
                            workers,
                            args.seconds,
                            args.batches_only,
                        )
                    )
                if args.floor_batches:
                    rows += asyncio.run(run_floor_batches(workers))
            if pg:
                url = _fresh_pg(pg, workers)
                rows += asyncio.run(run_store("PostgreSQL", url, workers, args.seconds))
    if not args.no_sqlite:
        print(f"# {_floor_line(rows)}")
    print(f"# load average at the end {_load()}")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def _floor_line(rows: list[list[str]]) -> str:
    """The storage floor of 1,000-event transactions (bench/floors.py), measured now, and
    what share of it 8 clients' batches reached over HTTP on SQLite."""
    from floors import batch_floor_sqlite, load_lines
    from ingest import events_file

    tail = load_lines(events_file(20_000, 200_000), 150_000, 200_000)
    batches = [tail[i : i + 1000] for i in range(0, len(tail), 1000)]
    cpu: list[float] = []
    with _tmpdir() as d:
        floor = batch_floor_sqlite(Path(d), batches, cpu)
    mine = [
        r for r in rows if r[0] == "SQLite" and r[2] in ("batch 1,000, 8 in flight", FLOOR_BATCHES)
    ]

    def tag(r: list[str]) -> str:
        return " (its own batches)" if r[2] == FLOOR_BATCHES else ""

    share = ", ".join(f"{float(r[4].replace(',', '')) / floor:.0%}{tag(r)}" for r in mine)
    # The same comparison by CPU time, which other jobs on a shared machine stretch far less
    # than the wall clock (the floor and the batches run minutes apart, at different loads):
    # events per CPU-second of the floor's loop against events per CPU-second of the whole
    # server process (1,000 events a request).
    floor_cpu = sum(len(b) for b in batches) / cpu[0]
    by_cpu = ", ".join(
        f"{1e6 / float(r[8]):,.0f} = {1e6 / float(r[8]) / floor_cpu:.0%}{tag(r)}" for r in mine
    )
    return (
        f"storage floor, SQLite, 1,000-event transactions: {floor:,.0f} events/s; "
        f"8 clients over HTTP reached {share} of it (target >= 60%); per CPU-second: "
        f"floor {floor_cpu:,.0f} events, server {by_cpu}"
    )


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min)"


@contextmanager
def _tmpdir() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        yield d


def _fresh_pg(base_url: str, n: int) -> str:
    """A new database beside `base_url`'s, so each run starts empty."""
    import psycopg

    name = f"lg_api_bench_{os.getpid()}_{n}_{int(time.time())}"
    head, _, query = base_url.partition("?")
    conninfo = (
        head.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://")
        + "/postgres"
        + ("?" + query if query else "")
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return head.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


if __name__ == "__main__":
    main()
