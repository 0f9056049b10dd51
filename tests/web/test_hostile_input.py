"""Hostile input to the web app: whatever a browser (or a script pretending to be one)
sends, the answer is a page that says what was wrong (a 4xx), never a 500, and nothing
is stored from a refused post.

A body that is not a form this app sends (a file part, too many fields, a field over
1 MB, a broken multipart body), text that is not Unicode (a lone surrogate: a multipart
part may name its own charset, and Python's `unicode_escape` turns `\\ud800` into one),
a NUL in a filter, digits that are not ASCII (`²` passes str.isdigit but not int()).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app

from .conftest import PW, Team


@pytest.fixture
def client(team: Team) -> Iterator[TestClient]:
    with TestClient(create_app(engine=team.engine), raise_server_exceptions=False) as c:
        yield c


def multipart(fields: dict[str, bytes], charset: str | None = None) -> dict[str, object]:
    """A multipart/form-data request body made by hand (the part's bytes as given, and a
    charset parameter that Starlette decodes every part with)."""
    body = b""
    for name, value in fields.items():
        body += (
            (b'--XyZ\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n')
            + value
            + b"\r\n"
        )
    body += b"--XyZ--\r\n"
    kind = "multipart/form-data; boundary=XyZ" + (f"; charset={charset}" if charset else "")
    return {"content": body, "headers": {"content-type": kind}}


def is_page(r: object, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]
    assert "default-src 'self'" in r.headers["content-security-policy"]  # type: ignore[attr-defined]
    assert "Traceback" not in r.text  # type: ignore[attr-defined]


def test_a_sign_in_token_that_is_not_ascii_is_a_403_page(client: TestClient) -> None:
    client.get("/login")  # the token's cookie
    r = client.post("/login", data={"name": "anna", "password": PW, "token": "é"})
    is_page(r, 403)
    assert "expired" in r.text
