"""The corpus of nasty CSVs (tests/ingest/corpus): each file against its expected result.

Quotes, byte order marks, UTF-16, Latin-1, mixed line endings, semicolons with decimal
commas, ambiguous dates, bad optional values, and HubSpot-, Salesforce-, Pipedrive- and
Zoho-shaped exports. See corpus/README.md for the expectation format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.leads_file import LeadImportOptions, import_leads
from leadgate.ingest.validate import InputError
from leadgate.leads.derivation import is_automatic
from leadgate.sales import install
from leadgate.sales.import_owners import ImportOwners

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.csv"))


def with_reps(engine: Engine) -> ImportOwners:
    sales = install(engine)
    sales.add_rep("anna", "bdr", email="anna.schmidt@ourco.com")
    sales.add_rep("ben.miller", "ae", email="ben.miller@ourco.com")
    return ImportOwners(sales)


def history(engine: Engine, email: str) -> list[list[Any]]:
    return [
        [h["from"], h["to"], h["actor"], h["reason"]]
        for h in engine.show(email)["history"]
        if not is_automatic(h["actor"])
    ]


def test_every_corpus_file_has_an_expectation() -> None:
    assert len(FILES) >= 12
    for f in FILES:
        assert f.with_suffix(".expected.json").exists(), f.name


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_corpus_file(engine: Engine, tmp_path: Path, path: Path) -> None:
    want = orjson.loads(path.with_suffix(".expected.json").read_bytes())
    opts = LeadImportOptions(**want.get("options", {}), owners=with_reps(engine))
    if "error" in want:
        with pytest.raises(InputError) as err:
            import_leads(engine, path, tmp_path / "rejects.jsonl", options=opts)
        assert str(err.value).startswith(want["error"]), str(err.value)
        assert engine.list_leads() == [], "nothing is stored when the import stops to ask"
        return
    report = import_leads(engine, path, tmp_path / "rejects.jsonl", options=opts)
    got = report.as_dict()
    assert {k: got[k] for k in want["report"]} == want["report"]
    for k, v in want["decisions"].items():
        if k == "columns":
            for column, fmt in v.items():
                decided = got["decisions"]["columns"][column]
                assert {x: decided.get(x) for x in fmt} == fmt, (column, decided)
        else:
            assert got["decisions"][k] == v, k
    for k, v in want.get("crm", {}).items():
        assert got["crm"][k] == v, k
    for email, lead in want["leads"].items():
        shown = engine.show(email)
        for k, v in lead.get("attributes", {}).items():
            assert shown["attributes"].get(k) == v, (email, k)
        for k in ("stage", "owner", "created_at"):
            if k in lead:
                assert shown[k] == lead[k], (email, k)
        if "history" in lead:
            assert history(engine, email) == lead["history"], email
    lines = []
    if report.rejects_path:
        for item in Path(report.rejects_path).read_text().splitlines():
            entry = orjson.loads(item)
            lines.append([entry["line"], entry.get("column")])
    assert lines == want.get("rejects", [])
