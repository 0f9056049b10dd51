"""A real `leadgate serve` logs one access line per request, without the key (issue 19)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from leadgate.keys import create_key
from leadgate.store.database import Database

from .test_server import free_port

LEADGATE = str(Path(sys.executable).parent / "leadgate")


def test_serve_writes_one_access_line_per_request(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    db.migrate()
    _, key = create_key(db, "admin", "e2e")
    db.dispose()
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [LEADGATE, "serve", "--db", sqlite_url, "--port", str(port), "--no-tick",
             "--no-deliver"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 30
            while True:
                try:
                    if httpx.get(f"{base}/api/v1/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.time() < deadline, log.read_text()
                time.sleep(0.1)
            auth = {"Authorization": f"Bearer {key}"}
            r = httpx.get(f"{base}/api/v1/leads?email=ann@acme.com", headers=auth)
            assert r.status_code == 200
            assert httpx.get(f"{base}/api/v1/leads?mail=x", headers=auth).status_code == 400
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
    text = log.read_text()
    lines = [ln for ln in text.splitlines() if "leadgate.access" in ln]
    assert any(re.search(r"GET /api/v1/leads 200 \d+\.\d ms$", ln) for ln in lines), text
    assert any(re.search(r"GET /api/v1/leads 400 \d+\.\d ms$", ln) for ln in lines), text
    assert key not in text and "ann@acme.com" not in text
