"""`leadgate lead import`: a CSV of contacts (a CRM export, a spreadsheet) into leads.

The file is read twice. The first pass surveys the typed columns (numbers, amounts,
dates) and decides each one's format from the whole column (`leadgate.ingest.formats`):
when the data cannot decide, the import stops before storing anything and asks for
`--date-order` or `--decimal`. The second pass converts and stores the rows in batches.

Only a bad email rejects a row. A bad optional value (`Annual Revenue = unknown`) is
skipped: the lead lands without it, and the rejects file says line, column and why.
CRM columns are not kept as fields (`leadgate.ingest.crm`): the stage enters the lead's
history as an `imported` move by `import:FILE`, the owner is matched to a rep, the
record id is kept per source system (a later import updates, never duplicates).

Example: a HubSpot export row `Email = ann@acme.de; Country/Region = Germany;
Number of Employees = 5.000; Lifecycle Stage = Customer; Contact owner = Anna Schmidt`
lands as a lead with `country = DE`, `company_size = 5000`, in stage `customer`
(`lead → customer`, imported), owned by the rep `anna.schmidt`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from leadgate.engine.engine import Engine
from leadgate.engine.imports import (
    bind_external_ids,
    import_stages,
    leads_by_external_id,
    rename_lead,
)
from leadgate.ingest.columns import INTEGER_FIELDS, NUMBER_FIELDS, typed_value
from leadgate.ingest.countries import country_code
from leadgate.ingest.crm import COMPUTED, CONSUMED, crm_field, detect_system, stage_for
from leadgate.ingest.files import ImportReport, Rejects, _CsvRecords, _reject, stopped
from leadgate.ingest.formats import ColumnFormat, Survey, parse_date, parse_number
from leadgate.ingest.sniff import layout as sniff_layout
from leadgate.ingest.validate import (
    MAX_ID_CHARS,
    MAX_VALUE_CHARS,
    NUL,
    InputError,
    check_email,
)

MONEY_FIELDS = NUMBER_FIELDS  # amounts: a number plus `<field>_currency`


class Owners(Protocol):
    """The reps an import may give leads to (the sales workflow provides them)."""

    def match(self, text: str) -> str | None:
        """The rep a CRM owner ('Anna Schmidt', 'anna@ourco.com') is, or None."""
        ...

    def assign(self, email: str, rep: str, actor: str) -> bool:
        """Give the lead to the rep; False when it is theirs already."""
        ...


@dataclass
class LeadImportOptions:
    """What a user may say about a file: formats the data cannot decide, the source."""

    date_order: str | None = None  # dmy | mdy | ymd
    decimal: str | None = None  # "," | "."
    encoding: str | None = None  # a Python codec name; detected when None
    source: str | None = None  # the CRM that wrote it; detected from the header when None
    owners: Owners | None = None


@dataclass
class _Row:
    line: int
    email: str
    raw_email: str
    attrs: dict[str, Any]
    created: float | None
    external_id: str | None
    stage: str | None
    owner: str | None
    # Bad optional values: (column as written, why, the value); the row lands without them.
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class _Crm:
    system: str = "csv"
    stages: Counter[str] = field(default_factory=Counter)
    unknown_stage_values: Counter[str] = field(default_factory=Counter)
    unknown_owners: Counter[str] = field(default_factory=Counter)
    stages_imported: int = 0
    owners_assigned: int = 0
    external_ids_bound: int = 0
    matched_by_id: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "stages": dict(self.stages),
            "stages_imported": self.stages_imported,
            "unknown_stage_values": dict(self.unknown_stage_values),
            "owners_assigned": self.owners_assigned,
            "unknown_owners": dict(self.unknown_owners),
            "external_ids_bound": self.external_ids_bound,
            "matched_by_external_id": self.matched_by_id,
        }


def _kinds(header: list[str], names: list[str]) -> dict[str, tuple[str, str]]:
    kinds: dict[str, tuple[str, str]] = {}
    for column, name in zip(header, names, strict=True):
        if name in INTEGER_FIELDS:
            kinds[name] = (column, "integer")
        elif name in MONEY_FIELDS:
            kinds[name] = (column, "money")
        elif name == "created_at":
            kinds[name] = (column, "date")
    return kinds


def import_leads(
    engine: Engine,
    path: Path,
    rejects_path: Path | None = None,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    options: LeadImportOptions | None = None,
) -> ImportReport:
    """Create or update leads from a CSV export (matched by record id, else by email)."""
    opts = options or LeadImportOptions()
    lay = sniff_layout(path, opts.encoding)
    formats, first_id, header = _survey(path, lay, opts)
    report = ImportReport()
    report.decisions = {
        **lay.as_dict(),
        "columns": {f.column: f.as_dict() for f in formats.values()},
        "ignored_columns": [h for h in header if crm_field(h) in COMPUTED],
    }
    crm = _Crm(system=opts.source or detect_system(header, first_id))
    rejects = Rejects(rejects_path or path.with_name(path.name + ".rejects.jsonl"))
    now = engine.clock()
    actor = f"import:{path.name}"
    batch: list[_Row] = []
    first_seen: dict[str, tuple[int, str]] = {}
    records = _CsvRecords(path, progress, lay, crm_field)
    columns: dict[str, str] = {}  # field → its column as written, once the header is read

    def flush() -> None:
        if batch:
            _store(engine, batch, crm, report, opts.owners, actor)
            report.stored_through = batch[-1].line
            batch.clear()

    try:
        for line, rec, raw in records:
            report.read += 1
            if isinstance(rec, str):
                _reject(report, rejects, line, rec, raw)
                continue
            if not columns:
                columns = dict(zip(records.names, records.header, strict=True))
            try:
                row = _row(line, rec, formats, now, columns)
            except InputError as exc:
                _reject(report, rejects, line, str(exc), ",".join(rec.values()))
                continue
            for column, error, value in row.skipped:
                report.values_skipped += 1
                if len(report.skipped) < 1000:
                    report.skipped.append(f"line {line}: {column}: {error}")
                rejects.skip(line, column, error, value[:10_000])
            prev = first_seen.get(row.email)
            if prev is None:
                first_seen[row.email] = (line, row.raw_email)
            elif prev[1] != row.raw_email:
                report.warnings.append(
                    f"line {line}: '{row.raw_email}' is the same lead as '{prev[1]}' on line "
                    f"{prev[0]} (emails differ only in case or spaces): merged"
                )
            stage, unknown = stage_for(rec.get("lifecycle_stage"), rec.get("lead_status"))
            row.stage = stage
            if stage:
                crm.stages[stage] += 1
            if unknown:
                crm.unknown_stage_values[unknown] += 1
            report.accepted += 1
            batch.append(row)
            if len(batch) >= batch_size:
                flush()
        flush()
    except BaseException as exc:
        stopped(exc, report)
        raise
    finally:
        report.crm = crm.as_dict()
        report.rejects_path = rejects.close()
    if records.shared:
        report.warnings.insert(0, _shared_note(records.shared))
    return report


def _shared_note(shared: dict[str, list[str]]) -> str:
    """'columns 'Phone' and 'Mobile Phone' are both read as phone: ...'"""
    parts = [
        " and ".join(f"'{c}'" for c in cols) + (" are both read as " if i == 0 else " both as ") + f
        for i, (f, cols) in enumerate(shared.items())
    ]
    return f"columns {', '.join(parts)}: each row's first non-empty value is used"


def _survey(
    path: Path, lay: Any, opts: LeadImportOptions
) -> tuple[dict[str, ColumnFormat], str | None, list[str]]:
    """The first pass: each typed column's format, the first record id, the header."""
    records = _CsvRecords(path, None, lay, crm_field)
    survey: Survey | None = None
    first_id = None
    for line, rec, _ in records:
        if isinstance(rec, str):
            continue
        if survey is None:
            survey = Survey(_kinds(records.header, records.names))
        for f in survey.kinds:
            survey.add(f, rec.get(f, ""), line)
        if first_id is None and rec.get("external_id", "").strip():
            first_id = rec["external_id"].strip()
    if survey is None:
        return {}, first_id, records.header
    return survey.decide(lay.delimiter, opts.decimal, opts.date_order), first_id, records.header


