"""`lead list --segment` (with --csv and --json) and `report funnel --segment`."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson

from .firsthour import run


def test_lead_list_and_funnel_of_a_segment(db: list[str], tmp_path: Path) -> None:
    run("lead", "add", "--email", "big@corp.com", "--set", "company_size=5000", *db)
    run("lead", "add", "--email", "=small@corp.com", "--set", "company_size=10", *db)
    code, out, _ = run("lead", "list", "--segment", "enterprise", "--json", *db)
    assert code == 0 and [r["email"] for r in orjson.loads(out)] == ["big@corp.com"]
    target = tmp_path / "list.csv"
    code, _, _ = run("lead", "list", "--fields", "company_size,score", "--csv", str(target), *db)
    assert code == 0
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert {r["email"] for r in rows} == {"big@corp.com", "'=small@corp.com"}
    assert list(rows[0]) == ["email", "company_size", "score"]
    code, out, _ = run("report", "funnel", "--segment", "enterprise", "--json", *db)
    data = orjson.loads(out)
    assert code == 0 and data["segment"] == "enterprise" and data["total_leads"] == 1
    code, _, err = run("report", "funnel", "--segment", "nope", *db)
    assert code == 2 and "no segment 'nope' (segments: hot_mqls, enterprise)" in err
    code, _, err = run("lead", "list", "--segment", "nope", *db)
    assert code == 2 and "no segment 'nope'" in err
