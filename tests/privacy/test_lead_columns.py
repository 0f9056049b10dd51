"""Every column of the leads table is decided on once: shown by the exports (`lead
export` in every format, and `person export`) or kept out with a reason
(`schema.LEAD_COLUMNS_NOT_EXPORTED`). A column added by a migration and forgotten here,
or an export that stops showing one, fails these tests."""

from __future__ import annotations

import csv
import io

import orjson
import pyarrow.parquet as pq
from sqlalchemy import inspect

from leadgate.engine.engine import Engine
from leadgate.export.leads import export_leads
from leadgate.privacy.erase import export_person
from leadgate.store.database import Database
from leadgate.store.schema import LEAD_COLUMNS_NOT_EXPORTED, LEAD_EXPORTED_COLUMNS, leads


def _store_columns(url: str) -> list[str]:
    """The columns of `leads` in the migrated store (not only what schema.py says)."""
    db = Database(url)
    with db.read() as conn:
        return [c["name"] for c in inspect(conn).get_columns("leads")]


def _engine(url: str) -> Engine:
    eng = Engine(Database(url))
    eng.ensure_playbook()
    eng.upsert_leads([("ana@acme.example", {"company": "Acme", "predicted": 0.5}, None)])
    return eng


def test_every_column_is_exported_or_kept_out_with_a_reason(sqlite_url: str) -> None:
    exported, kept_out = set(LEAD_EXPORTED_COLUMNS), set(LEAD_COLUMNS_NOT_EXPORTED)
    assert len(LEAD_EXPORTED_COLUMNS) == len(exported), "a column is listed twice"
    assert not exported & kept_out, f"both exported and kept out: {exported & kept_out}"
    for where, columns in (
        ("schema.py", [str(c.name) for c in leads.columns]),
        ("the migrated store", _store_columns(sqlite_url)),
    ):
        undecided = sorted(set(columns) - exported - kept_out)
        assert not undecided, (
            f"columns of leads in {where} neither in LEAD_EXPORTED_COLUMNS nor in "
            f"LEAD_COLUMNS_NOT_EXPORTED (with the reason): {undecided}"
        )
        gone = sorted((exported | kept_out) - set(columns))
        assert not gone, f"listed but not a column of leads in {where}: {gone}"
    blank = sorted(c for c, why in LEAD_COLUMNS_NOT_EXPORTED.items() if len(why.split()) < 3)
    assert not blank, f"kept out without a reason: {blank}"


def test_every_format_of_lead_export_shows_every_exported_column(sqlite_url: str) -> None:
    db = _engine(sqlite_url).db
    store_columns = _store_columns(sqlite_url)
    buf = io.StringIO()
    export_leads(db, buf, "csv")
    [row] = list(csv.DictReader(io.StringIO(buf.getvalue())))
    buf = io.StringIO()
    export_leads(db, buf, "jsonl")
    [line] = [orjson.loads(x) for x in buf.getvalue().splitlines()]
    raw = io.BytesIO()
    export_leads(db, raw, "parquet")
    raw.seek(0)
    [pq_row] = pq.read_table(raw).to_pylist()
    for fmt, shown in (("csv", row), ("jsonl", line), ("parquet", pq_row)):
        missing = [
            c for c in store_columns if c not in shown and c not in LEAD_COLUMNS_NOT_EXPORTED
        ]
        assert not missing, f"lead export --format {fmt} leaves out {missing}"
        assert shown["email"] == "ana@acme.example" and shown["stage"] == "lead", fmt
    # `predicted` stands among the lead's own columns (before playbook_version), not
    # among the attributes, as files have always had it.
    header = list(row)
    assert header.index("predicted") == header.index("playbook_version") - 1
    assert line["predicted"] == 0.5 and "predicted" not in line["attributes"]


def test_person_export_shows_every_column_of_the_lead(sqlite_url: str) -> None:
    eng = _engine(sqlite_url)
    lead = export_person(eng, "ana@acme.example")["lead"]
    missing = [
        c
        for c in _store_columns(sqlite_url)
        if c not in lead and (c not in LEAD_COLUMNS_NOT_EXPORTED or c == "attributes")
    ]
    assert not missing, f"person export (privacy registry, source 'lead') leaves out {missing}"
    assert lead["attributes"] == {"company": "Acme", "predicted": 0.5}
    assert lead["created_at"].endswith("Z")  # times as ISO 8601, as every export has them