def _row(
    line: int,
    rec: dict[str, str],
    formats: dict[str, ColumnFormat],
    now: float,
    columns: dict[str, str],
) -> _Row:
    raw_email = rec.get("email")
    if raw_email is None:
        raise InputError("email", "no email column (expected a header such as 'Email')")
    email = check_email(raw_email)
    attrs: dict[str, Any] = {}
    skipped: list[tuple[str, str, str]] = []
    created = None
    country_raw = (rec.get("country") or "").strip()
    country = country_code(country_raw) or country_raw or None
    ext = (rec.get("external_id") or "").strip() or None
    if ext is not None and len(ext) > MAX_ID_CHARS:
        skipped.append((columns.get("external_id", "external_id"), "longer than 200", ext))
        ext = None
    elif ext is not None and "\x00" in ext:
        skipped.append((columns.get("external_id", "external_id"), NUL, ext))
        ext = None
    for key, raw in rec.items():
        if key in ("email", "") or key in CONSUMED or key in COMPUTED:
            continue
        value = raw.strip()
        if not value:
            continue
        try:
            if len(value) > MAX_VALUE_CHARS:
                raise InputError(key, f"value is {len(value):,} characters (limit 10,000)")
            if "\x00" in value:
                raise InputError(key, NUL)
            if key == "country":
                attrs[key] = country
                continue
            fmt = formats.get(key)
            if key == "created_at":
                created = parse_date(value, formats[key], now)
            elif fmt is not None:
                n, currency = parse_number(value, fmt, key in INTEGER_FIELDS)
                attrs[key] = n
                if currency and key in MONEY_FIELDS:
                    attrs[f"{key}_currency"] = currency
            else:
                attrs[key] = typed_value(key, value, country)
        except InputError as exc:
            skipped.append((columns.get(key, key), exc.message, raw))
    owner = (rec.get("owner") or "").strip() or None
    return _Row(line, email, raw_email.strip(), attrs, created, ext, None, owner, skipped)


