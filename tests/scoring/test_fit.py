"""Fit scoring: every operator and combinator, email_domain, grades."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.playbook.loader import bundled_playbook, load_playbook
from leadgate.scoring import FitRules, grade_engagement, grade_fit


def fit_rules(cond: str) -> FitRules:
    text = f"name: t\nfit:\n  rules:\n    - {{name: r, if: {cond}, points: 7}}\nstages: {{mql: {{hand_raisers: [x]}}}}\n"
    return FitRules(load_playbook(text).fit)


@pytest.mark.parametrize(
    ("cond", "attrs", "hit"),
    [
        ("{field: country, op: eq, value: US}", {"country": "us"}, True),
        ("{field: country, op: eq, value: US}", {}, False),
        ("{field: country, op: ne, value: US}", {"country": "DE"}, True),
        ("{field: country, op: ne, value: US}", {}, False),
        ("{field: country, op: in, value: [US, GB]}", {"country": "gb"}, True),
        ("{field: country, op: not_in, value: [US, GB]}", {"country": "DE"}, True),
        ("{field: job_title, op: contains, value: Head}", {"job_title": "head of IT"}, True),
        ("{field: job_title, op: matches, value: '^VP'}", {"job_title": "vp sales"}, False),
        ("{field: job_title, op: matches, value: '(?i)^VP'}", {"job_title": "vp sales"}, True),
        ("{field: company_size, op: gt, value: 100}", {"company_size": "250"}, True),
        ("{field: company_size, op: gte, value: 100}", {"company_size": 100}, True),
        ("{field: company_size, op: lt, value: 100}", {"company_size": "n/a"}, False),
        ("{field: company_size, op: lte, value: 100}", {"company_size": 100.0}, True),
        ("{field: company_size, op: between, value: [50, 1000]}", {"company_size": 50}, True),
        ("{field: company_size, op: between, value: [50, 1000]}", {"company_size": 1001}, False),
        ("{field: phone, op: exists, value: true}", {"phone": "+45 1234"}, True),
        ("{field: phone, op: exists, value: false}", {"phone": " "}, True),
        ("{field: email_domain, op: in, value: [gmail.com]}", {"email": "A@GMAIL.com"}, True),
        (
            "{all: [{field: country, op: eq, value: US}, {field: company_size, op: gt, value: 10}]}",
            {"country": "US", "company_size": 5},
            False,
        ),
        (
            "{any: [{field: country, op: eq, value: US}, {field: company_size, op: gt, value: 10}]}",
            {"country": "US", "company_size": 5},
            True,
        ),
        ("{not: {field: country, op: eq, value: US}}", {"country": "DE"}, True),
        ("{not: {field: country, op: eq, value: US}}", {}, True),
    ],
)
def test_operators(cond: str, attrs: dict[str, object], hit: bool) -> None:
    assert bool(fit_rules(cond).contributions(attrs)) is hit


def test_bundled_playbook_scores_a_senior_buyer() -> None:
    pb, _ = bundled_playbook()
    lines = FitRules(pb.fit).contributions(
        {
            "email": "ann@gmail.com",
            "job_title": "VP Marketing",
            "company_size": 200,
            "country": "DE",
        }
    )
    assert dict(lines) == {
        "senior title": 20,
        "company size 50-1000": 15,
        "target country": 10,
        "free email provider": -10,
    }


def test_grades() -> None:
    g = {"A": 50, "B": 30, "C": 10}
    assert [grade_fit(x, g) for x in (50, 49.99, 30, 10, 9, -5)] == ["A", "B", "B", "C", "D", "D"]
    e = {"1": 60, "2": 30, "3": 10}
    assert [grade_engagement(x, e) for x in (60, 30, 29, 0)] == ["1", "2", "3", "4"]


# -- the cache of fit lines (stop 16): the same answer as computing them, value by value --

_CACHE_PLAYBOOK = """name: t
fit:
  rules:
    - {name: eq, if: {field: a, op: eq, value: "1"}, points: 1}
    - {name: num, if: {field: a, op: gte, value: 1}, points: 2}
    - {name: txt, if: {field: a, op: contains, value: "1"}, points: 4}
    - {name: yes, if: {field: a, op: eq, value: true}, points: 8}
    - {name: rx, if: {any: [{field: b, op: matches, value: "^-?0"}, {not: {field: c, op: exists, value: true}}]}, points: 16}
    - {name: dom, if: {field: email_domain, op: in, value: [x.com]}, points: 32}
stages: {mql: {hand_raisers: [x]}}
"""
_VALUES = st.one_of(
    st.sampled_from(
        [1, 1.0, True, False, 0, 0.0, -0.0, "1", " 1 ", "", None, "true", (1,), (1.0,)]
    ),
    st.lists(st.sampled_from([1, 1.0, "1"]), max_size=2),
    st.floats(allow_nan=True),
    st.text(max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={"a": _VALUES, "b": _VALUES, "c": _VALUES,
                                                     "email": st.sampled_from(["p@x.com", "q@y.com"])}),
                max_size=12))  # fmt: skip
def test_cached_fit_lines_are_the_computed_ones(leads: list[dict[str, object]]) -> None:
    rules = FitRules(load_playbook(_CACHE_PLAYBOOK).fit)
    # Equal values of other types (1, 1.0, True; (1,) and (1.0,)) meet in one cache.
    for attrs in leads + leads[::-1]:
        assert rules.lines(attrs) == rules.contributions(attrs), attrs
