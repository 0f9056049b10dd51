"""Forms over HTTP: the hosted page, the snippet's JSON, CORS, spam rules, idempotency.

Every test runs on SQLite and PostgreSQL (the `engine` fixture) with a clock the test
moves: the minimum fill time and the rate limits are read off that clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.engine.engine import Engine
from leadgate.keys import create_key

from .conftest import playbook_text

SITE = "https://www.example.com"
ANSWERS = {
    "email": "ann@acme.com",
    "need": "scoring",
    "country": "DE",
    "budget": "budget approved",
    "company_size": "300",
    "phone": "+49 30 1234567",
    "timeline": "this quarter",
    "consent": True,
    "campaign": "spring",
}


class Site:
    def __init__(self, client: TestClient, engine: Engine, clock: Any, admin: str):
        self.client = client
        self.engine = engine
        self.clock = clock
        self.admin = {"Authorization": f"Bearer {admin}"}

    def start(self, form: str = "demo", **headers: str) -> dict[str, Any]:
        r = self.client.get(f"/f/{form}/start", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    def submit(
        self, ticket: str, answers: dict[str, Any], form: str = "demo", **headers: str
    ) -> Any:
        return self.client.post(
            f"/f/{form}/submit",
            json={"ticket": ticket, "answers": answers, "landing_page": f"{SITE}/?utm_source=ads"},
            headers={"Origin": SITE, **headers},
        )

    def filled(self, answers: dict[str, Any] = ANSWERS, form: str = "demo") -> Any:
        ticket = self.start(form)["ticket"]
        self.clock.advance(5)
        return self.submit(ticket, answers, form)

    def rejections(self) -> dict[str, int]:
        r = self.client.get("/api/v1/forms/rejections", headers=self.admin)
        assert r.status_code == 200, r.text
        return {f"{x['form']}:{x['reason']}": x["count"] for x in r.json()["rejections"]}

    def lead(self, email: str) -> dict[str, Any]:
        return self.engine.show(email)


@pytest.fixture
def site(engine: Engine, clock: Any) -> Iterator[Site]:
    engine.activate_playbook(playbook_text(), "forms.yaml")
    admin = create_key(engine.db, "admin", "forms-test")[1]
    with TestClient(create_app(engine=engine), raise_server_exceptions=False) as client:
        yield Site(client, engine, clock, admin)


def test_a_good_submission_makes_the_lead_with_its_answers(site: Site) -> None:
    r = site.filled()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "accepted"
    # The demo form is a hand-raiser: the lead is an MQL at once, so the booking link shows.
    assert body["booking_url"] == "https://cal.example.com/sales"
    assert r.headers["access-control-allow-origin"] == SITE
    assert "lead_id" not in body and "ann@acme.com" not in r.text
    lead = site.lead("ann@acme.com")
    assert lead["stage"] == "mql"
    assert lead["attributes"]["company_size"] == 300
    assert lead["attributes"]["phone"] == "+49301234567"
    assert lead["attributes"]["campaign"] == "spring"
    assert [c["text_version"] for c in lead["consents"]] == ["2026-01"]
    crit = {c["key"]: c for c in lead["qualification"]["criteria"]}
    assert crit["budget"]["status"] == "met" and crit["budget"]["note"] == "budget approved"
    assert crit["timeline"]["status"] == "met"
    events = site.client.get(f"/api/v1/leads/{lead['id']}", headers=site.admin).json()
    types = [e["type"] for e in events["recent_events"]]
    assert "form_submitted" in types and "demo_request" in types


def test_the_form_submitted_event_carries_answers_and_page(site: Site) -> None:
    site.filled()
    with site.engine.db.read() as conn:
        from leadgate.store.repository import Repository

        repo = Repository(site.engine.db, conn)
        row = repo.execute("SELECT properties FROM events WHERE type = 'form_submitted'").fetchone()
    import json

    props = json.loads(row[0])
    assert props["form"] == "demo" and props["utm_source"] == "ads"
    assert props["answers"]["budget"] == "budget approved"
    assert props["landing_page"].startswith(SITE)


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "nope"), ("phone", "12"), ("country", "Atlantis"), ("consent", False)],
)
def test_a_bad_field_is_a_problem_naming_it(site: Site, field: str, value: Any) -> None:
    r = site.filled({**ANSWERS, field: value})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field
    assert r.json()["errors"][0]["pointer"] == f"#/answers/{field}"
    # CORS on errors too: the page can read what to fix.
    assert r.headers["access-control-allow-origin"] == SITE
    with pytest.raises(Exception, match="no lead"):
        site.lead("ann@acme.com")


def test_steps_depend_on_earlier_answers(site: Site) -> None:
    start = site.start()
    assert [f["name"] for f in start["step"]["fields"]] == ["email", "need", "country"]

    def nxt(answers: dict[str, Any], step: int) -> Any:
        return site.client.post(
            "/f/demo/next", json={"step": step, "answers": answers}, headers={"Origin": SITE}
        )

    r = nxt({"email": "ann@acme.com", "need": "routing"}, 0)
    assert r.json()["step"]["name"] == "budget"
    r = nxt({"email": "ann@acme.com", "need": "just looking"}, 0)
    assert r.json()["step"]["name"] == "contact"
    r = nxt({"email": "ann@acme.com"}, 0)
    assert r.status_code == 422 and r.json()["field"] == "need"
    r = nxt(ANSWERS, 2)
    assert r.status_code == 200 and r.json() == {"step": None}


def test_cors_allows_listed_origins_and_refuses_others(site: Site) -> None:
    ok = site.client.options(
        "/f/demo/submit",
        headers={"Origin": SITE, "Access-Control-Request-Method": "POST"},
    )
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == SITE
    assert "POST" in ok.headers["access-control-allow-methods"]
    evil = "https://evil.example"
    bad = site.client.options(
        "/f/demo/submit", headers={"Origin": evil, "Access-Control-Request-Method": "POST"}
    )
    assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers
    ticket = site.start()["ticket"]
    site.clock.advance(5)
    r = site.submit(ticket, ANSWERS, Origin=evil)
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    assert "allowed_origins" in r.json()["detail"]
    with pytest.raises(Exception, match="no lead"):
        site.lead("ann@acme.com")
    assert site.rejections() == {"demo:origin": 2}


def test_the_honeypot_refuses_a_bot_and_counts_it(site: Site) -> None:
    ticket = site.start()["ticket"]
    site.clock.advance(5)
    r = site.submit(ticket, {**ANSWERS, "website": "http://buy-pills.example"})
    assert r.status_code == 403 and r.json()["reason"] == "honeypot"
    with pytest.raises(Exception, match="no lead"):
        site.lead("ann@acme.com")
    assert site.rejections() == {"demo:honeypot": 1}


def test_a_submission_in_300_ms_is_refused(site: Site) -> None:
    ticket = site.start()["ticket"]
    site.clock.advance(0.3)
    r = site.submit(ticket, ANSWERS)
    assert r.status_code == 422 and r.json()["reason"] == "too_fast"
    site.clock.advance(5)
    assert site.submit(ticket, ANSWERS).status_code == 200


def test_a_double_click_is_one_submission(site: Site) -> None:
    ticket = site.start()["ticket"]
    site.clock.advance(5)
    first = site.submit(ticket, ANSWERS)
    second = site.submit(ticket, ANSWERS)
    assert first.json()["status"] == "accepted"
    assert second.status_code == 200 and second.json()["status"] == "duplicate"
    # The second answer shows the same thank-you (and booking link) as the first.
    assert second.json()["booking_url"] == first.json()["booking_url"]
    lead = site.lead("ann@acme.com")
    assert len(lead["consents"]) == 1
    with site.engine.db.read() as conn:
        from leadgate.store.repository import Repository

        repo = Repository(site.engine.db, conn)
        n = repo.execute("SELECT COUNT(*) FROM events WHERE type = 'form_submitted'").fetchone()
        versions = repo.execute(
            "SELECT COUNT(DISTINCT version) FROM sales_qualification"
        ).fetchone()
    assert n[0] == 1 and versions[0] == 1


def test_a_forged_or_foreign_ticket_is_refused(site: Site) -> None:
    site.clock.advance(5)
    r = site.submit("forged", ANSWERS)
    assert r.status_code == 422 and r.json()["field"] == "lg_ticket"
    other = site.start("newsletter")["ticket"]
    site.clock.advance(5)
    assert site.submit(other, ANSWERS).json()["field"] == "lg_ticket"


def test_rate_limits_per_address_and_per_email_with_a_passed_clock(site: Site) -> None:
    # per_email: 3 in 60 minutes.
    for _ in range(3):
        assert site.filled().status_code == 200
    r = site.filled()
    assert r.status_code == 429 and r.json()["reason"] == "rate_email"
    assert r.json()["field"] == "email"
    site.clock.advance(3601)
    assert site.filled().status_code == 200
    # per_ip: 5 in 10 minutes (every submission and rejection from the address counts).
    site.clock.advance(3601)
    for i in range(5):
        assert site.filled({**ANSWERS, "email": f"p{i}@acme.com"}).status_code == 200
    r = site.filled({**ANSWERS, "email": "p9@acme.com"})
    assert r.status_code == 429 and r.json()["reason"] == "rate_ip"
    site.clock.advance(601)
    assert site.filled({**ANSWERS, "email": "p9@acme.com"}).status_code == 200
    assert site.rejections() == {"demo:rate_email": 1, "demo:rate_ip": 1}


def test_disposable_domains_are_refused(site: Site) -> None:
    r = site.filled({**ANSWERS, "email": "x@mailinator.com"})
    assert r.status_code == 422 and r.json()["reason"] == "disposable"
    assert r.json()["field"] == "email"


def test_a_known_visitor_is_not_asked_again(site: Site) -> None:
    ticket = site.start()["ticket"]
    site.clock.advance(5)
    r = site.client.post(
        "/f/demo/submit",
        json={"ticket": ticket, "answers": ANSWERS, "visitor_id": "v-123"},
        headers={"Origin": SITE},
    )
    assert r.status_code == 200
    # Back with the tracker's cookie: the first step no longer asks the known country.
    again = site.client.get("/f/demo/start?visitor_id=v-123").json()
    assert [f["name"] for f in again["step"]["fields"]] == ["email"]
    nxt = site.client.post(
        "/f/demo/next", json={"step": 0, "answers": {"email": "ann@acme.com"}}
    ).json()
    # need, budget and size are known: straight to the contact step, where only the
    # consent (asked on every form) and the hidden campaign are left.
    assert nxt["step"]["name"] == "contact"
    assert [f["name"] for f in nxt["step"]["fields"]] == ["consent", "campaign"]


def test_the_hosted_page_works_without_javascript(site: Site) -> None:
    page = site.client.get("/f/demo?campaign=spring")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in page.text and 'src="/f/demo.js"' in page.text
    html = page.text
    assert '<label for="f-email">' in html

    def hidden(html: str, name: str) -> str:
        m = re.search(rf'name="{name}" value="([^"]*)"', html)
        assert m, name
        return m.group(1)

    def post(html: str, **answers: str) -> Any:
        # As a browser does: the page's hidden inputs (ticket, step, earlier answers)
        # and what the visitor typed.
        data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
        return site.client.post("/f/demo", data={**data, **answers})

    assert hidden(html, "lg_ticket")
    site.clock.advance(5)
    r = post(html, email="bo@acme.com", need="routing")
    assert r.status_code == 200 and 'name="budget"' in r.text
    # A missing answer: the same step again, the error linked to its field.
    r2 = post(r.text)
    assert r2.status_code == 422 and 'href="#f-budget"' in r2.text
    assert 'aria-invalid="true"' in r2.text
    r3 = post(r2.text, budget="no budget yet")
    assert 'name="consent"' in r3.text and hidden(r3.text, "campaign") == "spring"
    r4 = post(r3.text, consent="on")
    assert r4.status_code == 200 and "Book a time" in r4.text
    lead = site.lead("bo@acme.com")
    assert lead["stage"] == "mql" and lead["attributes"]["campaign"] == "spring"
    crit = {c["key"]: c for c in lead["qualification"]["criteria"]}
    assert crit["budget"]["status"] == "not_met"


def test_answers_render_inert(site: Site) -> None:
    page = site.client.get("/f/demo")
    ticket = re.search(r'name="lg_ticket" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
    r = site.client.post(
        "/f/demo", data={"lg_ticket": ticket, "lg_step": "0", "email": '"><script>x</script>'}
    )
    assert r.status_code == 422 and "<script>x" not in r.text


def test_the_snippet_is_served_and_unknown_forms_are_404(site: Site) -> None:
    js = site.client.get("/f/demo.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert site.client.get("/f/nope.js").status_code == 404
    assert (
        site.client.get("/f/nope/start")
        .headers["content-type"]
        .startswith("application/problem+json")
    )
    assert site.client.get("/f/nope").status_code == 404


def test_deliverability_is_checked_when_the_form_asks(site: Site) -> None:
    from leadgate.forms.service import install

    asked: list[str] = []

    def no_mx(email: str) -> str | None:
        asked.append(email)
        return "The domain name acme.com does not accept email."

    forms = install(site.engine)
    forms.check_mail = no_mx
    assert site.filled().status_code == 200  # the demo form does not ask: no lookup
    assert asked == []
    yaml = playbook_text().replace(
        "      min_fill_seconds: 2\n",
        "      min_fill_seconds: 2\n      check_deliverability: true\n",
        1,
    )
    site.engine.activate_playbook(yaml, "forms.yaml")
    r = site.filled({**ANSWERS, "email": "zoe@acme.com"})
    assert r.status_code == 422 and r.json()["field"] == "email"
    assert "does not accept email" in r.json()["detail"] and asked == ["zoe@acme.com"]


def test_answers_too_large_for_an_event_make_no_lead(site: Site) -> None:
    fields = "".join(
        f"          - {{name: note{i}, type: textarea, max_length: 10000}}\n" for i in range(7)
    )
    yaml = playbook_text() + (
        '  long:\n    allowed_origins: ["https://www.example.com"]\n    spam: {min_fill_seconds: 0}\n    steps:\n      - fields:\n'
        "          - {name: email, type: email, required: true}\n" + fields
    )
    site.engine.activate_playbook(yaml, "forms.yaml")
    answers = {"email": "long@acme.com", **{f"note{i}": "x" * 10_000 for i in range(7)}}
    r = site.filled(answers, form="long")
    assert r.status_code == 422 and r.json()["field"] == "answers"
    with pytest.raises(Exception, match="no lead"):
        site.lead("long@acme.com")


def test_a_retry_after_a_failure_records_what_the_first_attempt_did_not(site: Site) -> None:
    from leadgate.sales import sales_of

    sales = sales_of(site.engine)
    real = sales.qualify
    calls: list[int] = []

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the store went away")
        return real(*args, **kwargs)

    sales.qualify = failing_once  # type: ignore[method-assign]
    ticket = site.start()["ticket"]
    site.clock.advance(5)
    assert site.submit(ticket, ANSWERS).status_code == 500  # the event was stored first
    retry = site.submit(ticket, ANSWERS)
    assert retry.status_code == 200, retry.text
    lead = site.lead("ann@acme.com")
    assert [c["text_version"] for c in lead["consents"]] == ["2026-01"]
    crit = {c["key"]: c["status"] for c in lead["qualification"]["criteria"]}
    assert crit["budget"] == "met"
    # And a third click is a duplicate, recorded once.
    assert site.submit(ticket, ANSWERS).json()["status"] == "duplicate"
    assert len(site.lead("ann@acme.com")["consents"]) == 1


def test_step_checks_are_rate_limited_per_address(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A step check with a typed email tells which questions the store already knows of
    # that address: unbounded, it is an oracle to enumerate leads. Start, next and the
    # hosted page's steps share one budget per client address, on the engine's clock.
    from leadgate.forms import http as forms_http

    monkeypatch.setattr(forms_http, "STEP_RATE", 3)
    site.client.app.state.__dict__.pop("form_step_limit", None)  # type: ignore[attr-defined]

    def nxt(email: str) -> Any:
        return site.client.post(
            "/f/demo/next",
            json={"step": 0, "answers": {"email": email, "need": "routing"}},
            headers={"Origin": SITE},
        )

    assert site.client.get("/f/demo/start").status_code == 200
    assert [nxt(f"p{i}@acme.com").status_code for i in range(2)] == [200, 200]
    r = nxt("p9@acme.com")
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("rate-limited")
    assert int(r.headers["retry-after"]) >= 1
    # The snippet's page may read why: CORS headers on the refusal too.
    assert r.headers["access-control-allow-origin"] == SITE
    assert site.client.get("/f/demo/start").status_code == 429
    page = site.client.post("/f/demo", data={"lg_step": "0", "email": "p9@acme.com"})
    assert page.status_code == 429 and "try again" in page.text.lower()
    assert page.headers["retry-after"]
    # A submission is not a step check: it keeps its own rules (spam.per_ip).
    site.clock.advance(61)
    assert nxt("p9@acme.com").status_code == 200
    # Not counted as form rejections: those are submissions refused.
    assert not any("rate" in k for k in site.rejections())


def test_step_limit_counts_an_ipv6_client_by_its_64(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One visitor holds a whole /64: a fresh address for every check must not mean a
    # fresh budget, or the lead oracle is open again.
    from leadgate.forms import http as forms_http

    monkeypatch.setattr(forms_http, "STEP_RATE", 3)
    site.client.app.state.__dict__.pop("form_step_limit", None)  # type: ignore[attr-defined]
    app = site.client.app

    def start(host: str) -> int:
        c = TestClient(app, raise_server_exceptions=False, client=(host, 40000))
        return c.get("/f/demo/start").status_code

    assert [start(f"2001:db8:7:1::{i}") for i in range(1, 6)] == [200, 200, 200, 429, 429]
    assert start("2001:db8:7:2::1") == 200  # another /64 is another client


def test_a_submission_in_nfd_lands_on_the_nfc_lead(site: Site) -> None:
    # `josé@acme.com` with e + U+0301 (as a Mac may type it) is the lead made with a
    # precomposed é: it made a second lead.
    site.engine.upsert_leads([("jos\u00e9@acme.com", {"job_title": "CTO"}, None)])
    r = site.filled({**ANSWERS, "email": "JOSE\u0301@acme.com"})
    assert r.status_code == 200, r.text
    with site.engine.db.read() as conn:
        emails = [e for (e,) in conn.exec_driver_sql("SELECT email FROM leads").all()]
    assert emails == ["jos\u00e9@acme.com"]
    lead = site.lead("jose\u0301@acme.com")
    assert lead["attributes"]["job_title"] == "CTO" and lead["stage"] == "mql"
