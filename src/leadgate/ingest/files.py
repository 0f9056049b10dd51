"""Streaming file import: CSV of leads, JSONL or CSV of events.

Files are read line by line (memory stays flat on a million lines), validated
one record at a time, and handed to the engine in batches. A bad record is
reported with its line number, written to a rejects file, and skipped; the
rest land. Importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from leadgate.engine.engine import Engine, gc_paused
from leadgate.ingest.columns import canonical
from leadgate.ingest.grouping import group_by_lead
from leadgate.ingest.sniff import BAD_CHAR, ERRORS, Layout
from leadgate.ingest.sniff import layout as sniff_layout
from leadgate.ingest.validate import EventIn, InputError, by_lead_id, lead_id_of, parse_event
from leadgate.store.repository import Repository

csv.field_size_limit(16 * 1024 * 1024)

# Events read ahead of the store by a bulk import (regrouped by lead): ~750 bytes each
# in memory, so 500,000 cost ~0.4 GB over a batch's worth.
DEFAULT_WINDOW = 500_000
# The progress bar hears from the readers every this many lines: per line, its bookkeeping
# cost ~0.6 µs, about 4% of a bulk import.
_PROGRESS_EVERY = 1000
# The UTF-8 byte order mark: accepted at the start of a file (CSV and JSONL), data elsewhere.
_BOM = b"\xef\xbb\xbf"
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


@dataclass
class ImportReport:
    """What an import did."""

    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects_path: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # A lead import's bad optional values: skipped (the lead lands without them), each
    # in the rejects file with its line and column.
    values_skipped: int = 0
    skipped: list[str] = field(default_factory=list)
    # How the file was read and each typed column's format, with the value that decided.
    decisions: dict[str, Any] = field(default_factory=dict)
    # What a CRM export brought besides fields (`leadgate.ingest.crm`).
    crm: dict[str, Any] = field(default_factory=dict)
    # The file's lines up to this one are stored: what an import stopped part-way (Ctrl-C,
    # a full disk) had done, so a person knows where it ended (`stopped`, `report_of`).
    stored_through: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: v for k, v in self.__dict__.items()}


_REPORT = "leadgate_import_report"


def stopped(exc: BaseException, report: ImportReport) -> None:
    """Mark `exc`, which stops an import, with what the import had stored by then
    (read back by `report_of`); the batches stored before it stay stored."""
    setattr(exc, _REPORT, report)


def report_of(exc: BaseException) -> ImportReport | None:
    """The report of the import `exc` stopped, if it stopped one."""
    found = getattr(exc, _REPORT, None)
    return found if isinstance(found, ImportReport) else None


class Rejects:
    """The rejects file: opened on the first bad record only."""

    def __init__(self, path: Path):
        self.path = path
        self._fh: io.TextIOWrapper | None = None

    def write(self, line: int, error: str, raw: str) -> None:
        """Record one rejected line."""
        self._put({"line": line, "error": error, "raw": raw})

    def skip(self, line: int, column: str, error: str, value: str) -> None:
        """Record one skipped value (its row landed without it)."""
        self._put({"line": line, "column": column, "error": error, "value": value, "skipped": True})

    def _put(self, item: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = self.path.open("w", encoding="utf-8")
        self._fh.write(orjson.dumps(item).decode() + "\n")

    def close(self) -> str | None:
        """Close it; the path if anything was written."""
        if self._fh is None:
            return None
        self._fh.close()
        return str(self.path)


def check_encoding(path: Path) -> None:
    """Refuse a UTF-16/UTF-32 JSONL file as a whole (InputError): JSON lines are UTF-8,
    and read as UTF-8 each of its lines would be rejected one by one as garbage. (A CSV
    in UTF-16, Excel's "Unicode text", is read as it is: see `leadgate.ingest.sniff`.)"""
    with path.open("rb") as fh:
        head = fh.read(4)
    for bom, name in _WIDE_BOMS:
        if head.startswith(bom):
            raise InputError(
                "file", f"{path} is {name} text; save it as UTF-8 (in Excel: CSV UTF-8)"
            )


def _marked_lines(fh: Any, bad: set[int]) -> Iterator[str]:
    """The file's lines; those holding an undecodable byte are marked bad, not fatal."""
    for n, text in enumerate(fh, start=1):
        if BAD_CHAR in text:
            bad.add(n)
        yield text


class _CsvRecords:
    """(line number, row dict or error, raw text) for each CSV record.

    The encoding and delimiter are decided from a sample of the file (`sniff.layout`);
    quoting is RFC 4180 always. Lines may end in CRLF, LF or CR, mixed. `header` holds
    the header as written and `names` the field each column is read as (`name_of`).
    """

    def __init__(
        self,
        path: Path,
        progress: Callable[[int], None] | None,
        layout: Layout | None = None,
        name_of: Callable[[str], str] = canonical,
    ):
        self.path = path
        self.progress = progress
        self.layout = layout
        self.name_of = name_of
        self.header: list[str] = []
        self.names: list[str] = []
        # Fields read from several columns ({field: [columns as written]}): CRM exports
        # have `Phone` and `Mobile Phone`, `Email` and `E-mail`. A row's first non-empty
        # value counts (the last column once won, even empty: every lead with no mobile
        # lost its phone).
        self.shared: dict[str, list[str]] = {}

    def __iter__(self) -> Iterator[tuple[int, dict[str, str] | str, str]]:
        lay = self.layout or sniff_layout(self.path)
        self.layout = lay
        dialect = lay.dialect
        bad: set[int] = set()
        what = "UTF-8" if lay.encoding.startswith("utf-8") else lay.encoding
        with self.path.open("r", encoding=lay.encoding, errors=ERRORS, newline="") as fh:
            raw_fh: Any = fh.buffer
            lines = _marked_lines(fh, bad)
            reader = csv.reader(lines, dialect)
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield 1, f"header: {exc}", ""
                return
            self.header = [h.strip() for h in header]
            names = self.names = [self.name_of(h) for h in header]
            width = len(names)
            where: dict[str, list[int]] = {}
            for i, n in enumerate(names):
                if n:  # unnamed columns (trailing delimiters) are never read
                    where.setdefault(n, []).append(i)
            shared = [(n, cols) for n, cols in where.items() if len(cols) > 1]
            self.shared = {n: [self.header[i] for i in cols] for n, cols in shared}
            prev_pos = 0
            while True:
                start = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    yield start, f"unreadable CSV: {exc}", ""
                    continue
                raw = ""
                if self.progress and reader.line_num % _PROGRESS_EVERY == 0:
                    pos = raw_fh.tell()
                    self.progress(pos - prev_pos)
                    prev_pos = pos
                if not row or all(not c.strip() for c in row):
                    continue
                if any(n in bad for n in range(start, reader.line_num + 1)):
                    text = ",".join(row).replace(BAD_CHAR, "\ufffd")
                    yield start, f"not {what} text (save the file as UTF-8)", text
                    continue
                if len(row) != width:
                    yield (
                        start,
                        f"expected {width} fields as in the header, found {len(row)} "
                        "(a stray delimiter or mixed delimiters?)",
                        dialect.delimiter.join(row),
                    )
                    continue
                rec = dict(zip(names, row, strict=True))
                for n, cols in shared:
                    rec[n] = next((row[i] for i in cols if row[i].strip()), row[cols[0]])
                yield start, rec, raw
            if self.progress:
                self.progress(raw_fh.tell() - prev_pos)


def _reject(report: ImportReport, rejects: Rejects, line: int, error: str, raw: str) -> None:
    report.rejected += 1
    if len(report.errors) < 1000:
        report.errors.append(f"line {line}: {error}")
    rejects.write(line, error, raw[:10_000])


def _jsonl_records(
    path: Path, progress: Callable[[int], None] | None
) -> Iterator[tuple[int, Any, str]]:
    unreported = 0
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if progress:
                unreported += len(raw)
                if n % _PROGRESS_EVERY == 0:
                    progress(unreported)
                    unreported = 0
            if n == 1 and raw.startswith(_BOM):
                # Saved as "UTF-8 with BOM" (Excel, Notepad): the mark is not data.
                raw = raw[len(_BOM) :]
            if not raw.strip():
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield n, "not UTF-8 text", raw.decode("utf-8", "replace")
                    continue
                yield n, f"not valid JSON ({exc})", text.rstrip("\n")
                continue
            if data.__class__ is not dict:
                # Said here: a str is how the readers report a bad line, so a line that
                # is a JSON string would be taken for its own error message.
                text = raw.decode("utf-8", "replace").strip()
                yield n, "event: must be a JSON object", text
                continue
            yield n, data, ""
    if progress and unreported:
        progress(unreported)


def _written_back(data: Any) -> str:
    """A parsed line as JSON again, for the rejects file. orjson reads 1024 levels of
    nesting and writes 254: a line too deep to write back is left out, its number kept."""
    try:
        return orjson.dumps(data).decode()[:10_000]
    except TypeError:
        return "(not shown: nested too deeply)"


# An event CSV's columns that are the event's own fields, by the field they are.
_EVENT_COLUMNS = {
    "id": "id",
    "event_id": "id",
    "email": "email",
    "type": "type",
    "event_type": "type",
    "event": "type",
    "occurred_at": "occurred_at",
    "timestamp": "occurred_at",
    "time": "occurred_at",
    "date": "occurred_at",
    "at": "occurred_at",
}


def _csv_event_records(
    path: Path, progress: Callable[[int], None] | None
) -> Iterator[tuple[int, Any, str]]:
    for line, rec, raw in _CsvRecords(path, progress):
        if isinstance(rec, str):
            yield line, rec, raw
            continue
        props = {}
        event: dict[str, Any] = {}
        for k, v in rec.items():
            field_ = _EVENT_COLUMNS.get(k)
            if field_ is not None:
                # Aliases of one field (`type` and `event`): the first non-empty value.
                if not event.get(field_):
                    event[field_] = v or None if field_ == "id" else v
            elif v != "":
                props[k.removeprefix("properties_").removeprefix("prop_")] = v
        event["properties"] = props
        yield line, event, ",".join(rec.values())


class _LeadEmails:
    """The addresses of the leads a file's lines name by `lead_id`, read as first named
    (one primary-key lookup a lead; a line by email costs nothing)."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._known: dict[int, str] = {}

    def of(self, data: dict[str, Any]) -> dict[int, str]:
        lid = lead_id_of(data)
        if lid is not None and lid not in self._known:
            with self._engine.db.read() as conn:
                row = (
                    Repository(self._engine.db, conn)
                    .execute("SELECT email FROM leads WHERE id = ?", [lid])
                    .fetchone()
                )
            if row is not None:
                self._known[lid] = str(row[0])
        return self._known


def ingest_events(
    engine: Engine,
    path: Path,
    rejects_path: Path | None = None,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    window: int | None = None,
) -> ImportReport:
    """Store and score the events of a JSONL (one API-shaped event per line) or CSV file.

    The file is read `window` events at a time (default: five batches, at most 500,000
    events, and never less than one batch); each window is regrouped by lead and stored
    in transactions of about `batch_size` events holding whole leads, so a lead is saved
    once per window instead of once per batch (see `leadgate.ingest.grouping`). A window
    of `batch_size` stores the file in its own order, a batch at a time.
    """
    is_csv = path.suffix.lower() in (".csv", ".tsv")
    if not is_csv:
        check_encoding(path)
    report = ImportReport()
    rejects = Rejects(rejects_path or path.with_name(path.name + ".rejects.jsonl"))
    records = _csv_event_records(path, progress) if is_csv else _jsonl_records(path, progress)
    now = engine.clock()
    if window is None:
        window = min(5 * batch_size, DEFAULT_WINDOW)
    window = max(window, batch_size)
    pending: list[EventIn] = []
    lead_emails = _LeadEmails(engine)

    def flush() -> None:
        if not pending:
            return
        if window > batch_size:
            batches, repeated = group_by_lead(pending, batch_size)
            report.duplicates += repeated
        else:
            batches = [pending]
        for batch in batches:
            accepted, duplicates = engine.ingest_counts(batch, now)
            report.accepted += accepted
            report.duplicates += duplicates
        pending.clear()
        # A window is regrouped by lead: only once all of it is stored is every line
        # up to its last one stored.
        report.stored_through = last_line

    last_line = 0
    try:
        with gc_paused:  # parsing allocates as much as scoring (see gc_paused)
            for line, data, raw in records:
                report.read += 1
                if isinstance(data, str):
                    _reject(report, rejects, line, data, raw)
                    continue
                try:
                    if "lead_id" in data:
                        # As POST /events reads it: the lead's address (it was dropped).
                        data = by_lead_id(data, lead_emails.of(data))
                    pending.append(parse_event(data, now))
                except InputError as exc:
                    _reject(report, rejects, line, str(exc), raw or _written_back(data))
                    continue
                last_line = line
                if len(pending) >= window:
                    flush()
            flush()
    except BaseException as exc:
        stopped(exc, report)
        raise
    finally:
        report.rejects_path = rejects.close()
    return report
