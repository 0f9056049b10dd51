"""The web app's working pages over HTTP (no browser): the funnel's reports and charts,
the queue's predicted column, notes, mail and the opportunity on a lead, changing reps
in Admin, and What if's changed leads. Each data-changing form is also tried without
its CSRF token and by a role it is not for.

The same flows in a real browser are in test_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.sales import sales_of
from leadgate.store.repository import Repository

from .conftest import XSS, Team, field, sign_in

BANT = ("budget", "authority", "need", "timeline")


@pytest.fixture
def client(team: Team) -> Iterator[TestClient]:
    with TestClient(create_app(engine=team.engine), raise_server_exceptions=False) as c:
        yield c


def csrf_of(client: TestClient, url: str) -> str:
    return field(client.get(url).text, "csrf")


def to_sql(team: Team) -> None:
    """mia: MQL → SAL (anna), BANT all met, → SQL (handed to eve)."""
    e = team.engine
    e.set_stage("mia@acme.example", "sal", None, "user:anna")
    s = sales_of(e)
    s.qualify(team.mql_id, dict.fromkeys(BANT, "met"), {}, "user:anna")
    s.promote_sql("mia@acme.example", "user:anna")
    assert e.show("mia@acme.example")["stage"] == "sql"


def refused_without_token(client: TestClient, url: str, data: dict[str, Any]) -> None:
    """A POST without the token, with a wrong one, and from another origin: 403."""
    good = csrf_of(client, "/app/queue")
    wrong = ("y" if good[0] == "x" else "x") + good[1:]  # one character off, never equal
    for sent in (data, {**data, "csrf": wrong}):
        assert client.post(url, data=sent, follow_redirects=False).status_code == 403, url
    r = client.post(url, data={**data, "csrf": good}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403, url


# -- funnel ----------------------------------------------------------------------------


def test_funnel_shows_velocity_sources_and_months_from_the_reports(
    client: TestClient, team: Team
) -> None:
    from leadgate.analytics.service import report

    team.engine.upsert_leads([("ads@x.example", {"source": "Paid Ads"}, None)])
    team.engine.clock.advance(3 * 86400)  # type: ignore[attr-defined]
    team.engine.set_stage("mia@acme.example", "sal", None, "user:anna")
    sign_in(client, "olga")
    page = client.get("/app/funnel")
    assert page.status_code == 200
    html = page.text
    # Velocity: the report's hours, shown as days.
    vel = {r["stage"]: r for r in report(team.engine, "velocity").records()}
    mql_days = round(vel["mql"]["median_hours"] / 24, 2)
    assert mql_days == 3.0
    row = re.search(
        r'<th scope="row">MQL</th><td class="num">([\d.]+)</td>', html.split('id="velocity-h"')[1]
    )
    assert row is not None and float(row[1]) == mql_days
    # By source: every source of the report with its numbers.
    for rec in report(team.engine, "sources").records():
        assert f'<th scope="row">{rec["source"]}</th><td class="num">{rec["leads"]}</td>' in html
    assert "paid ads" in html
    # By month: the cohorts.
    for rec in report(team.engine, "cohorts").records():
        assert f'<th scope="row">{rec["cohort"]}</th><td class="num">{rec["leads"]}</td>' in html
    # Five charts, each an SVG labelled as a picture of the table beside it; no inline
    # style or script (the CSP allows none).
    assert html.count("<svg") == 5 and html.count('role="img"') == 5
    assert html.count("<caption>") >= 5
    assert "style=" not in html and "<script>" not in html
    assert 'scope="col"' in html and 'scope="row"' in html


def test_a_source_named_like_a_script_is_text_in_chart_and_table(
    client: TestClient, team: Team
) -> None:
    team.engine.upsert_leads([("s@x.example", {"source": XSS}, None)])
    sign_in(client, "olga")
    html = client.get("/app/funnel").text
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_sales_cannot_open_the_funnel(client: TestClient) -> None:
    sign_in(client, "anna")
    r = client.get("/app/funnel")
    assert r.status_code == 403 and "Not allowed" in r.text


# -- queue -----------------------------------------------------------------------------


def test_queue_predicted_is_a_dash_without_a_model_and_the_stored_value_with_one(
    client: TestClient, team: Team
) -> None:
    from leadgate.predictive.card import ModelCard
    from leadgate.predictive.store_models import mark_scored, save_model

    from .test_pages import StubModel

    team.engine.upsert_leads([("mia@acme.example", {"predicted": 0.4213}, None)])
    sign_in(client, "anna")
    rows = client.get("/app/queue/rows").text
    assert '<td class="num">—</td>' in rows and "42%" not in rows
    assert "no model has scored the leads yet" in client.get("/app/queue").text
    card = ModelCard(kind="logistic", target="converted", positive_label="yes", rows=10)
    model_id, _ = save_model(team.engine.db, StubModel(card), team.engine.clock())
    # Trained but not yet scored: still a dash (the stored number is not its own).
    assert "42%" not in client.get("/app/queue/rows").text
    mark_scored(team.engine.db, model_id, team.engine.clock())
    rows = client.get("/app/queue/rows").text
    assert '<td class="num">42%</td>' in rows
    assert 'hx-trigger="every 10s"' in rows  # the rows refresh themselves


# -- lead: notes and mail --------------------------------------------------------------


def test_a_note_is_kept_with_its_author_and_shown_on_the_timeline(
    client: TestClient, team: Team
) -> None:
    sign_in(client, "anna")
    url = f"/app/leads/{team.mql_id}"
    csrf = csrf_of(client, url)
    r = client.post(url + "/notes", data={"csrf": csrf, "text": "   "})
    assert r.status_code == 422 and "note: is empty" in r.text
    team.engine.clock.advance(60)  # type: ignore[attr-defined]
    r = client.post(
        url + "/notes", data={"csrf": csrf, "text": f"Called {XSS}"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith(url)
    page = client.get(url).text
    timeline = page.split('id="timeline-h"')[1]
    first = re.search(r"<li class=\"(\w+)\">(.*?)</li>", timeline, re.S)
    assert first is not None and first[1] == "note"  # newest first
    assert "user:anna" in first[2] and "Called &lt;script&gt;alert(1)" in first[2]
    assert XSS not in page
    # Listed once (with its text), not again as a bare event.
    assert '<span class="what">note</span>' in timeline
    assert len(re.findall(r'<li class="event">.*?<span class="what">note</span>', timeline)) == 0


def test_notes_need_the_token_and_a_role_that_works_leads(client: TestClient, team: Team) -> None:
    url = f"/app/leads/{team.mql_id}/notes"
    sign_in(client, "anna")
    refused_without_token(client, url, {"text": "x"})
    client.cookies.clear()
    sign_in(client, "olga")
    page = client.get(f"/app/leads/{team.mql_id}").text
    assert "Add note" not in page
    r = client.post(url, data={"csrf": field(page, "csrf"), "text": "x"})
    assert r.status_code == 403
    from leadgate.sales.activity import activity

    assert activity(team.engine, team.mql_id)["notes"] == []
    client.cookies.clear()
    sign_in(client, "anna")
    r = client.post(
        "/app/leads/999999/notes", data={"csrf": csrf_of(client, "/app/queue"), "text": "x"}
    )
    assert r.status_code == 404


def test_nurture_mail_is_on_the_timeline(client: TestClient, team: Team) -> None:
    db = team.engine.db
    now = team.engine.clock()
    with db.write() as conn:
        Repository(db, conn).execute(
            "INSERT INTO sales_mail_outbox (id, lead_id, enrolment_id, seq, track, step, "
            "to_addr, subject, body, status, attempts, next_attempt_at, created_at, sent_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                "m-1",
                team.mql_id,
                1,
                1,
                "welcome",
                1,
                "mia@acme.example",
                "Your <b>guide</b>",
                "hi",
                "sent",
                1,
                now,
                now,
                now + 5,
            ],
        )
    sign_in(client, "anna")
    page = client.get(f"/app/leads/{team.mql_id}").text
    item = re.search(r'<li class="mail">(.*?)</li>', page, re.S)
    assert item is not None
    assert "mail sent" in item[1] and "Your &lt;b&gt;guide&lt;/b&gt;" in item[1]
    assert "nurture track welcome, step 1" in item[1]


def test_the_predicted_factors_are_on_the_lead_page(client: TestClient, team: Team) -> None:
    def fake(repo: Any, out: dict[str, Any]) -> None:
        out["predicted"] = 0.37
        out["predicted_factors"] = {
            "model_id": "m-1",
            "verdict": "usable",
            "probability": 0.37,
            "baseline": 0.1,
            "unit": "log-odds",
            "up": [{"feature": "company_size", "value": 500, "effect": 0.812}],
            "down": [{"feature": XSS, "value": None, "effect": -0.2}],
        }

    team.engine.show_extras.append(fake)
    sign_in(client, "anna")
    page = client.get(f"/app/leads/{team.mql_id}").text
    assert "Predicted conversion: 37%" in page
    assert '<th scope="row">company_size</th><td>500</td><td class="num">+0.812</td>' in page
    assert "&lt;script&gt;" in page and XSS not in page


# -- lead: moves and the opportunity ---------------------------------------------------


def test_moves_name_the_cli_stage_and_only_legal_ones_are_offered(
    client: TestClient, team: Team
) -> None:
    sign_in(client, "anna")
    page = client.get(f"/app/leads/{team.mql_id}").text
    assert "Accept → SAL (<code>sal</code>)" in page
    assert "Hand off" not in page and "opportunity" not in page.split("<main")[1].lower()
    to_sql(team)
    page = client.get(f"/app/leads/{team.mql_id}").text
    assert "Accept as opportunity" in page and 'name="close_date"' in page
    assert ">Accept</button>" not in page and ">Hand off</button>" not in page


def test_an_sql_becomes_an_sqo_with_its_opportunity(client: TestClient, team: Team) -> None:
    to_sql(team)
    sign_in(client, "anna")
    url = f"/app/leads/{team.mql_id}"
    csrf = csrf_of(client, url)
    good = {"csrf": csrf, "amount": "12000", "currency": "eur", "close_date": "2026-07-01"}
    r = client.post(url + "/opportunity", data={**good, "amount": "lots"})
    assert r.status_code == 422 and "amount" in r.text and 'value="lots"' in r.text
    r = client.post(url + "/opportunity", data={**good, "close_date": "2026-01-01"})
    assert r.status_code == 422 and "in the past" in r.text
    assert team.engine.show("mia@acme.example")["stage"] == "sql"
    r = client.post(url + "/opportunity", data=good, follow_redirects=False)
    assert r.status_code == 303
    lead = team.engine.show("mia@acme.example")
    assert lead["stage"] == "sqo" and lead["history"][-1]["actor"] == "user:anna"
    o = lead["opportunity"]
    assert (o["amount"], o["currency"], o["expected_close"]) == (12000.0, "EUR", "2026-07-01")
    page = client.get(url).text
    assert "12,000.00 EUR, closing 2026-07-01" in page and "Accept as opportunity" not in page
    # Again, on the SQO: refused, nothing changes.
    r = client.post(url + "/opportunity", data={**good, "amount": "1"})
    assert r.status_code == 409
    assert team.engine.show("mia@acme.example")["opportunity"]["amount"] == 12000.0


def test_the_opportunity_form_needs_the_token_and_the_role(client: TestClient, team: Team) -> None:
    to_sql(team)
    url = f"/app/leads/{team.mql_id}/opportunity"
    data = {"amount": "5", "currency": "EUR", "close_date": "2026-07-01"}
    sign_in(client, "anna")
    refused_without_token(client, url, data)
    client.cookies.clear()
    sign_in(client, "olga")
    r = client.post(url, data={**data, "csrf": csrf_of(client, "/app/queue")})
    assert r.status_code == 403 and team.engine.show("mia@acme.example")["stage"] == "sql"


# -- admin: reps ------------------------------------------------------------------------


def test_admin_changes_a_reps_hours_capacity_and_away(client: TestClient, team: Team) -> None:
    sales = sales_of(team.engine)
    sign_in(client, "root")
    page = client.get("/app/admin").text
    assert 'action="/app/admin/reps/anna"' in page and "Change anna" in page
    csrf = field(page, "csrf")
    url = "/app/admin/reps/anna"
    data = {"csrf": csrf, "timezone": "Europe/Rome", "hours": "08:00-16:00", "days": "mon-fri"}
    r = client.post(url, data={**data, "hours": "8-4"})
    assert r.status_code == 422 and "hours" in r.text
    r = client.post(url, data={**data, "timezone": "Mars/Olympus"})
    assert r.status_code == 422
    r = client.post(url, data={**data, "capacity": "0"})
    assert r.status_code == 422 and "capacity" in r.text
    assert sales.rep("anna")["hours"] == "00:00-24:00"  # nothing changed by the refusals
    r = client.post(url, data={**data, "capacity": "12"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/app/admin?saved=anna#reps-h"
    r = client.get(r.headers["location"])
    assert "Rep anna saved: Europe/Rome, 08:00-16:00 mon-fri, capacity 12; not away." in r.text
    rep = sales.rep("anna")
    assert (rep["timezone"], rep["hours"], rep["days"], rep["capacity"]) == (
        "Europe/Rome",
        "08:00-16:00",
        "mon-fri",
        12,
    )
    r = client.post(url, data={**data, "capacity": ""})
    assert sales.rep("anna")["capacity"] is None  # blank: no limit

    r = client.post(url + "/away", data={"csrf": csrf})
    assert r.status_code == 422 and "until" in r.text
    r = client.post(url + "/away", data={"csrf": csrf, "until": "2026-06-10"})
    assert r.status_code == 200 and "; away until 2026-06-09T22:00:00Z." in r.text
    assert sales.rep("anna")["away"] is True
    assert "anna is back" in r.text
    r = client.post(url + "/away", data={"csrf": csrf, "back": "1"})
    assert r.status_code == 200 and sales.rep("anna")["away"] is False
    assert client.post("/app/admin/reps/nobody", data=data).status_code == 404
    assert client.post("/app/admin/reps/nobody/away", data={**data, "back": "1"}).status_code == 404


def test_rep_changes_need_the_token_and_an_admin(client: TestClient, team: Team) -> None:
    data = {"timezone": "UTC", "capacity": "1", "back": "1"}
    sign_in(client, "root")
    for url in ("/app/admin/reps/anna", "/app/admin/reps/anna/away"):
        refused_without_token(client, url, data)
    client.cookies.clear()
    for name in ("anna", "olga"):
        sign_in(client, name)
        csrf = csrf_of(client, "/app/queue")
        for url in ("/app/admin/reps/anna", "/app/admin/reps/anna/away"):
            r = client.post(url, data={**data, "csrf": csrf})
            assert r.status_code == 403 and "Not allowed" in r.text, (name, url)
        client.cookies.clear()
    assert sales_of(team.engine).rep("anna")["capacity"] is None


# -- playbook: What if -----------------------------------------------------------------


def test_what_if_lists_the_leads_that_change_and_activate_counts_them(
    client: TestClient, team: Team
) -> None:
    from leadgate.analytics.service import active_text

    sign_in(client, "olga")
    page = client.get("/app/playbook").text
    assert 'id="whatif-progress"' in page and "hidden" in page.split('id="whatif-progress"')[1][:80]
    csrf = field(page, "csrf")
    text = active_text(team.engine)
    # No hand-raisers and an MQL bar nobody reaches: mia would never have become an MQL.
    import yaml

    doc = yaml.safe_load(text)
    doc["stages"]["mql"]["hand_raisers"] = []
    doc["stages"]["mql"]["when"] = {"all": [{"score": "fit", "op": "gte", "value": 10_000}]}
    harsh = yaml.safe_dump(doc, sort_keys=False)
    team.engine.clock.advance(60)  # type: ignore[attr-defined]
    r = client.post("/app/playbook", data={"csrf": csrf, "action": "activate", "yaml": harsh})
    assert r.status_code == 200, r.text[:2000]
    table = r.text.split('id="changed-h"')[1]
    assert f'href="/app/leads/{team.mql_id}">mia@acme.example</a>' in table
    assert "<td>lost</td>" in table
    assert "1 lead(s) change stage (0 become MQLs, 1 no longer do)" in r.text


def test_a_confirmation_made_stale_by_another_activation_asks_again(
    client: TestClient, team: Team
) -> None:
    # olga's confirmation counted the changes against version 1; root activates version 2
    # meanwhile. Her "Yes, activate" used to replace root's version unseen; now she is
    # asked again, against version 2, and told why.
    from leadgate.analytics.service import active_text

    sign_in(client, "olga")
    csrf = csrf_of(client, "/app/playbook")
    text = active_text(team.engine)
    mine = text.replace("name: ", "name: olgas-", 1)
    team.engine.clock.advance(60)  # type: ignore[attr-defined]
    r = client.post("/app/playbook", data={"csrf": csrf, "action": "activate", "yaml": mine})
    confirm = r.text.split('class="confirm"')[1]
    assert field(confirm, "base") == "1"
    team.engine.activate_playbook(text.replace("name: ", "name: roots-", 1), "cli", "user:root")
    sent = {"csrf": csrf, "action": "activate", "confirm": "1", "base": "1", "yaml": mine}
    r = client.post("/app/playbook", data=sent, follow_redirects=False)
    assert r.status_code == 200 and "Version 2 was activated meanwhile by user:root" in r.text
    assert team.engine.processor().playbook.name.startswith("roots-")
    assert field(r.text.split('class="confirm"')[1], "base") == "2"
    r = client.post("/app/playbook", data={**sent, "base": "2"}, follow_redirects=False)
    assert r.status_code == 303 and "activated=3" in r.headers["location"]
    assert team.engine.processor().playbook.name.startswith("olgas-")


def test_what_if_shows_a_failed_verification_as_a_problem(
    client: TestClient, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What if on the verified set-based backtest (the service's `exact=False`): a
    disagreement with the exact replay is an error on the page, never a result."""
    from leadgate.analytics import service, setbased
    from leadgate.analytics.service import active_text

    real_backtest = service.backtest
    monkeypatch.setattr(
        service, "backtest", lambda *a, **k: real_backtest(*a, **{**k, "exact": False})
    )

    sign_in(client, "olga")
    csrf = field(client.get("/app/playbook").text, "csrf")
    text = active_text(team.engine).replace("name: ", "name: web-", 1)
    team.engine.clock.advance(60)  # type: ignore[attr-defined]
    r = client.post("/app/playbook", data={"csrf": csrf, "action": "whatif", "yaml": text})
    assert r.status_code == 200 and "MQLs per month" in r.text
    real = setbased.walk
    monkeypatch.setattr(setbased, "walk", lambda *a: [t + 1 for t in real(*a)])
    r = client.post("/app/playbook", data={"csrf": csrf, "action": "whatif", "yaml": text})
    assert r.status_code == 500 and "verification failed" in r.text
    assert "MQLs per month" not in r.text


def test_the_funnel_keeps_its_reports_a_minute_and_says_so(client: TestClient, team: Team) -> None:
    sign_in(client, "olga")
    assert "late-source" not in client.get("/app/funnel").text
    team.engine.upsert_leads([("late@x.example", {"source": "late-source"}, None)])
    html = client.get("/app/funnel").text
    assert "late-source" not in html and "computed again after 60 seconds" in html
    # Stage counts are live all the same.
    assert f"{team.engine.funnel()['total_leads']} leads in the store" in html
    team.engine.clock.advance(61)  # type: ignore[attr-defined]
    assert '<th scope="row">late-source</th>' in client.get("/app/funnel").text
