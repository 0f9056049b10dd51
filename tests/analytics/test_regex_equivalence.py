"""A portable regex finds a match in a text in Python exactly when it does in every engine.

Random patterns of the portable subset (`leadgate.playbook.regex`: classes, shorthands,
anchors, boundaries, groups, alternatives, repeats, a leading `(?i)`) run against random
texts made of the characters where flavours part ways (newlines, carriage returns,
non-ASCII digits, letters and spaces, the Kelvin sign, the long s): Python's answer
(the real-time engine) must be RE2's (DuckDB), ARE's (PostgreSQL) and Java's (Spark).
"""

from __future__ import annotations

import random
import shutil
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgate.playbook.regex import compile_python, to_dialect

CHARS = ["a", "A", "b", "k", "K", "\u212a", "s", "\u017f", "é", "É", "1", "١", "１", "_"]
CHARS += [" ", "\u00a0", "\n", "\r", "\t", ".", "-", "x", "]"]
LITERALS = ["a", "b", "k", "K", "s", "é", "É", "1", "_", " ", "-", "x", "\\.", "\\]", "\\n"]
LITERALS += ["\\t", "\\-", "\\\\", "\\{", "é"]
CLASSES = ["[a-c]", "[^a\\d]", "[\\w-]", "[é-ê]", "[^\\s]", "[k\\]]", "[\\d.]", "[^\\n]"]
SHORT = [".", "\\d", "\\w", "\\s", "\\D", "\\W", "\\S"]
ANCHORS = ["^", "$", "\\b", "\\B", "\\A", "\\Z"]
REPEATS = ["*", "+", "?", "{1,2}", "{,2}", "{2}", "{0,}", "*?", "+?"]


def gen_pattern(rnd: random.Random, depth: int = 0) -> str:
    """A random pattern of the portable subset."""
    items = []
    for _ in range(rnd.randint(1, 4)):
        kind = rnd.random()
        if kind < 0.35:
            atom = rnd.choice(LITERALS)
        elif kind < 0.5:
            atom = rnd.choice(CLASSES)
        elif kind < 0.65:
            atom = rnd.choice(SHORT)
        elif kind < 0.8:
            items.append(rnd.choice(ANCHORS))
            continue
        elif depth < 2:
            alts = [gen_pattern(rnd, depth + 1) for _ in range(rnd.randint(1, 3))]
            atom = rnd.choice(["(", "(?:"]) + "|".join(alts) + ")"
        else:
            atom = rnd.choice(LITERALS)
        if rnd.random() < 0.3:
            atom += rnd.choice(REPEATS)
        items.append(atom)
    pattern = "".join(items)
    if depth == 0 and rnd.random() < 0.3:
        pattern = "(?i)" + pattern
    return pattern


def gen_texts(rnd: random.Random, n: int = 10) -> list[str]:
    return ["".join(rnd.choice(CHARS) for _ in range(rnd.randint(0, 6))) for _ in range(n)]


def _python(pattern: str, texts: list[str]) -> list[bool]:
    rx = compile_python(pattern)
    return [rx.search(t) is not None for t in texts]


def _duckdb(con: Any, pattern: str, texts: list[str]) -> list[bool]:
    pat = to_dialect(pattern, "duckdb")
    return [bool(con.execute("SELECT REGEXP_MATCHES(?, ?)", [t, pat]).fetchone()[0]) for t in texts]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rnd=st.randoms(use_true_random=False))
def test_duckdb_runs_portable_regexes_as_python_does(rnd: random.Random) -> None:
    pattern, texts = gen_pattern(rnd), gen_texts(rnd)
    con = duckdb.connect()
    assert _duckdb(con, pattern, texts) == _python(pattern, texts), pattern


@pytest.fixture
def pg(postgres_url: str) -> Any:
    import psycopg

    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rnd=st.randoms(use_true_random=False))
def test_postgres_runs_portable_regexes_as_python_does(pg: Any, rnd: random.Random) -> None:
    pattern, texts = gen_pattern(rnd), gen_texts(rnd)
    pat = to_dialect(pattern, "postgres")
    got = [bool(pg.execute("SELECT %s ~ %s", [t, pat]).fetchone()[0]) for t in texts]
    assert got == _python(pattern, texts), (pattern, pat)


def test_spark_runs_portable_regexes_as_python_does() -> None:
    if shutil.which("java") is None:
        pytest.skip("no Java runtime")
    pytest.importorskip("pyspark", reason="pyspark not installed (make test does)")
    from pyspark.sql import SparkSession

    rnd = random.Random(7)
    rows, want = [], []
    for _ in range(400):
        pattern, texts = gen_pattern(rnd), gen_texts(rnd, 5)
        for t, w in zip(texts, _python(pattern, texts), strict=True):
            rows.append((len(rows), t, to_dialect(pattern, "spark"), pattern))
            want.append(w)
    spark = SparkSession.builder.master("local[1]").appName("leadgate-regex").getOrCreate()
    try:
        df = spark.createDataFrame(rows, "i long, t string, p string, src string")
        got = {r[0]: r[1] for r in df.selectExpr("i", "t RLIKE p").collect()}
    finally:
        spark.stop()
    wrong = [(rows[i][3], rows[i][1], want[i]) for i in range(len(rows)) if got[i] != want[i]]
    assert not wrong, wrong[:10]


@pytest.mark.parametrize("pattern", ["\\B", "(?i)\\B", "a|\\B", "\\b\\B"])
def test_duckdb_finds_no_place_inside_a_character(pattern: str) -> None:
    # Found by the property above: RE2 searches from every byte, and between the three
    # UTF-8 bytes of the Kelvin sign both sides are "not a word character", so a
    # leading \B matched in 'aKa', where Python (and a reader of characters) finds no
    # place without a boundary.
    texts = ["a\u212aa", "A\u212ab", "x\u017fx", "aé", "é", "", "ab"]
    assert _duckdb(duckdb.connect(), pattern, texts) == _python(pattern, texts)
