"""The HTTP side's instructions an event of a 1,000-event POST /api/v1/events, counted by
valgrind (deterministic): the whole request minus `Engine.ingest`.

    .venv/bin/python bench/http_side_ir.py [--bodies 10] [--keep FILE]

Issue 17: the server is one process and everything Python in it holds the GIL, so what
the event loop spends on a batch (JSON, validation, the answer, FastAPI) is time the
writer cannot have. On a shared machine CPU time moves by 30% between two runs of the
same code; instructions do not. This builds the app `leadgate serve` runs (its
middleware, the key lookup, the GC policy, uvloop) on a throwaway SQLite store, replaces
`Engine.ingest` by a stub that hands back precomputed results (every event accepted, with
a lead id, as on a store seeing them for the first time), and drives the ASGI app in this
process with real bodies of 1,000 events of the demo file (as bench/api_load.py sends
them), the body delivered in 64 KiB messages as a socket would. Not counted: uvicorn's
HTTP parsing and socket writes, and the engine.

Printed, each in instructions an event and split into the interpreter, orjson and libc
(malloc, mutexes) as bench/writer_ir.py does: the whole request; its parts called alone on
the same bodies (decode_json + split_items, parse_items; the rest is FastAPI, the key, the
hand-over to the writer's thread and the answer). Needs valgrind; ~1 minute. Alternate
the code under test with PYTHONPATH.
"""

from __future__ import annotations

import argparse
import collections
import glob
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from _common import load_average, machine
from writer_ir import annotated, line, self_under_callgrind

_INNER = "_LEADGATE_HTTP_SIDE_IR_INNER"
NOW = 1_796_000_000.0  # fixed: the same work in every run
CHUNK = 65_536
# Parts counted alone, in this order (one callgrind dump each).
PARTS = ("request", "decode + split", "parse_items")


def _bodies(n: int, skip: int, size: int = 1000) -> list[bytes]:
    """`n` bodies of `size` events of the demo file, after the first `skip` bodies (as
    bench/api_load.py builds them: orjson.dumps of {"events": [...]})."""
    import orjson

    from ingest import events_file

    out = []
    with events_file(100_000, 1_000_000).open("rb") as fh:
        lines = [line.strip() for line, _ in zip(fh, range((skip + n) * size), strict=False)]
    for b in range(skip, skip + n):
        chunk = lines[b * size : (b + 1) * size]
        out.append(orjson.dumps({"events": [orjson.loads(x) for x in chunk]}))
    return out


def _dump(label: str) -> None:
    """Write the counts so far to a file of their own and zero them (one file a part)."""
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-d", label, pid], capture_output=True, check=False)


def _instrumented(label: str, run: Callable[[], None]) -> None:
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", pid], capture_output=True, check=False)
    run()
    subprocess.run(["callgrind_control", "-i", "off", pid], capture_output=True, check=False)
    _dump(label)


def _stub_results(bodies: list[bytes]) -> collections.deque[list[Any]]:
    """What `Engine.ingest` answers for each body: every event accepted, a lead id by
    address."""
    import orjson

    from leadgate.engine.engine import ItemResult
    from leadgate.ingest.validate import parse_event

    leads: dict[str, int] = {}
    out: collections.deque[list[Any]] = collections.deque()
    for body in bodies:
        evs = [parse_event(e, NOW) for e in orjson.loads(body)["events"]]
        out.append([
            ItemResult(i, ev.id, "accepted", lead_id=leads.setdefault(ev.email, len(leads) + 1))
            for i, ev in enumerate(evs)
        ])  # fmt: skip
    return out


