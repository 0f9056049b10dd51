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
from leadgate.ingest.columns import canonical, typed_value
from leadgate.ingest.grouping import group_by_lead
from leadgate.ingest.validate import EventIn, InputError, check_email, parse_event, parse_time

csv.field_size_limit(16 * 1024 * 1024)

# Events read ahead of the store by a bulk import (regrouped by lead): ~750 bytes each
# in memory, so 500,000 cost ~0.4 GB over a batch's worth.
DEFAULT_WINDOW = 500_000
# The progress bar hears from the readers every this many lines: per line, its bookkeeping
# cost ~0.6 µs, about 4% of a bulk import.
_PROGRESS_EVERY = 1000
_SNIFF_BYTES = 8192
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

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: v for k, v in self.__dict__.items()}


class Rejects:
    """The rejects file: opened on the first bad record only."""

    def __init__(self, path: Path):
        self.path = path
        self._fh: io.TextIOWrapper | None = None

    def write(self, line: int, error: str, raw: str) -> None:
        """Record one rejected line."""
        if self._fh is None:
            self._fh = self.path.open("w", encoding="utf-8")
        self._fh.write(orjson.dumps({"line": line, "error": error, "raw": raw}).decode() + "\n")

    def close(self) -> str | None:
        """Close it; the path if anything was written."""
        if self._fh is None:
            return None
        self._fh.close()
        return str(self.path)


def check_encoding(path: Path) -> None:
    """Refuse a UTF-16/UTF-32 file as a whole (InputError): read as UTF-8, each of its lines
    would be rejected one by one as garbage. Excel saves "Unicode text" like this."""
    with path.open("rb") as fh:
        head = fh.read(4)
    for bom, name in _WIDE_BOMS:
        if head.startswith(bom):
            raise InputError(
                "file", f"{path} is {name} text; save it as UTF-8 (in Excel: CSV UTF-8)"
            )


def _decoded_lines(fh: Any, bad: set[int]) -> Iterator[str]:
    """Decode UTF-8 line by line; a line that is not UTF-8 is marked bad, not fatal."""
    for n, raw in enumerate(fh, start=1):
        try:
            text = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            bad.add(n)
            text = raw.decode("utf-8", errors="replace")
            del exc
        yield text


def _sniff(path: Path) -> type[csv.Dialect] | csv.Dialect:
    """The dialect, decided by the header line: the body may hold the very rows
    (stray or mixed delimiters) that we must reject, so it must not vote."""
    with path.open("rb") as fh:
        # The first 8 KB of it: csv.Sniffer is quadratic in its input (a hostile 1 MB
        # header took ~20 minutes), and a file with no line break must not be read whole.
        # 8 KB holds hundreds of column names; the delimiter count is the same after them.
        header = fh.readline(_SNIFF_BYTES).decode("utf-8-sig", errors="replace")
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


class _CsvRecords:
    """(line number, row dict or error, raw text) for each CSV record."""

    def __init__(self, path: Path, progress: Callable[[int], None] | None):
        self.path = path
        self.progress = progress

    def __iter__(self) -> Iterator[tuple[int, dict[str, str] | str, str]]:
        dialect = _sniff(self.path)
        bad: set[int] = set()
        with self.path.open("rb") as fh:
            lines = _decoded_lines(fh, bad)
            reader = csv.reader(lines, dialect)
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield 1, f"header: {exc}", ""
                return
            names = [canonical(h) for h in header]
            width = len(names)
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
                    pos = fh.tell()
                    self.progress(pos - prev_pos)
                    prev_pos = pos
                if not row or all(not c.strip() for c in row):
                    continue
                if any(n in bad for n in range(start, reader.line_num + 1)):
                    yield start, "not UTF-8 text (save the file as UTF-8)", ",".join(row)
                    continue
                if len(row) != width:
                    yield (
                        start,
                        f"expected {width} fields as in the header, found {len(row)} "
                        "(a stray delimiter or mixed delimiters?)",
                        dialect.delimiter.join(row),
                    )
                    continue
                yield start, dict(zip(names, row, strict=True)), raw
            if self.progress:
                self.progress(fh.tell() - prev_pos)


