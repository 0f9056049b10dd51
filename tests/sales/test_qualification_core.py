"""Frameworks and pass policies."""

from __future__ import annotations

import pytest

from leadgate.qualification import BUNDLED, Policy, QualificationError, evaluate, parse_status


def test_bundled_frameworks() -> None:
    assert BUNDLED["bant"].keys == ("budget", "authority", "need", "timeline")
    assert BUNDLED["champ"].keys == ("challenges", "authority", "money", "prioritization")
    assert BUNDLED["anum"].keys == ("authority", "need", "urgency", "money")
    assert len(BUNDLED["meddic"].criteria) == 6
    assert len(BUNDLED["gpctba_ci"].criteria) == 8
    assert all(c.prompt for fw in BUNDLED.values() for c in fw.criteria)


def test_bant_needs_all_four_by_default() -> None:
    fw = BUNDLED["bant"]
    pol = Policy.for_framework(fw)
    ev = evaluate(fw, pol, {"budget": "met", "need": "met", "timeline": "not_met"})
    assert not ev.passed
    assert ev.missing == ("authority", "timeline")
    assert "2 of 4 criteria met" in ev.message("BANT")
    assert evaluate(fw, pol, dict.fromkeys(fw.keys, "met")).passed


def test_min_and_required() -> None:
    fw = BUNDLED["meddic"]
    pol = Policy.for_framework(fw, 4, ["economic_buyer"])
    answers = {
        "metrics": "met",
        "decision_criteria": "met",
        "identify_pain": "met",
        "champion": "met",
    }
    ev = evaluate(fw, pol, answers)
    assert not ev.passed and ev.required_missing == ("economic_buyer",)
    assert ev.missing[0] == "economic_buyer"
    assert evaluate(fw, pol, {**answers, "economic_buyer": "met"}).passed
    # A minimum above the number of criteria is capped: it could never pass otherwise.
    assert Policy.for_framework(BUNDLED["bant"], 9).min_criteria_met == 4


def test_bad_answers_name_the_field() -> None:
    with pytest.raises(QualificationError) as e:
        BUNDLED["bant"].criterion("budgett")
    assert "did you mean 'budget'" in str(e.value)
    with pytest.raises(QualificationError) as e:
        parse_status("maybe", "budget")
    assert e.value.field == "budget"
    assert parse_status("Not Met") == "not_met"
