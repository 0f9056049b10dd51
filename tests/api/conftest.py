"""An API app on the `engine` fixture (SQLite and PostgreSQL), with one key per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.engine.engine import Engine
from leadgate.keys import ROLES, create_key

from .receiver import Receiver

# The origin the `browser` test key is bound to.
ORIGIN = "https://www.acme.com"


@dataclass
class Api:
    """A test client plus `Authorization` headers for each role."""

    app: FastAPI
    client: TestClient
    engine: Engine
    keys: dict[str, str]

    def h(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def get(self, path: str, role: str = "admin", **kw: Any) -> Any:
        return self.client.get(path, headers=self.h(role), **kw)

    def post(self, path: str, role: str = "admin", **kw: Any) -> Any:
        return self.client.post(path, headers={**self.h(role), **kw.pop("headers", {})}, **kw)

    def put(self, path: str, role: str = "admin", **kw: Any) -> Any:
        return self.client.put(path, headers={**self.h(role), **kw.pop("headers", {})}, **kw)


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    app = create_app(engine=engine)
    keys = {
        r: create_key(engine.db, r, f"{r}-test", origins=[ORIGIN] if r == "browser" else [])[1]
        for r in ROLES
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(app, client, engine, keys)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    # The receiver listens on 127.0.0.1, which webhooks refuse unless allowed.
    monkeypatch.setenv("LEADGATE_ALLOW_PRIVATE_WEBHOOKS", "1")
    r = Receiver()
    yield r
    r.stop()
