"""Form submissions: server time per submission at a steady rate, and the snippet's size.

    .venv/bin/python bench/forms.py [--rate 100] [--seconds 5] [--json]

Starts a real `leadgate serve` on a fresh SQLite store whose playbook has a three-step
form (a hand-raiser, with BANT answers and a consent), fetches one ticket per
submission, then sends submissions open-loop at `--rate` per second (each at its slot,
whatever the previous ones did; nine in ten for new leads, one in ten for a lead that
submitted before). Server time is what the server's access log says of each
`POST /f/bench/submit` (from the request's first byte to the response's last); the
client's view (with the loopback hop) is printed beside it. Spam rules stay on except
the fill time and the rate limits, which a bench would trip by design.

Also prints the gzipped size of /f/{form}.js (and of the tracker's /t.js when this
checkout has it): the target is under 15 kB together.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from _common import machine, percentile, serve
from leadgate.engine.engine import Engine
from leadgate.playbook.loader import bundled_playbook
from leadgate.store.database import Database

REPO = Path(__file__).resolve().parent.parent
FORM = """
forms:
  bench:
    hand_raiser: demo_request
    booking_url: https://cal.example.com/sales
    spam: {min_fill_seconds: 0, per_ip: null, per_email: null}
    steps:
      - fields:
          - {name: email, type: email, required: true}
          - {name: need, type: select, required: true, attribute: need, options: [scoring, routing, just looking]}
          - {name: country, type: country, attribute: country}
      - show_if: {field: need, op: ne, value: just looking}
        fields:
          - name: budget
            type: select
            options: [budget approved, no budget yet]
            qualification: {criterion: budget, answers: {budget approved: met, no budget yet: not_met}}
          - {name: company_size, type: number, attribute: company_size}
      - fields:
          - {name: phone, type: phone, attribute: phone}
          - name: consent
            type: consent
            required: true
            consent: {text: I agree to be contacted., version: v1}
"""
ACCESS = re.compile(r"POST /f/bench/submit (\d+) ([0-9.]+) ms")


def answers(i: int) -> dict[str, object]:
    email = f"lead{i if i % 10 else max(i - 10, 0)}@company{i % 97}.com"
    return {
        "email": email,
        "need": ("scoring", "routing", "just looking")[i % 3],
        "country": ("DE", "France", "us")[i % 3],
        "budget": ("budget approved", "no budget yet")[i % 2],
        "company_size": str(10 + i % 900),
        "phone": "+49 30 1234567",
        "consent": True,
    }


async def drive(base: str, rate: float, n: int) -> tuple[list[float], dict[int, int]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        tickets = []
        for _ in range(n):
            r = await client.get("/f/bench/start")
            tickets.append(r.json()["ticket"])
        client_ms: list[float] = []
        statuses: dict[int, int] = {}

        async def one(i: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            t0 = time.perf_counter()
            r = await client.post(
                "/f/bench/submit",
                content=orjson.dumps({"ticket": tickets[i], "answers": answers(i)}),
                headers={"Content-Type": "application/json"},
            )
            client_ms.append((time.perf_counter() - t0) * 1000)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        start = time.perf_counter() + 0.2
        await asyncio.gather(*(one(i, start + i / rate) for i in range(n)))
        return client_ms, statuses


def sizes() -> dict[str, int]:
    out = {}
    snippet = (REPO / "src" / "leadgate" / "forms" / "static" / "form.js").read_bytes()
    out["form.js"] = len(gzip.compress(snippet, 9))
    trackers = [p for p in (REPO / "src" / "leadgate").rglob("t.js")]
    if trackers:
        out["t.js"] = len(gzip.compress(trackers[0].read_bytes(), 9))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=100.0, help="Submissions per second.")
    ap.add_argument("--seconds", type=float, default=5.0, help="How long to send.")
    ap.add_argument("--json", action="store_true", help="Print JSON.")
    args = ap.parse_args()
    n = max(1, int(args.rate * args.seconds))
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{d}/forms.db"
        db = Database(url)
        db.migrate()
        engine = Engine(db)
        engine.ensure_playbook()
        engine.activate_playbook(bundled_playbook()[1] + FORM, "bench.yaml")
        db.dispose()
        log = Path(d) / "server.log"
        env = {**os.environ, "LEADGATE_TICK": "0"}
        with serve(url, "--no-deliver", log=log, env=env) as (base, _):
            client_ms, statuses = asyncio.run(drive(base, args.rate, n))
        server_ms = [float(m.group(2)) for m in ACCESS.finditer(log.read_text())]
    size = sizes()
    result = {
        "machine": machine(),
        "rate": args.rate,
        "submissions": n,
        "statuses": statuses,
        "server_ms": {
            "p50": percentile(server_ms, 50),
            "p99": percentile(server_ms, 99),
            "max": max(server_ms or [float("nan")]),
        },
        "client_ms": {"p50": percentile(client_ms, 50), "p99": percentile(client_ms, 99)},
        "gzip_bytes": size,
        "gzip_total": sum(size.values()),
    }
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    print(result["machine"])
    print(f"{n} submissions at {args.rate:g}/s on SQLite, statuses {statuses}")
    s, c = result["server_ms"], result["client_ms"]
    print(f"server time  p50 {s['p50']:.1f} ms  p99 {s['p99']:.1f} ms  max {s['max']:.1f} ms")
    print(f"client view  p50 {c['p50']:.1f} ms  p99 {c['p99']:.1f} ms")
    for name, b in size.items():
        print(f"{name} gzipped: {b:,} bytes")
    if "t.js" not in size:
        print("(no /t.js tracker in this checkout: the 15 kB budget is shared with it)")


if __name__ == "__main__":
    main()
