"""Fit scoring: every operator and combinator, email_domain, grades."""

from __future__ import annotations

import pytest

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