def import_leads(
    engine: Engine,
    path: Path,
    rejects_path: Path | None = None,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create or update leads from a CSV export (matched by normalised email)."""
    check_encoding(path)
    report = ImportReport()
    rejects = Rejects(rejects_path or path.with_name(path.name + ".rejects.jsonl"))
    now = engine.clock()
    batch: list[tuple[str, dict[str, Any], float | None]] = []
    first_seen: dict[str, tuple[int, str]] = {}

    def flush() -> None:
        if batch:
            c, u, same = engine.upsert_leads(batch)
            report.created += c
            report.updated += u
            report.unchanged += same
            batch.clear()

    for line, rec, raw in _CsvRecords(path, progress):
        report.read += 1
        if isinstance(rec, str):
            _reject(report, rejects, line, rec, raw)
            continue
        try:
            email, attrs, created = _lead_from_row(rec, now)
        except InputError as exc:
            _reject(report, rejects, line, str(exc), ",".join(rec.values()))
            continue
        prev = first_seen.get(email)
        raw_email = rec.get("email", "").strip()
        if prev is None:
            first_seen[email] = (line, raw_email)
        elif prev[1] != raw_email:
            report.warnings.append(
                f"line {line}: '{raw_email}' is the same lead as '{prev[1]}' on line {prev[0]} "
                "(emails differ only in case or spaces): merged"
            )
        report.accepted += 1
        batch.append((email, attrs, created))
        if len(batch) >= batch_size:
            flush()
    flush()
    report.rejects_path = rejects.close()
    return report


def _lead_from_row(rec: dict[str, str], now: float) -> tuple[str, dict[str, Any], float | None]:
    raw_email = rec.get("email")
    if raw_email is None:
        raise InputError("email", "no email column (expected a header such as 'Email')")
    email = check_email(raw_email)
    attrs: dict[str, Any] = {}
    created = None
    country = (rec.get("country") or "").strip().upper() or None
    for key, raw in rec.items():
        if key == "email" or not key:
            continue
        if key == "created_at":
            created = parse_time(raw, "created_at", now) if raw.strip() else None
            continue
        value = typed_value(key, raw, country)
        if value is not None:
            attrs[key] = value
    return email, attrs, created


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
                yield n, orjson.loads(raw), ""
            except orjson.JSONDecodeError as exc:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield n, "not UTF-8 text", raw.decode("utf-8", "replace")
                    continue
                yield n, f"not valid JSON ({exc})", text.rstrip("\n")
    if progress and unreported:
        progress(unreported)


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
            if k in ("id", "event_id"):
                event["id"] = v or None
            elif k in ("email", "type", "occurred_at"):
                event[k] = v
            elif k in ("event_type", "event"):
                event["type"] = v
            elif k in ("timestamp", "time", "date", "at"):
                event["occurred_at"] = v
            elif v != "":
                props[k.removeprefix("properties_").removeprefix("prop_")] = v
        event["properties"] = props
        yield line, event, ",".join(rec.values())


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
    check_encoding(path)
    report = ImportReport()
    rejects = Rejects(rejects_path or path.with_name(path.name + ".rejects.jsonl"))
    is_csv = path.suffix.lower() in (".csv", ".tsv")
    records = _csv_event_records(path, progress) if is_csv else _jsonl_records(path, progress)
    now = engine.clock()
    if window is None:
        window = min(5 * batch_size, DEFAULT_WINDOW)
    window = max(window, batch_size)
    pending: list[EventIn] = []

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

    with gc_paused:  # parsing allocates as much as scoring (see gc_paused)
        for line, data, raw in records:
            report.read += 1
            if isinstance(data, str):
                _reject(report, rejects, line, data, raw)
                continue
            try:
                pending.append(parse_event(data, now))
            except InputError as exc:
                _reject(
                    report, rejects, line, str(exc), raw or orjson.dumps(data).decode()[:10_000]
                )
                continue
            if len(pending) >= window:
                flush()
        flush()
    report.rejects_path = rejects.close()
    return report
