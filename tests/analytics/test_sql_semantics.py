"""Where Python and SQL used to disagree: one rule each, the same in every engine.

Each case is a field condition, a value and the answer the rule gives (the rules are in
`leadgate.playbook.conditions`' docstring). The Python engine must give that answer, and
the compiled query must give the engine's answer for every condition on every value, on
DuckDB, on PostgreSQL (under its fixture) and on Spark (when Java and pyspark are here).

The conditions are fit rules of one playbook worth 2^k points each, so one query answers
every (condition, value) pair: bit k of a lead's fit says whether condition k held.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from leadgate.analytics.sqlcompile import compile_scoring
from leadgate.playbook.model import Playbook

sys.path.insert(0, str(Path(__file__).parent))
from _reference import as_rows, duckdb_scores, engine_scores, pg_scores

KELVIN, LONG_S, NBSP = "\u212a", "\u017f", "\u00a0"

# (condition without its field, value, the rule's answer)
CASES: list[tuple[dict[str, Any], Any, bool]] = [
    # Numbers are read from ASCII digits only (float() also reads "１２３" and "١٢٣").
    ({"op": "gt", "value": 100}, "１２３", False),
    ({"op": "gt", "value": 100}, "١٢٣", False),
    ({"op": "gt", "value": 100}, "12３", False),
    ({"op": "gt", "value": 100}, "123", True),
    ({"op": "gt", "value": 100}, " 1,234 ", True),
    ({"op": "eq", "value": 123}, "١٢٣", False),
    ({"op": "eq", "value": 123}, "123", True),
    ({"op": "ne", "value": 123}, "١٢٣", True),
    # Text compares stripped and case-folded; a boolean option reads yes/true/1 as true.
    ({"op": "eq", "value": "VP Sales"}, "  vp SALES ", True),
    ({"op": "in", "value": ["x", "Head of IT"]}, "HEAD OF IT", True),
    ({"op": "ne", "value": "vp"}, " VP", False),
    ({"op": "eq", "value": True}, " Yes ", True),
    ({"op": "in", "value": [123, "x"]}, "１２３", False),
    ({"op": "between", "value": [100, 200]}, "１２３", False),
    ({"op": "lt", "value": 100}, "nan", False),
    ({"op": "gte", "value": 100}, "nan", False),
    # Beyond the double range, as Python's float() reads them (PostgreSQL refused them).
    ({"op": "gt", "value": 100}, "1e400", True),
    ({"op": "lt", "value": 0}, "-1e400", True),
    ({"op": "eq", "value": 0}, "1e-400", True),
    ({"op": "gt", "value": 100}, "Infinity", True),
    # `contains` and `matches` read a value's text: a whole number's digits, no other
    # number, no list (contains tests its items instead), no object.
    ({"op": "contains", "value": "20"}, 1200, True),
    ({"op": "contains", "value": 20}, 1200, True),
    ({"op": "contains", "value": 20.0}, 1200, True),
    ({"op": "contains", "value": "20"}, 1200.0, True),
    ({"op": "contains", "value": "."}, 1200.0, False),
    ({"op": "contains", "value": "5"}, 5.5, False),
    ({"op": "contains", "value": "e"}, 1e20, False),
    ({"op": "contains", "value": "1"}, 1e20, False),
    ({"op": "contains", "value": "-3"}, -3, True),
    ({"op": "contains", "value": "tru"}, True, True),
    ({"op": "contains", "value": "a"}, {"a": 1}, False),
    ({"op": "contains", "value": 5}, [5, "VP"], True),
    ({"op": "contains", "value": 5}, [5.0], True),
    ({"op": "contains", "value": 5}, ["5.0"], False),
    ({"op": "contains", "value": "5.5"}, [5.5], False),
    ({"op": "contains", "value": "5"}, [" 5 "], True),
    ({"op": "contains", "value": "1e+20"}, [1e20], False),
    ({"op": "contains", "value": "true"}, [True], True),
    ({"op": "matches", "value": "^[0-9]+$"}, 1200, True),
    ({"op": "matches", "value": "^[0-9]+$"}, 1200.0, True),
    ({"op": "matches", "value": "5"}, 5.5, False),
    ({"op": "matches", "value": "^True$"}, True, True),
    ({"op": "matches", "value": "a"}, ["a"], False),
    ({"op": "matches", "value": "a"}, {"a": 1}, False),
    # Regular expressions: the portable subset, one meaning everywhere.
    ({"op": "matches", "value": "^vp$"}, "vp\n", False),  # $ is the end of the text
    ({"op": "matches", "value": "^vp$"}, "vp", True),
    ({"op": "matches", "value": "(?i)^vp$"}, "VP\n", False),
    ({"op": "matches", "value": "\\Avp\\Z"}, "vp", True),
    ({"op": "matches", "value": "\\Avp\\Z"}, "vp\n", False),
    ({"op": "matches", "value": "(?i)k"}, KELVIN, False),  # case: the letter's two cases
    ({"op": "matches", "value": "(?i)k"}, "K", True),
    ({"op": "matches", "value": "(?i)s$"}, LONG_S, False),
    ({"op": "matches", "value": "(?i)café"}, "CAFÉ", True),
    ({"op": "matches", "value": "(?i)^[a-c]+$"}, "ABC", True),
    ({"op": "matches", "value": "\\d"}, "١٢٣", False),  # \d \w \s are ASCII classes
    ({"op": "matches", "value": "\\d"}, "１２３", False),
    ({"op": "matches", "value": "\\d"}, "123", True),
    ({"op": "matches", "value": "^\\w+$"}, "xé", False),
    ({"op": "matches", "value": "^\\w+$"}, "x_1", True),
    ({"op": "matches", "value": "a\\sb"}, f"a{NBSP}b", False),
    ({"op": "matches", "value": "a\\sb"}, "a\tb", True),
    ({"op": "matches", "value": "x\\b"}, "xé", True),  # \b: between ASCII word/non-word
    ({"op": "matches", "value": "x\\b"}, "x1", False),
    ({"op": "matches", "value": "\\bvp\\b"}, "the vp.", True),
    ({"op": "matches", "value": "\\Bp"}, "vp", True),
    ({"op": "matches", "value": "^a.b$"}, "a\rb", True),  # . is any character but \n
    ({"op": "matches", "value": "^a.b$"}, "a\nb", False),
    ({"op": "matches", "value": "^a{,1}b$"}, "b", True),
    ({"op": "matches", "value": "^(a|b)+c$"}, "abc", True),
    ({"op": "matches", "value": "[^a-c]"}, "abc", False),
    ({"op": "matches", "value": "[^a-c]"}, "abd", True),
    ({"op": "matches", "value": "^[\\w.+-]+@"}, "a.b+c@x", True),
    ({"op": "matches", "value": "\\.\\*\\]"}, "x.*]", True),
]


CHUNK = 24  # conditions per playbook: fits stay whole numbers far below 2^53


def _unique(items: list[Any]) -> list[Any]:
    return list({repr(x): x for x in items}.values())


CONDS = _unique([c for c, _, _ in CASES])
VALUES = _unique([v for _, v, _ in CASES])


def _playbook(conds: list[dict[str, Any]]) -> Playbook:
    rules = [
        {"name": f"c{k}", "if": {"field": "f", **c}, "points": 2**k} for k, c in enumerate(conds)
    ]
    return Playbook.model_validate(
        {
            "name": "semantics",
            "fit": {"rules": rules},
            "engagement": {"rules": []},
            "stages": {"mql": {"hand_raisers": ["demo"]}},
        }
    )


def _leads() -> list[tuple[int, str, dict[str, Any]]]:
    return [(i + 1, f"p{i}@x.io", {"f": v}) for i, v in enumerate(VALUES)]


def _bits(scores: dict[int, tuple[Any, ...]], n: int) -> dict[int, list[bool]]:
    out = {}
    for lid, s in scores.items():
        whole = int(s[0])
        assert whole == s[0], s
        out[lid] = [bool(whole >> k & 1) for k in range(n)]
    return out


def _playbooks() -> list[Playbook]:
    return [_playbook(CONDS[i : i + CHUNK]) for i in range(0, len(CONDS), CHUNK)]


def _reference(pb: Playbook) -> dict[int, list[bool]]:
    return _bits(engine_scores(pb, _leads(), [], 0.0), len(pb.fit.rules))


def test_python_gives_the_rules_answers() -> None:
    """The engine (Python) follows the documented rule in every listed case."""
    answers: dict[tuple[str, str], bool] = {}
    for j, pb in enumerate(_playbooks()):
        ref = _reference(pb)
        for k in range(len(pb.fit.rules)):
            for i, v in enumerate(VALUES):
                answers[repr(CONDS[j * CHUNK + k]), repr(v)] = ref[i + 1][k]
    wrong = [(c, v, want) for c, v, want in CASES if answers[repr(c), repr(v)] is not want]
    assert not wrong


def _check(ref: dict[int, list[bool]], got: dict[int, list[bool]], pb: Playbook) -> None:
    conds = [r.if_ for r in pb.fit.rules]
    diffs = [
        (conds[k], lid, ref[lid][k], got[lid][k])
        for lid in ref
        for k in range(len(conds))
        if ref[lid][k] != got[lid][k]
    ]
    assert not diffs, diffs[:10]


def test_duckdb_agrees() -> None:
    lr, er = as_rows(_leads(), [])
    for pb in _playbooks():
        sql = compile_scoring(pb, 0.0, "duckdb")
        _check(_reference(pb), _bits(duckdb_scores(sql, lr, er), len(pb.fit.rules)), pb)


def test_postgres_agrees(postgres_url: str) -> None:
    import psycopg

    lr, er = as_rows(_leads(), [])
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        for pb in _playbooks():
            sql = compile_scoring(pb, 0.0, "postgres", leads="t_leads", events="t_events")
            got = pg_scores(conn, sql, lr, er)
            _check(_reference(pb), _bits(got, len(pb.fit.rules)), pb)


def test_spark_agrees() -> None:
    if shutil.which("java") is None:
        pytest.skip("no Java runtime")
    pytest.importorskip("pyspark", reason="pyspark not installed (make test does)")
    from pyspark.sql import SparkSession

    lr, _ = as_rows(_leads(), [])
    spark = SparkSession.builder.master("local[1]").appName("leadgate-semantics").getOrCreate()
    try:
        spark.createDataFrame(
            lr, "id long, email string, attributes string"
        ).createOrReplaceTempView("leads")
        spark.createDataFrame(
            [("x", 0, "none", 0.0, "{}")],
            "id string, lead_id long, type string, occurred_at double, properties string",
        ).createOrReplaceTempView("events")
        for pb in _playbooks():
            rows = spark.sql(compile_scoring(pb, 0.0, "spark")).collect()
            got = {r[0]: (r[1], r[2], r[3], r[6]) for r in rows}
            _check(_reference(pb), _bits(got, len(pb.fit.rules)), pb)
    finally:
        spark.stop()


def test_duckdb_agrees_reading_fields_together() -> None:
    """The same cases when a query reads several fields: DuckDB then takes every field's
    kind and text from one parse of the document (`Columns.parse_once`, lists of JSON
    types and texts) instead of one JSON call per field."""
    leads = [(i + 1, f"p{i}@x.io", {"f": v, "g": v}) for i, v in enumerate(VALUES)]
    lr, er = as_rows(leads, [])
    for pb in _playbooks():
        data = pb.model_dump(by_alias=True, exclude_none=True)
        for k, rule in enumerate(data["fit"]["rules"]):
            rule["if"]["field"] = "fg"[k % 2]
        both = Playbook.model_validate(data)
        ref = _bits(engine_scores(both, leads, [], 0.0), len(both.fit.rules))
        sql = compile_scoring(both, 0.0, "duckdb")
        assert "JSON_EXTRACT_STRING(l.attributes, [" in sql
        _check(ref, _bits(duckdb_scores(sql, lr, er), len(both.fit.rules)), both)
