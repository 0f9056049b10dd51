"""One access-log line per HTTP request: method, path, status and milliseconds.

`leadgate serve` prints them on stderr, e.g.

    INFO leadgate.access: POST /api/v1/events 202 4.1 ms

Never the query string (it may hold an email) nor any header: the API key stays out of
the log. The path is the client's (percent-decoded by the server), so it is written with
its control characters escaped (`leadgate.textout.one_line`): `GET /%0d%0aINFO ...` cannot
forge a line of its own, nor `/%1b[2J` clear the terminal of whoever reads the log.
`serve --no-access-log` (or LEADGATE_ACCESS_LOG=0) silences the lines.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadgate.textout import one_line

log = logging.getLogger("leadgate.access")


def access_line(method: str, path: str, status: int, ms: float) -> str:
    """The logged text: `GET /api/v1/leads 200 3.2 ms`."""
    return f"{one_line(method)} {one_line(path)} {status} {ms:.1f} ms"


class AccessLog:
    """Pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.log = logger or log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            ms = (time.perf_counter() - start) * 1000
            self.log.info(access_line(scope["method"], scope["path"], status["code"], ms))
