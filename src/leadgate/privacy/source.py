"""A place personal data lives (`Source`: what it holds, how to remove it), and
`LeadTable`, the source for plain rows keyed by `lead_id`:

    LeadTable("consent", "form_consents", personal=("ip", "text"), erase="delete")

`registry.SOURCES` lists every one; `places` has those that need their own code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from leadgate.ingest.validate import iso
from leadgate.privacy.person import Person
from leadgate.store.repository import Repository


@dataclass
class Source:
    """One place personal data lives: `export` returns it, `erase` removes it and
    returns how many rows it changed. `tables` names the tables it covers."""

    name: str
    tables: tuple[str, ...]
    export: Callable[[Repository, Person], Any]
    erase: Callable[[Repository, Person, float], int]
    describe: str = ""


def table_exists(repo: Repository, table: str) -> bool:
    """Whether this store has the table (plug-in tables may be missing)."""
    from sqlalchemy import inspect

    cache: dict[str, bool] = repo.__dict__.setdefault("_privacy_tables", {})
    if table not in cache:
        cache[table] = inspect(repo.conn).has_table(table)
    return cache[table]


def rows(
    repo: Repository, sql: str, params: Sequence[Any], cols: Sequence[str]
) -> list[dict[str, Any]]:
    """Query rows as dicts."""
    return [dict(zip(cols, r, strict=True)) for r in repo.execute(sql, params).fetchall()]


def _times(row: dict[str, Any], *names: str) -> dict[str, Any]:
    for n in names:
        if n in row:
            row[n] = iso(row[n])
    return row


def LeadTable(
    name: str,
    table: str,
    personal: Sequence[str],
    erase: str = "null",
    times: Sequence[str] = ("at", "created_at"),
    describe: str = "",
) -> Source:
    """A source for rows keyed by `lead_id`: export every column; erase by setting the
    `personal` columns to NULL (`erase="null"`), cutting the person's strings out of
    them (`"scrub"`), or deleting the rows (`"delete"`)."""

    def export(repo: Repository, p: Person) -> Any:
        cur = repo.execute(f"SELECT * FROM {table} WHERE lead_id = ? ORDER BY 1", [p.lead_id])
        cols = [d[0] for d in cur.description]
        return [_times(dict(zip(cols, r, strict=True)), *times) for r in cur.fetchall()]

    def wipe(repo: Repository, p: Person, now: float) -> int:
        if not personal and erase != "delete":
            return 0  # nothing personal in it: kept as it is
        if erase == "delete":
            return int(repo.execute(f"DELETE FROM {table} WHERE lead_id = ?", [p.lead_id]).rowcount)
        if erase == "null":
            sets = ", ".join(f"{c} = NULL" for c in personal)
            return int(
                repo.execute(f"UPDATE {table} SET {sets} WHERE lead_id = ?", [p.lead_id]).rowcount
            )
        n = 0
        cur = repo.execute(
            f"SELECT id, {', '.join(personal)} FROM {table} WHERE lead_id = ?", [p.lead_id]
        )
        for r in cur.fetchall():
            new = [p.scrub(v) if isinstance(v, str) else v for v in r[1:]]
            if new != list(r[1:]):
                sets = ", ".join(f"{c} = ?" for c in personal)
                repo.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*new, r[0]])
                n += 1
        return n

    return Source(name, (table,), export, wipe, describe)
