"""The DuckDB query's raw-text prefilter for `contains` never changes a score.

Before parsing JSON, rows whose raw text cannot hold a rule's `contains` needle are
dropped. JSON escapes (`\\/`, `\\u0070`), non-ASCII text whose lower case differs,
numbers and booleans shown as text and nested objects are where a raw-text test could
go wrong: random documents written with such spellings are scored with and without the
prefilter, and must score the same.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgate.analytics import sqlduckdb
from leadgate.analytics.sqlcompile import compile_scoring
from leadgate.analytics.sqlduckdb import _prefilter
from leadgate.playbook.model import FieldCondition, Playbook

T0 = 1_700_000_000.0
ALPHABET = '/pricngPRICNG:.1e5 "\\ßİıKé{}[],tru'
NEEDLES = [
    "/pricing",
    "pricing",
    "/PRICING",
    "ß",
    "ss",
    "i̇",
    "é",
    "k",
    "ri",
    "1.5",
    "100.0",
    ":1",
    '"/p',
    "\\",
    "true",
    "nan",
    "a/b",
    "/",
    "{}",
]

scalars = st.one_of(
    st.text(alphabet=ALPHABET, max_size=12),
    st.sampled_from([1.5, 1.50, 100, 1e2, 0, True, False, None, "/pricing", "/Pricing/x"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["url", "a", "/pricing"]), inner, max_size=2),
    ),
    max_leaves=5,
)


@st.composite
def raw_json(draw: st.DrawFn, value: Any) -> str:
    """`value` as JSON text, each character of each string escaped or not at random."""
    if isinstance(value, str):
        out = []
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif draw(st.integers(0, 3)) == 0:
                out.append("\\/" if ch == "/" else f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(draw(raw_json(v)) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{draw(raw_json(k))}: {draw(raw_json(v))}" for k, v in value.items()]
        return "{" + ",".join(items) + "}"
    if isinstance(value, float) and draw(st.booleans()):
        return f"{value:E}"  # 1.500000E+00: a number spelled unlike DuckDB shows it
    return json.dumps(value)


@st.composite
def documents(draw: st.DrawFn) -> str:
    doc = draw(st.dictionaries(st.sampled_from(["url", "ref"]), values, max_size=2))
    return draw(raw_json(doc))


def _playbook(needles: list[str], rolling: bool) -> Playbook:
    rules: list[dict[str, Any]] = [
        {
            "event": "page_view",
            "points": 1.25 + n,
            "if": {"field": "url", "op": "contains", "value": needle},
        }
        for n, needle in enumerate(needles)
    ]
    if len(needles) > 1:
        rules.append(
            {
                "event": "page_view",
                "points": 3,
                "if": {"any": [{"field": "url", "op": "contains", "value": x} for x in needles]},
            }
        )
    if rolling:
        rules[0]["max_per_days"] = {"count": 2, "days": 1}
    rules.append({"event": "email_click", "points": 2})
    return Playbook.model_validate(
        {
            "name": "prefilter",
            "fit": {"rules": []},
            "engagement": {"half_life_days": 7, "rules": rules},
            "stages": {"mql": {"hand_raisers": ["demo"]}},
        }
    )


def _scores(sql: str, events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    con.execute("CREATE TABLE leads(id BIGINT, email VARCHAR, attributes VARCHAR)")
    con.execute(
        "CREATE TABLE events(id VARCHAR, lead_id BIGINT, type VARCHAR, occurred_at DOUBLE, "
        "properties VARCHAR)"
    )
    con.executemany("INSERT INTO leads VALUES (?, ?, ?)", [(i, f"u{i}@x.io", "{}") for i in (1, 2)])
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", events)
    try:
        return sorted(con.execute(sql).fetchall())
    finally:
        con.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(documents(), min_size=1, max_size=12),
    needles=st.lists(st.sampled_from(NEEDLES), min_size=1, max_size=2, unique=True),
    rolling=st.booleans(),
)
def test_prefilter_never_changes_scores(docs: list[str], needles: list[str], rolling: bool) -> None:
    pb = _playbook(needles, rolling)
    events = [(f"e{k}", 1 + k % 2, "page_view", T0 + 3600 * k, doc) for k, doc in enumerate(docs)]
    events.append(("c1", 1, "email_click", T0, "{}"))
    as_of = T0 + 86400 * 3
    with_pre = compile_scoring(pb, as_of)
    # One needle: the prefilter is in the query when the needle allows one (with two,
    # the `any` rule of both needs both).
    if len(needles) == 1:
        cond = FieldCondition(field="url", op="contains", value=needles[0])
        assert ("CONTAINS(LOWER(" in with_pre) == (_prefilter(cond, "p") is not None)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(sqlduckdb, "_prefilter", lambda cond, doc: None)
        without = compile_scoring(pb, as_of)
    assert "CONTAINS(LOWER(" not in without
    assert _scores(with_pre, events) == _scores(without, events)


def test_prefilter_refuses_needles_that_can_stand_outside_strings() -> None:
    """Needles a number, a boolean or an object's serialization could hold get none."""
    for needle in ["1.5", "100.0", "true", "NaN", "-Infinity", ":1", "{}", '"/p', "\\x", " "]:
        cond = FieldCondition(field="url", op="contains", value=needle)
        assert _prefilter(cond, "p") is None, needle
    for needle in ["/pricing", "é", "vp", "a/b"]:
        assert _prefilter(FieldCondition(field="url", op="contains", value=needle), "p")


def test_prefilter_keeps_escaped_and_non_ascii_rows() -> None:
    """Rows the condition keeps pass, however their text is spelled."""
    cond = FieldCondition(field="url", op="contains", value="/pricing")
    pre = _prefilter(cond, "doc")
    assert pre is not None
    con = duckdb.connect()
    for doc in [
        '{"url":"\\/pricing"}',
        '{"url":"/pri\\u0063ing"}',
        '{"url":"/PRICING"}',
        '{"url":"/prİcing"}',
        '{"url":["x", "/Pricing"]}',
        '{"url":{"a":"/pricing"}}',
    ]:
        assert con.execute(f"SELECT {pre} FROM (SELECT ? AS doc)", [doc]).fetchone() == (True,)
    assert con.execute(f"SELECT {pre} FROM (SELECT ? AS doc)", ['{"url":"/blog"}']).fetchone() == (
        False,
    )
