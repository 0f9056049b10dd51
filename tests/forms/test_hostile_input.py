"""Hostile input to the public forms: anyone may post anything to them, and the answer
is a page (or problem+json for the snippet's JSON) saying what was wrong, a 4xx, never a
500; nothing is stored from a refused post.

A multipart part may name its own charset and Starlette decodes with it: with
`unicode_escape`, the bytes `\\ud800` become a lone surrogate, which no page, store or
JSON can hold. PostgreSQL holds no NUL in text.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from leadgate.engine.engine import NotFound
from multipart_body import multipart

from . import test_http
from .conftest import FORMS_YAML, playbook_text
from .test_http import ANSWERS, SITE, Site

site = test_http.site  # the fixture: a store with the forms of tests/forms/forms.yaml


def ticket(html: str) -> str:
    m = re.search(r'name="lg_ticket" value="([^"]*)"', html)
    assert m
    return m.group(1)


def no_lead(site: Site, email: str) -> None:
    with pytest.raises(NotFound):
        site.lead(email)


@pytest.mark.parametrize(
    "fields",
    [
        {"email": b"zz@acme.com", "first_name": b"Z\\udc80"},
        {"email": b"zz@acme.com", "lg_landing": b"https://www.example.com/\\ud800"},
        {"email": b"zz@acme.com", "fir\\ud800st_name": b"Z"},
    ],
)
def test_a_hosted_form_field_that_is_not_unicode_is_a_400_page(
    site: Site, fields: dict[str, bytes]
) -> None:
    page = site.client.get("/f/newsletter")
    site.clock.advance(5)
    sent = {"lg_ticket": ticket(page.text).encode(), "lg_step": b"0", **fields}
    r = site.client.post("/f/newsletter", **multipart(sent, "unicode_escape"))
    assert r.status_code == 400, r.text[:300]
    assert r.headers["content-type"].startswith("text/html")
    assert "not valid Unicode" in r.text
    no_lead(site, "zz@acme.com")


def test_a_hosted_form_post_that_is_no_form_is_a_400_page(site: Site) -> None:
    page = site.client.get("/f/newsletter")
    site.clock.advance(5)
    data = {"lg_ticket": ticket(page.text), "lg_step": "0", "email": "zz@acme.com"}
    for r in (
        site.client.post("/f/newsletter", data=data, files={"f": ("a.txt", b"x")}),
        site.client.post("/f/newsletter", data={**data, **{f"x{i}": "1" for i in range(600)}}),
    ):
        assert r.status_code == 400, r.text[:300]
        assert r.headers["content-type"].startswith("text/html")
        assert "could not be read" in r.text
    no_lead(site, "zz@acme.com")


def test_a_nul_in_the_visitor_id_is_a_422_naming_it(site: Site) -> None:
    # The visitor id is looked up in form_submissions: PostgreSQL refused it with a 500.
    r = site.client.get("/f/demo/start?visitor_id=v%00", headers={"Origin": SITE})
    assert r.status_code == 422 and r.json()["field"] == "visitor_id", r.text
    t = site.start()["ticket"]
    r = site.client.post(
        "/f/demo/next",
        json={"step": 0, "answers": {"email": "zz@acme.com"}, "visitor_id": "v\x00"},
        headers={"Origin": SITE},
    )
    assert r.status_code == 422 and r.json()["field"] == "visitor_id", r.text
    site.clock.advance(5)
    r = site.client.post(
        "/f/demo/submit",
        json={"ticket": t, "answers": {**ANSWERS, "email": "zz@acme.com"}, "visitor_id": "v\x00"},
        headers={"Origin": SITE},
    )
    assert r.status_code == 422 and r.json()["field"] == "visitor_id", r.text
    no_lead(site, "zz@acme.com")


def test_an_answer_a_playbook_change_made_bad_is_asked_again_on_its_own_step(site: Site) -> None:
    # A visitor answers the budget on step 2; marketing renames its options; on step 3
    # her carried answer is refused. The page showed step 3 again with an error about a
    # field it does not hold (a hidden input), so every retry failed the same way.
    page = site.client.get("/f/demo")
    site.clock.advance(5)
    data = {
        "lg_ticket": ticket(page.text),
        "lg_step": "0",
        "email": "ann@acme.com",
        "need": "scoring",
    }
    assert 'name="budget"' in site.client.post("/f/demo", data=data).text
    renamed = FORMS_YAML.replace("[budget approved, no budget yet]", "[approved, no budget yet]")
    site.engine.activate_playbook(
        playbook_text(renamed.replace("{budget approved:", "{approved:")), "x"
    )
    data.update(lg_step="2", budget="budget approved", consent="on")
    r = site.client.post("/f/demo", data=data)
    assert r.status_code == 422
    assert re.search(r'<select id="f-budget" name="budget"', r.text), "budget is asked again"
    assert 'name="lg_step" value="1"' in r.text
    data.update(lg_step="1", budget="approved")
    r = site.client.post("/f/demo", data=data)
    assert r.status_code == 200 and 'name="consent"' in r.text
    data.update(lg_step="2")
    r = site.client.post("/f/demo", data=data)
    assert r.status_code == 200 and "Thank you" in r.text
    crit = {c["key"]: c for c in site.lead("ann@acme.com")["qualification"]["criteria"]}
    assert crit["budget"]["status"] == "met"


def test_a_hidden_field_from_the_address_that_no_store_holds_is_left_out(site: Site) -> None:
    # /f/demo?campaign=spring%00: the NUL was carried in a hidden input to the last step,
    # refused there (an error on a field the visitor cannot see or change) on every retry.
    page = site.client.get("/f/demo?campaign=spring%00")
    site.clock.advance(5)

    def post(html: str, **answers: str) -> Any:
        data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
        return site.client.post("/f/demo", data={**data, **answers})

    r = post(page.text, email="bo@acme.com", need="routing")
    r = post(r.text, budget="no budget yet")
    r = post(r.text, consent="on")
    assert r.status_code == 200 and "Thank you" in r.text
    assert "campaign" not in site.lead("bo@acme.com")["attributes"]


def test_the_snippet_is_told_which_step_asks_a_refused_answer_again(site: Site) -> None:
    # The snippet's visitor answered the budget on step 2 before marketing renamed its
    # options; on step 3 the refusal now carries step 2 (as she sees it) to show again.
    renamed = FORMS_YAML.replace("[budget approved, no budget yet]", "[approved, no budget yet]")
    site.engine.activate_playbook(
        playbook_text(renamed.replace("{budget approved:", "{approved:")), "x"
    )
    answers = {"email": "ann@acme.com", "need": "scoring", "budget": "budget approved"}
    r = site.client.post(
        "/f/demo/next", json={"step": 2, "answers": answers}, headers={"Origin": SITE}
    )
    problem = r.json()
    assert r.status_code == 422 and problem["field"] == "budget"
    assert problem["step"]["index"] == 1
    assert [f["name"] for f in problem["step"]["fields"]] == ["budget", "company_size"]
    t = site.start()["ticket"]
    site.clock.advance(5)
    r = site.submit(t, {**ANSWERS, "budget": "budget approved"})
    assert r.status_code == 422 and r.json()["step"]["index"] == 1
    # An answer on the step being answered: that step, as before.
    r = site.client.post(
        "/f/demo/next",
        json={"step": 0, "answers": {"email": "ann@acme.com", "need": "nope"}},
        headers={"Origin": SITE},
    )
    assert r.status_code == 422 and r.json()["step"]["index"] == 0
