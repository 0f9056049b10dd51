"""Store reads the API needs beyond the engine's: a lead's email by id, and keyset pages.

Pagination is by keyset, not offset: the cursor holds the sort key of the last row
seen, so a page costs the same anywhere in the list and rows inserted meanwhile do not
shift the pages. The cursor is opaque to clients (base64 of the key)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from leadgate.engine.summary import SUMMARY_INDEX, summary, summary_columns
from leadgate.ingest.validate import InputError
from leadgate.store.database import Database
from leadgate.store.repository import Repository

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine

# sort name → the ordered (column, ascending?) list; `id` always last, so the order is total.
SORTS: dict[str, list[tuple[str, bool]]] = {
    "priority": [
        ("fit_grade", True),
        ("engagement_grade", True),
        ("score", False),
        ("created_at", True),
        ("id", True),
    ],
    "score": [("score", False), ("id", True)],
    "recent": [("updated_at", False), ("id", False)],
    "created": [("id", True)],
}
_LIST_COLS = summary_columns()


LEAD_REF_SQL = "SELECT email, next_due_at FROM leads WHERE id = ?"
LEAD_ID_SQL = "SELECT id FROM leads WHERE email = ?"


def lead_id_of(db: Database, email: str) -> int | None:
    """The id of the lead with this (normalised) email, or None."""
    with db.read() as conn:
        row = Repository(db, conn).execute(LEAD_ID_SQL, [email]).fetchone()
    return int(row[0]) if row else None


def kept_address(engine: Engine, email: str) -> str:
    """The address of the lead `email` lands on: its own, or, for the address of a lead
    merged into another or another spelling under the playbook's identity rules, the
    kept lead's (`engine.identity.resolve`, as every write resolves it)."""
    from leadgate.engine.identity import resolve

    rules = engine.processor().playbook.identity
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        if repo.execute(LEAD_ID_SQL, [email]).fetchone() is not None:
            return email
        return resolve(repo, [email], rules).get(email, email)


def lead_ref(db: Database, lead_id: int) -> tuple[str, float | None] | None:
    """(email, next_due_at) of a lead by id, or None."""
    with db.read() as conn:
        row = Repository(db, conn).execute(LEAD_REF_SQL, [lead_id]).fetchone()
    return (row[0], row[1]) if row else None


def emails_by_id(db: Database, ids: list[int]) -> dict[int, str]:
    """Emails of the leads among `ids`."""
    out: dict[int, str] = {}
    with db.read() as conn:
        repo = Repository(db, conn)
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            marks = ",".join("?" * len(chunk))
            for lid, email in repo.execute(
                f"SELECT id, email FROM leads WHERE id IN ({marks})", chunk
            ).fetchall():
                out[int(lid)] = email
    return out


# In index order: PostgreSQL's generic plan for a bare `LIMIT 1` reads every lead.
ANYTHING_DUE_SQL = "SELECT 1 FROM leads WHERE next_due_at <= ? ORDER BY next_due_at LIMIT 1"


def anything_due(db: Database, now: float) -> bool:
    """Whether some lead has a timer due (then `Engine.tick` should run before a list)."""
    with db.read() as conn:
        row = Repository(db, conn).execute(ANYTHING_DUE_SQL, [now]).fetchone()
    return row is not None


def encode_cursor(sort: str, values: list[Any]) -> str:
    """An opaque cursor."""
    return base64.urlsafe_b64encode(orjson.dumps([sort, *values])).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    """The key values in a cursor made for `sort`; InputError if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InputError("cursor", "not a cursor this API gave out") from None
    cols = SORTS[sort]
    if not isinstance(data, list) or len(data) != len(cols) + 1 or data[0] != sort:
        raise InputError("cursor", "not a cursor for this sort order (start again without it)")
    values = data[1:]
    for (col, _), v in zip(cols, values, strict=True):
        ok = (
            isinstance(v, str) and len(v) < 10
            if col in ("fit_grade", "engagement_grade")
            else isinstance(v, int | float) and not isinstance(v, bool)
        )
        if col == "id":
            ok = isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31
        if not ok:
            raise InputError("cursor", "not a cursor this API gave out")
    return values


@dataclass(slots=True)
class LeadFilter:
    """GET /leads parameters."""

    stage: str | None = None
    owner: str | None = None
    grade: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    updated_since: float | None = None
    sort: str = "priority"
    limit: int = 50
    cursor: str | None = None
    email: str | None = None  # normalised (check_email): a lookup by the lead's key


def list_page(db: Database, f: LeadFilter) -> tuple[list[dict[str, Any]], str | None]:
    """One page of leads and the cursor of the next (None at the end)."""
    where: list[str] = []
    params: list[Any] = []
    if f.email:
        where.append("email = ?")
        params.append(f.email)
    if f.stage:
        where.append("stage = ?")
        params.append(f.stage)
    if f.owner:
        where.append("owner = ?")
        params.append(f.owner)
    if f.grade:
        g = f.grade.upper()
        col = "fit_grade" if g in "ABCD" else "engagement_grade" if len(g) == 1 else "grade"
        where.append(f"{col} = ?")
        params.append(g)
    if f.min_score is not None:
        where.append("score >= ?")
        params.append(f.min_score)
    if f.max_score is not None:
        where.append("score <= ?")
        params.append(f.max_score)
    if f.updated_since is not None:
        where.append("updated_at >= ?")
        params.append(f.updated_since)
    cols = SORTS[f.sort]
    if f.cursor:
        values = decode_cursor(f.cursor, f.sort)
        # (a, b, c) after (x, y, z) in mixed directions, spelled out: a > x OR (a = x AND ...)
        ors = []
        for i, (col, asc) in enumerate(cols):
            terms = [f"{c} = ?" for c, _ in cols[:i]] + [f"{col} {'>' if asc else '<'} ?"]
            ors.append("(" + " AND ".join(terms) + ")")
            params.extend(values[: i + 1])
        where.append("(" + " OR ".join(ors) + ")")
    order = ", ".join(f"{c} {'ASC' if asc else 'DESC'}" for c, asc in cols)
    sql = (
        f"SELECT {_LIST_COLS} FROM leads"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY {order} LIMIT ?"
    )
    params.append(f.limit + 1)
    with db.read() as conn:
        rows = Repository(db, conn).execute(sql, params).fetchall()
    more = len(rows) > f.limit
    rows = rows[: f.limit]
    items = [summary(r) for r in rows]
    next_cursor = None
    if more and items:
        last = items[-1]
        key = {
            "fit_grade": last["fit_grade"],
            "engagement_grade": last["engagement_grade"],
            "score": last["score"],
            "created_at": rows[-1][SUMMARY_INDEX["created_at"]],
            "updated_at": rows[-1][SUMMARY_INDEX["updated_at"]],
            "id": last["id"],
        }
        next_cursor = encode_cursor(f.sort, [key[c] for c, _ in cols])
    return items, next_cursor
