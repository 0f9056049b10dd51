"""Segments select the same leads in Python and in the store's SQL (SQLite, PostgreSQL).

Random segment conditions (field tests on attributes and on the lead's own state, score
tests, all/any/not) over random stored leads: the leads `leadgate.playbook.segments`
admits one at a time are exactly those `leadgate.analytics.sqlsegments` selects.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from leadgate.analytics.sqlsegments import segment_where
from leadgate.playbook.model import Condition
from leadgate.playbook.segments import compile_segment, lead_view
from leadgate.store.database import Database
from leadgate.store.repository import Repository

sys.path.insert(0, str(Path(__file__).parent))
from test_sql_equivalence import FIELDS, VALUES, condition

STAGES = ["lead", "mql", "sal", "sql", "nurture"]
GRADES = ["A1", "B2", "D4", "C3"]
OWNERS = [None, "ana", "Bo Li"]
STATE_FIELDS = ["stage", "grade", "fit_grade", "engagement_grade", "owner", "source"]
_COND = TypeAdapter(Condition)

state_cond = st.one_of(
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        st.sampled_from(["stage", "grade", "owner", "source"]),
        st.sampled_from(["eq", "ne"]),
        st.sampled_from(["mql", "SAL", "b2", "A1", "ana", "web", "Events"]),
    ),
    st.builds(
        lambda f, v: {"field": f, "op": "in", "value": v},
        st.sampled_from(["stage", "fit_grade", "engagement_grade"]),
        st.lists(st.sampled_from(["mql", "lead", "A", "b", 1, 2, "4"]), min_size=1, max_size=3),
    ),
    st.builds(
        lambda f, v: {"field": f, "op": "exists", "value": v},
        st.sampled_from(["owner", "source"]),
        st.booleans(),
    ),
    st.builds(
        lambda s, op, v: {"score": s, "op": op, "value": v},
        st.sampled_from(["fit", "engagement", "total", "predicted"]),
        st.sampled_from(["gt", "gte", "lt", "lte", "eq", "ne"]),
        st.sampled_from([0, 0.5, 10, 30, 45.5, -5]),
    ),
    st.builds(
        lambda s, a, b: {"score": s, "op": "between", "value": sorted([a, b])},
        st.sampled_from(["fit", "total", "predicted"]),
        st.sampled_from([0, 0.25, 10, 40]),
        st.sampled_from([0.75, 30, 60]),
    ),
)
segment = st.recursive(
    st.one_of(state_cond, condition([*FIELDS, "email", "email_domain"])),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda cs: {"all": cs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda cs: {"any": cs}),
        inner.map(lambda c: {"not": c}),
    ),
    max_leaves=5,
)
score_st = st.sampled_from([0.0, 10.0, 30.0, 45.5, -5.0, 60.25])


@st.composite
def lead_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        attrs = {f: draw(st.sampled_from(VALUES)) for f in draw(st.sets(st.sampled_from(FIELDS)))}
        if draw(st.booleans()):
            attrs["tags"] = draw(
                st.lists(st.sampled_from(["vp", 5, " 5 ", True, 20.0]), max_size=3)
            )
        if draw(st.booleans()):
            attrs["source"] = draw(st.sampled_from(["web", " EVENTS ", "", None, 3]))
        if draw(st.booleans()):
            attrs["predicted"] = draw(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1, "0.9", None]))
        if draw(st.booleans()):
            attrs["stage"] = "mql"  # an attribute so named: the lead's own stage wins
        fit, eng = draw(score_st), draw(score_st)
        out.append(
            {
                "id": i + 1,
                "email": draw(
                    st.sampled_from(["a@x.io", "b@Y.IO", "c@x.io", "d@gmail.com"])
                ).replace("@", f"{i}@"),
                "attributes": attrs,
                "stage": draw(st.sampled_from(STAGES)),
                "grade": draw(st.sampled_from(GRADES)),
                "owner": draw(st.sampled_from(OWNERS)),
                "fit": fit,
                "engagement": eng,
                "score": round(fit + eng, 2),
            }
        )
    return out


def _store(db: Database, leads: list[dict[str, Any]]) -> None:
    with db.write() as conn:
        repo = Repository(db, conn)
        repo.execute("DELETE FROM leads")
        for r in leads:
            repo.execute(
                "INSERT INTO leads (id, email, attributes, created_at, updated_at, stage, "
                "stage_at, owner, fit, engagement, score, fit_grade, engagement_grade, grade, "
                "scored_at, score_state, exit_armed) VALUES (?,?,?,0,0,?,0,?,?,?,?,?,?,?,0,'{}',?)",
                [
                    r["id"],
                    r["email"],
                    orjson.dumps(r["attributes"]).decode(),
                    r["stage"],
                    r["owner"],
                    r["fit"],
                    r["engagement"],
                    r["score"],
                    r["grade"][0],
                    r["grade"][1],
                    r["grade"],
                    False,
                ],
            )


def _python(cond: Any, leads: list[dict[str, Any]]) -> list[int]:
    test = compile_segment(cond)
    out = []
    for r in leads:
        fields, scores = lead_view(
            r["email"],
            r["attributes"],
            stage=r["stage"],
            grade=r["grade"],
            owner=r["owner"],
            fit=r["fit"],
            engagement=r["engagement"],
            total=r["score"],
        )
        if test(fields, scores):
            out.append(r["id"])
    return out


def _sql(db: Database, cond: Any) -> list[int]:
    where = segment_where(cond, "sqlite" if db.is_sqlite else "postgres")
    with db.read() as conn:
        cur = Repository(db, conn)._cur()
        cur.execute(f"SELECT l.id FROM leads l WHERE {where} ORDER BY l.id", ())
        return [int(r[0]) for r in cur.fetchall()]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=segment, leads=lead_rows())
def test_sql_selects_what_python_admits(db_url: str, raw: dict[str, Any], leads: Any) -> None:
    cond = _COND.validate_python(raw)
    db = Database(db_url)
    try:
        _store(db, leads)
        assert _sql(db, cond) == _python(cond, leads), raw
    finally:
        db.dispose()


def test_a_percent_sign_and_a_question_mark_reach_the_driver_as_text(db_url: str) -> None:
    """psycopg reads % and the store's ? as parameters: in a literal they must stay text."""
    leads = [
        {
            "id": 1,
            "email": "a@x.io",
            "attributes": {"note": "50% off? yes"},
            "stage": "lead",
            "grade": "D4",
            "owner": None,
            "fit": 0.0,
            "engagement": 0.0,
            "score": 0.0,
        }
    ]
    db = Database(db_url)
    try:
        _store(db, leads)
        cond = _COND.validate_python({"field": "note", "op": "contains", "value": "50% off?"})
        assert _sql(db, cond) == [1]
        miss = _COND.validate_python({"field": "note", "op": "contains", "value": "50%%"})
        assert _sql(db, miss) == []
    finally:
        db.dispose()
