"""Every lead out, with every attribute, scores, grades, stage, owner and `predicted`,
as CSV, JSON Lines or Parquet, streamed: the store is read in keyset chunks
(`WHERE id > last ORDER BY id LIMIT n`, each chunk its own short read), so memory stays
flat whatever the number of leads (bench/export.py measures it).

    from leadgate.export.leads import ExportFilter, export_leads
    with open("leads.csv", "w", newline="") as fh:
        export_leads(db, fh, "csv", ExportFilter(stage="mql"))

CSV has one column per attribute (the union of the attribute names of the exported
leads, found by a first pass that reads the names only); JSON Lines and Parquet keep the
attributes as one object (Parquet: JSON text), so they need no first pass.
`fields=("email", "created_at")` plus attribute names gives a file the importer reads
back (`IMPORTABLE`): `lead export --importable` → `lead import` → `lead export
--importable` gives the same file, ids aside.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Float, Integer

from leadgate import csvout
from leadgate.export import FORMATS
from leadgate.ingest.validate import InputError, iso
from leadgate.leads.processor import PREDICTED
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.store.schema import LEAD_EXPORTED_COLUMNS, leads

# The lead's own columns, in file order; attributes follow. `predicted` (an attribute the
# predictive model writes) stands among them, before `playbook_version`, as it always has.
_AT = LEAD_EXPORTED_COLUMNS.index("playbook_version")
COLUMNS = (*LEAD_EXPORTED_COLUMNS[:_AT], PREDICTED, *LEAD_EXPORTED_COLUMNS[_AT:])
# What the importer reads back as the same lead (plus every attribute).
IMPORTABLE = ("email", "created_at")
_SQL_COLS = ", ".join((*LEAD_EXPORTED_COLUMNS, "attributes"))
# Times are epoch seconds in the store, named `..._at`; files have them in ISO 8601.
_TIMES = frozenset(c for c in LEAD_EXPORTED_COLUMNS if c.endswith("_at"))
# Parquet's numeric columns, from the table's types; the rest (times included) are text.
_NUMERIC = {
    c: "int" if isinstance(leads.c[c].type, Integer) else "float"
    for c in LEAD_EXPORTED_COLUMNS
    if c not in _TIMES and isinstance(leads.c[c].type, Integer | Float)
} | {PREDICTED: "float"}
CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which leads: a stage, an owner, created at or after a moment."""

    stage: str | None = None
    owner: str | None = None
    since: float | None = None

    def where(self) -> tuple[str, list[Any]]:
        """SQL conditions (after `id > ?`) and their parameters."""
        sql, params = "", list[Any]()
        if self.stage:
            sql += " AND stage = ?"
            params.append(self.stage)
        if self.owner:
            sql += " AND owner = ?"
            params.append(self.owner)
        if self.since is not None:
            sql += " AND created_at >= ?"
            params.append(self.since)
        return sql, params


def _chunks(db: Database, cols: str, f: ExportFilter, chunk: int) -> Iterator[list[Any]]:
    """Rows in id order, one short read per chunk (no long transaction held)."""
    where, params = f.where()
    last = 0
    while True:
        with db.read() as conn:
            rows = (
                Repository(db, conn)
                .execute(
                    f"SELECT {cols} FROM leads WHERE id > ?{where} ORDER BY id LIMIT ?",
                    [last, *params, chunk],
                )
                .fetchall()
            )
        if not rows:
            return
        yield rows
        last = int(rows[-1][0])
        if len(rows) < chunk:
            return


def count(db: Database, f: ExportFilter) -> int:
    """How many leads the filter takes (for a progress bar)."""
    where, params = f.where()
    with db.read() as conn:
        row = (
            Repository(db, conn)
            .execute(f"SELECT COUNT(*) FROM leads WHERE id > ?{where}", [0, *params])
            .fetchone()
        )
    return int(row[0])


def attribute_names(db: Database, f: ExportFilter, chunk: int = CHUNK) -> list[str]:
    """Every attribute name of the filtered leads, sorted (the CSV's first pass)."""
    names: set[str] = set()
    for rows in _chunks(db, "id, attributes", f, chunk):
        for _, text in rows:
            if text and text != "{}":
                names.update(orjson.loads(text))
    names.discard(PREDICTED)
    return sorted(names)


def iter_leads(db: Database, f: ExportFilter, chunk: int = CHUNK) -> Iterator[dict[str, Any]]:
    """Each lead as a dict: its columns (times as ISO 8601) and `attributes`."""
    for rows in _chunks(db, _SQL_COLS, f, chunk):
        for r in rows:
            attrs = orjson.loads(r[-1]) if r[-1] else {}
            own = dict(zip(LEAD_EXPORTED_COLUMNS, r, strict=False))  # r[-1]: attributes
            for c in _TIMES:
                own[c] = iso(own[c])
            own[PREDICTED] = attrs.pop(PREDICTED, None)
            lead = {c: own[c] for c in COLUMNS}
            lead["attributes"] = attrs
            yield lead


