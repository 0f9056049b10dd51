"""A real webhook receiver for tests: http.server on 127.0.0.1 in a thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers `fail_status` while `failing` is set."""

    failing: bool = False
    fail_status: int = 503
    fail_body: bytes = b""
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if len(body) < n:
                    # The sender died mid-request (the kill -9 test): nothing was delivered.
                    self.close_connection = True
                    return
                status = outer.fail_status if outer.failing else 200
                if not outer.failing:
                    with outer.lock:
                        outer.received.append(
                            Received({k.lower(): v for k, v in self.headers.items()}, body)
                        )
                body_out = outer.fail_body if outer.failing else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(body_out)))
                self.end_headers()
                self.wfile.write(body_out)

            def log_message(self, *args: Any) -> None:
                pass

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)
