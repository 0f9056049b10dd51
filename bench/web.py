"""Server time of every web page, and how soon `leadgate serve` shows the first page.

    .venv/bin/python bench/web.py [--leads 100000] [--events 2000000] [--samples 200]

Builds (once, cached under bench/out/) a SQLite demo store of that size through the
engine (`leadgate demo`'s loader), then on a copy: adds a sales user linked to the rep
with the most open leads and an admin, signs both in, and times each page in-process
(the ASGI app through Starlette's TestClient: the server's own time, no network),
`--samples` requests per page, p50/p95 in ms. Targets (issue 14): p95 < 100 ms for every
page, < 50 ms for the queue. The Leads list is timed as people use it: the first page, a
page deep in the list (by its cursor), a search by a last name and by a company, filters
(stage, grade + source, predicted band), a segment and the CSV export of a filtered list.
Then it starts `leadgate serve` on the copy and times the first 200 of /login from the
process start (target: 5 s). It prints the machine, its load and the data size first.

Not a test: nothing here asserts a time. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from _common import machine, percentile
from leadgate.engine.engine import Engine
from leadgate.store.database import Database

OUT = Path(__file__).resolve().parent / "out"
PW = "bench password 123"


def store(n_leads: int, n_events: int) -> Path:
    """A SQLite demo store of this size (cached)."""
    from leadgate.cli.demo import load_demo

    OUT.mkdir(exist_ok=True)
    path = OUT / f"web-{n_leads}-{n_events}.db"
    if not path.exists():
        tmp = OUT / "web-building.db"
        for p in OUT.glob("web-building.db*"):
            p.unlink()
        db = Database(f"sqlite:///{tmp}")
        db.migrate()
        engine = Engine(db)
        engine.ensure_playbook()
        t0 = time.perf_counter()
        load_demo(engine, n_leads, n_events, seed=42)
        db.dispose()
        tmp.rename(path)
        print(f"built {path.name} in {time.perf_counter() - t0:.0f} s")
    # A store cached by an older leadgate gets the newer migrations (once: they are kept).
    db = Database(f"sqlite:///{path}")
    if not db.schema_current():
        t0 = time.perf_counter()
        db.migrate()
        print(f"migrated {path.name} in {time.perf_counter() - t0:.1f} s")
    db.dispose()
    return path


def sign_in(client, name: str) -> None:  # type: ignore[no-untyped-def]
    import re

    page = client.get("/login")
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"name": name, "password": PW, "token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def timed(client, path: str, samples: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """p50 and p95 of `samples` GETs of `path` (a callable path: a new one each time), ms."""
    ms = []
    for _ in range(samples):
        p = path() if callable(path) else path
        t0 = time.perf_counter()
        r = client.get(p)
        ms.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (p, r.status_code)
    return percentile(ms, 50), percentile(ms, 95)


def first_page(url: str) -> float:
    """Seconds from starting `leadgate serve` to the first 200 of /login."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadgate.cli.main", "--db", url, "serve", "--port", str(port),
         "--no-deliver", "--no-tick"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("leadgate serve exited")
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _leads_samples(engine: Engine, n: int) -> tuple[str, str, str]:
    """A cursor to the middle of the list (priority order), a last name and a company of
    a lead picked at random: what the deep-page and search timings ask for."""
    from leadgate.engine.listing import SORTS, encode_cursor

    keys = ", ".join(SORTS["priority"][0])
    with engine.db.read() as conn:
        row = conn.exec_driver_sql(
            f"SELECT {keys} FROM leads l ORDER BY {keys} LIMIT 1 OFFSET {n // 2}"
        ).fetchone()
        attrs = conn.exec_driver_sql(
            f"SELECT attributes FROM leads WHERE id = {max(1, n // 3)}"
        ).fetchone()
    import orjson

    a = orjson.loads(attrs[0]) if attrs else {}
    return (
        encode_cursor("priority", list(row)),
        str(a.get("last_name") or "smith"),
        str(a.get("company") or "acme"),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    from leadgate.api import create_app
    from leadgate.sales import sales_of
    from leadgate.users import Users

    src = store(args.leads, args.events)
    work = OUT / "web-run.db"
    for p in OUT.glob("web-run.db*"):
        p.unlink()
    shutil.copy(src, work)
    url = f"sqlite:///{work}"
    db = Database(url)
    engine = Engine(db)
    reps = sales_of(engine).reps()
    busiest = max((r for r in reps if r["role"] == "bdr"), key=lambda r: r["open_leads"])
    users = Users(db)
    users.add("rep", "sales", rep=busiest["name"], password=PW)
    users.add("root", "admin", password=PW)
    with db.read() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM leads").fetchall()]
    rng = random.Random(7)
    deep, last_name, company = _leads_samples(engine, len(ids))
    print(machine())
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)")
    size = sum(p.stat().st_size for p in OUT.glob("web-run.db*")) / 1e6
    print(
        f"{len(ids):,} leads, {args.events:,} events, store {size:,.0f} MB (SQLite); "
        f"{args.samples} requests per page"
    )
    print(f"{'page':<28}{'p50 ms':>10}{'p95 ms':>10}{'target':>10}")
    app = create_app(engine=engine)
    with TestClient(app) as rep_client, TestClient(app) as admin_client:
        sign_in(rep_client, "rep")
        sign_in(admin_client, "root")
        rows = [
            ("/app/queue (rep)", rep_client, "/app/queue", 50),
            ("/app/queue/rows (rep)", rep_client, "/app/queue/rows", 50),
            ("/app/queue (everyone)", admin_client, "/app/queue", 50),
            ("/app/leads/{id}", rep_client, lambda: f"/app/leads/{rng.choice(ids)}", 100),
            ("/app/leads", rep_client, "/app/leads", 100),
            ("/app/leads deep page", rep_client, f"/app/leads?after={deep}", 100),
            ("/app/leads?q=last name", rep_client, f"/app/leads?q={quote(last_name)}", 100),
            ("/app/leads?q=company", rep_client, f"/app/leads?q={quote(company)}", 100),
            ("/app/leads?stage=mql", rep_client, "/app/leads?stage=mql", 100),
            ("/app/leads?grade&source", rep_client, "/app/leads?grade=B&source=web", 100),
            ("/app/leads?predicted=high", rep_client, "/app/leads?predicted=high", 100),
            ("/app/leads?segment", rep_client, "/app/leads?segment=hot_mqls", 100),
            ("/app/leads.csv?stage=sql", rep_client, "/app/leads.csv?stage=sql", 100),
            ("/app/funnel", admin_client, "/app/funnel", 100),
            ("/app/playbook", admin_client, "/app/playbook", 100),
            ("/app/model", admin_client, "/app/model", 100),
            ("/app/admin", admin_client, "/app/admin", 100),
        ]
        for name, client, path, target in rows:
            p50, p95 = timed(client, path, args.samples)
            print(f"{name:<28}{p50:>10.1f}{p95:>10.1f}{'< ' + str(target):>10}")
    db.dispose()
    print(f"first page after `leadgate serve` starts: {first_page(url):.1f} s (target < 5 s)")


if __name__ == "__main__":
    main()