def measure(n: int, size: int) -> None:
    """Inside valgrind: the app as served, `Engine.ingest` stubbed; each part counted."""
    import orjson
    import uvloop

    from leadgate.api.app import create_app
    from leadgate.api.events import decode_json, parse_items, split_items
    from leadgate.api.gc_policy import FreezeAfterWrites, tune_gc
    from leadgate.keys import create_key

    warm, bodies = _bodies(1, 0, size), _bodies(n, 1, size)
    with tempfile.TemporaryDirectory() as d, open(os.devnull, "w") as sink:
        app = create_app(f"sqlite:///{d}/bench.db")
        ctx = app.state.leadgate
        _, key = create_key(ctx.db, "admin", "bench")
        # As `leadgate serve` does (app_from_env): the access log on, to stderr (dropped).
        logging.basicConfig(level=logging.INFO, stream=sink, format="%(name)s: %(message)s")
        ctx.engine.clock = lambda: NOW
        results = _stub_results(warm + bodies)

        def stub_ingest(events: list[Any], now: float) -> list[Any]:
            out = results.popleft()
            if len(out) != len(events):
                raise SystemExit("http_side_ir: the stub's results do not match the events")
            return out

        ctx.engine.ingest = stub_ingest
        tune_gc()
        ctx.gc_policy = FreezeAfterWrites()
        headers = [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
        ]

        async def post(body: bytes, chunks: list[bytes]) -> bytes:
            scope = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/api/v1/events",
                "raw_path": b"/api/v1/events",
                "root_path": "",
                "query_string": b"",
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
                "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 8000),
                "state": {},
            }
            messages = collections.deque(
                {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)
            )
            sent: list[bytes] = []
            status = [0]

            async def receive() -> dict[str, Any]:
                return messages.popleft()

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                else:
                    sent.append(message.get("body", b""))

            await app(scope, receive, send)
            if status[0] != 200:
                raise SystemExit(f"http_side_ir: {status[0]} {b''.join(sent)[:300]!r}")
            return b"".join(sent)

        answers: list[bytes] = []

        async def requests(bs: list[bytes]) -> None:
            # Sliced beforehand: the server's socket reads hand it such pieces.
            sliced = [[b[i : i + CHUNK] for i in range(0, len(b), CHUNK)] for b in bs]
            for b, chunks in zip(bs, sliced, strict=True):
                answers.append(await post(b, chunks))

        async def main() -> None:
            await requests(warm)  # imports, the key's statement cache, the thread pool
            pid = str(os.getpid())
            subprocess.run(["callgrind_control", "-i", "on", pid], capture_output=True)
            await requests(bodies)
            subprocess.run(["callgrind_control", "-i", "off", pid], capture_output=True)
            _dump("request")

        uvloop.run(main())
        for a in answers:  # checked here: reading the answers is the client's work
            if orjson.loads(a)["accepted"] != size:
                raise SystemExit(f"http_side_ir: not every event accepted: {a[:300]!r}")

        decoded: list[Any] = []

        def decode() -> None:
            decoded.extend(split_items(decode_json(b)) for b in bodies)

        _instrumented("decode", decode)

        def parse() -> None:
            for items in decoded:
                parse_items(items, NOW, {})

        _instrumented("parse", parse)
        ctx.engine.db.dispose()


def _callgrind(n: int, keep: str | None) -> list[collections.Counter[str]]:
    """Run this script inside callgrind; each part's instructions by where they ran."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "callgrind.out")
        env = {**os.environ, _INNER: "1", "PYTHONHASHSEED": "0"}
        subprocess.run(self_under_callgrind(out), env=env, check=True, capture_output=True)
        dumps = sorted(glob.glob(out + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))
        if len(dumps) != len(PARTS):
            raise SystemExit(f"http_side_ir: {len(dumps)} callgrind dumps, not {len(PARTS)}")
        return [annotated(path, keep) for path in dumps]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bodies", type=int, default=10, help="bodies measured")
    ap.add_argument(
        "--size", type=int, default=1000, help="events a body (1: the per-request overhead)"
    )
    ap.add_argument("--keep", help="also write callgrind_annotate's output here")
    args = ap.parse_args()
    if os.environ.get(_INNER):
        measure(args.bodies, args.size)
        return
    if shutil.which("valgrind") is None:
        sys.exit("error: valgrind is not installed (Debian: apt-get install valgrind)")
    if args.keep:
        open(args.keep, "w", encoding="utf-8").close()  # each part appends its output
    print(machine())
    print(f"{load_average()} (instructions do not depend on it)")
    request, decode, parse = _callgrind(args.bodies, args.keep)
    n = args.bodies * args.size
    rest = request - decode - parse
    print(
        f"{args.bodies} POST /api/v1/events of {args.size:,} demo events each, "
        "Engine.ingest stubbed"
    )
    print(line("whole request", request, n))
    print(line("  decode_json + split_items", decode, n))
    print(line("  parse_items", parse, n))
    print(line("  the rest (FastAPI, key, hand-over, answer)", rest, n))


if __name__ == "__main__":
    main()
