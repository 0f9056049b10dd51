"""The form logic: show_if, progressive profiling, answers, submissions (pure core)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.forms.answers import FormError
from leadgate.forms.flow import ALWAYS, Known, is_known, next_step, submission, walk
from leadgate.forms.spam import Facts, verdict
from leadgate.playbook.forms_section import SpamRules
from leadgate.playbook.model import Playbook

GOOD = {
    "email": " Ann@Acme.com ",
    "need": "Scoring",
    "country": "germany",
    "budget": "budget approved",
    "company_size": "1,200",
    "phone": "030 1234567",
    "timeline": "this quarter",
    "consent": "on",
    "campaign": "spring",
}


def names(steps: Any) -> list[list[str]]:
    return [[f.name for f in v.asked] for v in steps]


def test_second_step_depends_on_the_first_answer(forms_playbook: Playbook) -> None:
    form = forms_playbook.forms["demo"]
    looking = walk(form, Known(), {"need": "just looking"})
    assert [v.index for v in looking] == [0, 2]
    buying = walk(form, Known(), {"need": "routing"})
    assert [v.index for v in buying] == [0, 1, 2]
    # No answer yet: a missing field makes `ne` false, as everywhere in the playbook.
    assert [v.index for v in walk(form, Known(), {})] == [0, 2]


def test_a_full_submission_records_attributes_criteria_and_consent(
    forms_playbook: Playbook,
) -> None:
    sub = submission(forms_playbook.forms["demo"], Known(), GOOD)
    assert sub.email == "ann@acme.com"
    assert sub.attributes == {
        "need": "scoring",
        "country": "DE",
        "company_size": 1200,
        "phone": "+49301234567",
        "campaign": "spring",
    }
    assert sub.qualification == {
        "budget": ("met", "budget approved"),
        "timeline": ("met", "this quarter"),
    }
    assert sub.consents == [("consent", "2026-01", "I agree to be contacted about leadgate.")]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("email", "not-an-email", "not a valid address"),
        ("need", "lunch", "not one of the options"),
        ("country", "Atlantis", "not a country"),
        ("phone", "12", "phone number"),
        ("company_size", "0", "below the minimum"),
        ("company_size", "many", "not a number"),
        ("consent", "", "consent is required"),
        ("budget", "", "required"),
        ("nonsense", "x", "no such field"),
    ],
)
def test_bad_answers_name_their_field(
    forms_playbook: Playbook, field: str, value: str, says: str
) -> None:
    with pytest.raises(FormError) as err:
        submission(forms_playbook.forms["demo"], Known(), {**GOOD, field: value})
    assert err.value.field == field and says in err.value.message


def test_answers_to_a_step_that_was_hidden_are_dropped(forms_playbook: Playbook) -> None:
    sub = submission(forms_playbook.forms["demo"], Known(), {**GOOD, "need": "just looking"})
    assert "budget" not in sub.answers and "budget" not in sub.qualification
    assert "company_size" not in sub.attributes


def test_a_known_lead_is_not_asked_again(forms_playbook: Playbook) -> None:
    form = forms_playbook.forms["demo"]
    known = Known(
        attributes={"need": "routing", "company_size": 50}, criteria=frozenset({"budget"})
    )
    steps = walk(form, known, {})
    # need is known (and, read from the store, still opens the budget step), budget and
    # size too: that step has nothing left to ask and is skipped.
    assert names(steps) == [["email", "country"], ["phone", "timeline", "consent", "campaign"]]
    # The known lead's submission needs no answer for what is known.
    sub = submission(form, known, {k: v for k, v in GOOD.items() if k not in ("need", "budget")})
    assert sub.email == "ann@acme.com"


def test_ask_at_most_takes_the_next_questions_in_playbook_order(forms_playbook: Playbook) -> None:
    form = forms_playbook.forms["newsletter"]
    assert names(walk(form, Known(), {})) == [["email", "first_name"]]
    known = Known(attributes={"first_name": "Ann"})
    assert names(walk(form, known, {})) == [["email", "company"]]
    known = Known(attributes={"first_name": "Ann", "company": "Acme", "job_title": "CTO"})
    assert names(walk(form, known, {})) == [["email"]]


def test_next_step_checks_the_current_step(forms_playbook: Playbook) -> None:
    form = forms_playbook.forms["demo"]
    first = next_step(form, Known(), {}, -1)
    assert first is not None and first.index == 0
    with pytest.raises(FormError) as err:
        next_step(form, Known(), {"email": "ann@acme.com"}, 0)
    assert err.value.field == "need"
    second = next_step(form, Known(), {"email": "ann@acme.com", "need": "scoring"}, 0)
    assert second is not None and second.index == 1
    assert next_step(form, Known(), GOOD, 2) is None


def test_spam_rules() -> None:
    rules = SpamRules()
    assert verdict(rules, Facts(), frozenset()) is None
    assert verdict(rules, Facts(honeypot="http://spam"), frozenset()) == "honeypot"
    assert verdict(rules, Facts(filled_seconds=0.3), frozenset()) == "too_fast"
    assert verdict(rules, Facts(from_ip=10), frozenset()) == "rate_ip"
    assert verdict(rules, Facts(from_ip=9), frozenset()) is None
    assert verdict(rules, Facts(for_email=5), frozenset()) == "rate_email"
    assert verdict(rules, Facts(domain="mx.mailinator.com"), {"mailinator.com"}) == "disposable"
    assert verdict(rules, Facts(domain="com"), {"com"}) is None


def test_disposable_domains_listed_in_punycode_are_refused_in_unicode() -> None:
    """The maintained list writes international domains `xn--`; a submitted address's
    domain arrives in Unicode (`check_email`), and is refused all the same."""
    from leadgate.forms.service import disposable_domains
    from leadgate.ingest.validate import check_email

    domain = check_email("x@xn--5nx.cc").rsplit("@", 1)[1]
    assert not domain.startswith("xn--")
    assert verdict(SpamRules(), Facts(domain=domain), disposable_domains()) == "disposable"
    assert "xn--5nx.cc" in disposable_domains() and "mailinator.com" in disposable_domains()


# -- properties ------------------------------------------------------------------------

ATTRS = ("need", "country", "company_size", "phone", "first_name", "company", "job_title")
known_leads = st.builds(
    Known,
    attributes=st.dictionaries(
        st.sampled_from(ATTRS), st.sampled_from(["routing", "just looking", "DE", 50, "x"])
    ),
    criteria=st.frozensets(st.sampled_from(["budget", "timeline", "need"])),
)
answers = st.fixed_dictionaries(
    {},
    optional={
        "need": st.sampled_from(["scoring", "routing", "just looking"]),
        "budget": st.sampled_from(["budget approved", "no budget yet"]),
        "company_size": st.integers(1, 10_000),
        "first_name": st.sampled_from(["Ann", "Bo"]),
    },
)


@settings(max_examples=200, deadline=None)
@given(known=known_leads, given_answers=answers, form_name=st.sampled_from(["demo", "newsletter"]))
def test_profiling_properties(
    forms_playbook: Playbook, known: Known, given_answers: dict[str, Any], form_name: str
) -> None:
    form = forms_playbook.forms[form_name]
    given_answers = {k: v for k, v in given_answers.items() if k in {f.name for f in form.fields}}
    steps = walk(form, known, given_answers)
    every = walk(form, known, given_answers, profile=False)
    asked = [f for v in steps for f in v.asked]
    open_ = [f for v in every for f in v.asked]
    # What is known is never asked; the email always is, first.
    assert not any(is_known(f, known) for f in asked)
    assert asked[0].type == "email" and steps[0].index == 0
    # Asked fields are the open ones in the playbook's order, and the new questions are
    # the first `ask_at_most` of those not known.
    assert [f.name for f in asked] == [f.name for f in open_ if f in asked]
    queue = [f.name for f in open_ if f.type not in ALWAYS and not is_known(f, known)]
    new = [f.name for f in asked if f.type not in ALWAYS]
    cap = form.ask_at_most
    assert new == (queue[:cap] if cap is not None else queue)
    # The demo's budget step is shown exactly when the need (answered or known) is not
    # "just looking".
    if form_name == "demo":
        need = given_answers.get("need", known.attributes.get("need"))
        opened = any(v.index == 1 for v in every)
        assert opened == (need is not None and str(need).lower() != "just looking")


@settings(max_examples=100, deadline=None)
@given(known=known_leads, given_answers=answers)
def test_stepping_through_visits_the_walked_steps(
    forms_playbook: Playbook, known: Known, given_answers: dict[str, Any]
) -> None:
    form = forms_playbook.forms["demo"]
    given_answers = {k: v for k, v in given_answers.items() if k in {f.name for f in form.fields}}
    full = {**GOOD, **given_answers}
    visited, current = [], -1
    while (view := next_step(form, known, full, current)) is not None:
        visited.append(view.index)
        current = view.index
    assert visited == [v.index for v in walk(form, known, submission(form, known, full).answers)]
