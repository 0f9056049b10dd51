"""A multipart/form-data request body made by hand, for tests of hostile posts: each
part's bytes as given, and a `charset` parameter, which Starlette decodes every part
with (`unicode_escape` turns the bytes `\\ud800` into a lone surrogate).

    client.post(url, **multipart({"text": b"hi \\\\ud800"}, "unicode_escape"))
"""

from __future__ import annotations

from typing import Any


def multipart(fields: dict[str, bytes], charset: str | None = None) -> dict[str, Any]:
    """`content` and `headers` for httpx/TestClient's post."""
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