def _store(
    engine: Engine,
    batch: list[_Row],
    crm: _Crm,
    report: ImportReport,
    owners: Owners | None,
    actor: str,
) -> None:
    """One batch: matched by record id, upserted, ids bound, stages moved, owners set."""
    ids = [r.external_id for r in batch if r.external_id]
    known = leads_by_external_id(engine, crm.system, ids) if ids else {}
    for r in batch:
        stored = known.get(r.external_id or "")
        if stored is not None:
            crm.matched_by_id += 1
            if stored != r.email:
                where = f"line {r.line}: {crm.system} id {r.external_id} was {stored}"
                if rename_lead(engine, stored, r.email):
                    report.warnings.append(f"{where}: its email is now {r.email}")
                else:
                    # The new address is another lead here: the id's lead is updated and
                    # keeps its address, so no lead is merged into another by an import.
                    report.warnings.append(
                        f"{where}; {r.email} is another lead here: {stored} updated, its email kept"
                    )
                    r.email = stored
    c, u, same = engine.upsert_leads([(r.email, r.attrs, r.created) for r in batch])
    report.created += c
    report.updated += u
    report.unchanged += same
    pairs = [(r.external_id, r.email) for r in batch if r.external_id is not None]
    crm.external_ids_bound += bind_external_ids(engine, crm.system, pairs)
    moves = [(r.email, r.stage, r.line) for r in batch if r.stage is not None]
    made, notes = import_stages(engine, moves, actor)
    crm.stages_imported += made
    report.warnings.extend(notes)
    for r in batch:
        if not r.owner:
            continue
        rep = owners.match(r.owner) if owners else None
        if rep is None:
            crm.unknown_owners[r.owner] += 1
        elif owners is not None and owners.assign(r.email, rep, actor):
            crm.owners_assigned += 1