def check_fields(fields: Sequence[str] | None) -> list[str] | None:
    """`--fields a,b,c`: names of lead columns or attributes, none empty."""
    if fields is None:
        return None
    out = [f.strip() for f in fields if f.strip()]
    if not out:
        raise InputError("fields", "give at least one field name")
    return out


def _cell(value: Any) -> Any:
    if value.__class__ is str or value.__class__ is int:  # most cells: as they are
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def _flat(lead: dict[str, Any], fields: Sequence[str]) -> list[Any]:
    attrs = lead["attributes"]
    return [_cell(lead[f] if f in lead and f != "attributes" else attrs.get(f)) for f in fields]


def export_leads(
    db: Database,
    out: Any,
    fmt: str = "csv",
    f: ExportFilter | None = None,
    fields: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> int:
    """Write the leads to `out` (a text file for csv/jsonl, a binary file for parquet).
    Returns how many were written. `progress(n)` after each chunk."""
    counter = [0]
    for part in iter_export(db, fmt, f, fields, progress, chunk, counter):
        out.write(part if fmt == "parquet" else part.decode())
    return counter[0]


def iter_export(
    db: Database,
    fmt: str = "csv",
    f: ExportFilter | None = None,
    fields: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
    counter: list[int] | None = None,
) -> Iterator[bytes]:
    """The export as byte chunks (what `GET /leads/export` streams); `counter[0]` ends
    as the number of leads written."""
    if fmt not in FORMATS:
        raise InputError("format", f"'{fmt}' is not one of {', '.join(FORMATS)}")
    f = f or ExportFilter()
    fields = check_fields(fields)
    n = 0
    buf = io.StringIO()
    if fmt == "csv":
        cols = fields or [*COLUMNS, *attribute_names(db, f, chunk)]
        w = csvout.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for lead in iter_leads(db, f, chunk):
            w.writerow(_flat(lead, cols))
            n += 1
            if n % chunk == 0:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
                if progress:
                    progress(n)
        yield buf.getvalue().encode()
    elif fmt == "jsonl":
        parts: list[bytes] = []
        for lead in iter_leads(db, f, chunk):
            if fields:
                attrs = lead["attributes"]
                lead = {k: lead[k] if k in lead else attrs.get(k) for k in fields}
            parts.append(orjson.dumps(lead) + b"\n")
            n += 1
            if n % chunk == 0:
                yield b"".join(parts)
                parts.clear()
                if progress:
                    progress(n)
        yield b"".join(parts)
    else:
        made = [0]
        yield from _parquet(db, f, fields, progress, chunk, made)
        n = made[0]
    if progress:
        progress(n)
    if counter is not None:
        counter[0] = n


def _parquet(
    db: Database,
    f: ExportFilter,
    fields: Sequence[str] | None,
    progress: Callable[[int], None] | None,
    chunk: int,
    counter: list[int],
) -> Iterator[bytes]:
    """Parquet, one row group per chunk, attributes as JSON text; bytes as written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(fields) if fields else [*COLUMNS, "attributes"]

    def typ(c: str) -> Any:
        kind = _NUMERIC.get(c)
        return pa.int64() if kind == "int" else pa.float64() if kind == "float" else pa.string()

    schema = pa.schema([(c, typ(c)) for c in cols])
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    drain = sink.drain

    batch: dict[str, list[Any]] = {c: [] for c in cols}
    for lead in iter_leads(db, f, chunk):
        attrs = lead["attributes"]
        for c in cols:
            if c == "attributes":
                v: Any = orjson.dumps(attrs).decode()
            elif c in lead:
                v = lead[c]
            else:
                v = attrs.get(c)
                v = None if v is None else str(v) if typ(c) == pa.string() else v
            batch[c].append(v)
        counter[0] += 1
        if counter[0] % chunk == 0:
            writer.write_table(pa.table(batch, schema=schema))
            batch = {c: [] for c in cols}
            if progress:
                progress(counter[0])
            yield drain()
    if batch[cols[0]]:
        writer.write_table(pa.table(batch, schema=schema))
    writer.close()
    yield drain()


class _Sink(io.RawIOBase):
    """A write-only file that hands its bytes over as they come (`drain`) while `tell`
    keeps counting from the start, as the Parquet writer's offsets need."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.parts.append(data)
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data
