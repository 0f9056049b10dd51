"""SQL functions SQLite lacks, registered on every store connection: what segment filters
(`leadgate.analytics.sqlsegments`) call to mean on SQLite what `leadgate.playbook.conditions`
means in Python (case folding as str.casefold, stripping as str.strip, numbers from ASCII
digits, the portable regexes, `contains` on list items).

    register(sqlite3_connection)
    conn.execute("SELECT lg_lower('STRASSE'), lg_num(' 1_000 ')")   # ('strasse', 1000.0)

PostgreSQL has its own spellings of all of these (`leadgate.analytics.sqldialect`).
"""

from __future__ import annotations

import json
import sqlite3
from functools import lru_cache
from typing import Any

from leadgate.playbook.conditions import as_number, text_of
from leadgate.playbook.regex import Search, compile_python


def _lower(x: Any) -> str | None:
    return None if x is None else str(x).casefold()


def _strip(x: Any) -> Any:
    return x.strip() if isinstance(x, str) else x


def _num(x: Any) -> float | None:
    if isinstance(x, int | float):
        return float(x)
    return as_number(x) if isinstance(x, str) else None


@lru_cache(maxsize=256)
def _rx(pattern: str) -> Search:
    return compile_python(pattern)


def _match(x: Any, pattern: str) -> int | None:
    if not isinstance(x, str):
        return None
    return int(_rx(pattern).search(x) is not None)


def _after_at(x: Any) -> str | None:
    if not isinstance(x, str) or "@" not in x:
        return None
    return x.rsplit("@", 1)[1]


@lru_cache(maxsize=4)
def _doc(text: str) -> Any:
    # Several fields of one row are read in a row: parse the document once for them.
    try:
        return json.loads(text)
    except ValueError:
        return None


_KINDS = {str: "string", bool: "boolean", int: "number", float: "number", list: "array"}


def _get(doc: Any, key: str) -> tuple[bool, Any]:
    d = _doc(doc) if isinstance(doc, str) else None
    if not isinstance(d, dict) or key not in d:
        return False, None
    return True, d[key]


def _kind(doc: Any, key: str) -> str:
    found, v = _get(doc, key)
    if not found:
        return "missing"
    if v is None:
        return "null"
    return _KINDS.get(type(v), "object")


def _text(doc: Any, key: str) -> Any:
    found, v = _get(doc, key)
    if not found or v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str | int | float):
        return v
    return json.dumps(v)


def _array_has(doc: Any, key: str, needle: str) -> int:
    _, v = _get(doc, key)
    if not isinstance(v, list):
        return 0
    for item in v:
        t = text_of(item)
        if t is not None and t.strip().casefold() == needle:
            return 1
    return 0


def register(conn: sqlite3.Connection) -> None:
    """Add the lg_* functions to one SQLite connection."""
    for name, n, fn in (
        ("lg_lower", 1, _lower),
        ("lg_strip", 1, _strip),
        ("lg_num", 1, _num),
        ("lg_rx", 2, _match),
        ("lg_after_at", 1, _after_at),
        ("lg_kind", 2, _kind),
        ("lg_text", 2, _text),
        ("lg_array_has", 3, _array_has),
    ):
        conn.create_function(name, n, fn, deterministic=True)
