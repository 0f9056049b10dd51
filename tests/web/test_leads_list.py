"""The Leads page over HTTP: search, filters, segments, seek pagination and the CSV export.

Everything here works without JavaScript: a GET form and links (the browser test in
test_browser.py only adds that the page renders and is scanned)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from html import unescape

import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.web import leads_list

from .conftest import Team, sign_in


@pytest.fixture
def client(team: Team) -> Iterator[TestClient]:
    team.engine.upsert_leads(
        [
            (
                "ceo@bigco.example",
                {"first_name": "Grace", "last_name": "Hopper", "company": "BigCo",
                 "company_size": 5000, "source": "Events", "predicted": 0.8},
                None,
            ),
            (
                "dev@smallco.example",
                {"first_name": "Alan", "last_name": "Turing", "company": "SmallCo",
                 "company_size": 12, "source": " web ", "predicted": 0.1},
                None,
            ),
            ("=cmd@evil.example", {"company": "=HYPERLINK(1)"}, None),
        ]
    )  # fmt: skip
    with TestClient(create_app(engine=team.engine), raise_server_exceptions=False) as c:
        sign_in(c, "olga")
        yield c


def emails(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'<a href="/app/leads/\d+">([^<]+)</a>', html)]


def test_search_finds_by_email_name_and_company_in_any_case(client: TestClient) -> None:
    assert emails(client.get("/app/leads?q=BIGCO.example").text) == ["ceo@bigco.example"]
    assert emails(client.get("/app/leads?q=hopper").text) == ["ceo@bigco.example"]
    assert emails(client.get("/app/leads?q=smallco").text) == ["dev@smallco.example"]
    # Every word must be found somewhere: a first name and a company.
    assert emails(client.get("/app/leads?q=alan+smallco").text) == ["dev@smallco.example"]
    assert emails(client.get("/app/leads?q=alan+bigco").text) == []
    # LIKE's wildcards are text here.
    assert emails(client.get("/app/leads?q=%25").text) == []
    assert emails(client.get("/app/leads?q=_").text) == []


def test_filters_combine(client: TestClient, team: Team) -> None:
    everyone = emails(client.get("/app/leads?limit=200").text)
    assert len(everyone) == 5
    assert emails(client.get("/app/leads?owner=anna").text) == ["mia@acme.example"]
    assert emails(client.get("/app/leads?stage=MQL").text) == ["mia@acme.example"]
    assert emails(client.get("/app/leads?source=WEB").text) == ["dev@smallco.example"]
    assert emails(client.get("/app/leads?predicted=high").text) == ["ceo@bigco.example"]
    assert emails(client.get("/app/leads?predicted=low").text) == ["dev@smallco.example"]
    assert len(emails(client.get("/app/leads?predicted=none").text)) == 3
    assert emails(client.get("/app/leads?min_predicted=0.05&sort=predicted").text) == [
        "ceo@bigco.example",
        "dev@smallco.example",
    ]
    grade = team.engine.show("ceo@bigco.example")["fit_grade"]
    assert "ceo@bigco.example" in emails(client.get(f"/app/leads?grade={grade}").text)
    assert emails(client.get("/app/leads?q=bigco&stage=mql").text) == []
    for bad in ("stage=bogus", "grade=Z9", "predicted=hot", "min_predicted=x", "sort=name"):
        page = client.get(f"/app/leads?{bad}")
        assert page.status_code == 400, bad
        assert bad.split("=")[0] in page.text


def test_a_segment_of_the_playbook_filters_the_list(client: TestClient) -> None:
    page = client.get("/app/leads")
    # The playbook's segments are offered in the form.
    assert '<option value="enterprise">enterprise</option>' in page.text
    page = client.get("/app/leads?segment=enterprise")
    assert emails(page.text) == ["ceo@bigco.example"]
    assert '<option value="enterprise" selected>' in page.text
    page = client.get("/app/leads?segment=nope")
    assert page.status_code == 400 and "no segment" in page.text and "enterprise" in page.text


def test_next_page_links_walk_the_whole_list_once_in_order(client: TestClient, team: Team) -> None:
    team.engine.upsert_leads(
        [(f"p{i:03d}@pages.example", {"company_size": i % 7, "source": "web"}, None)
         for i in range(130)]
    )  # fmt: skip
    for sort in ("priority", "score", "recent", "email", "predicted"):
        whole = emails(client.get(f"/app/leads?sort={sort}&limit=1000").text)
        assert len(whole) == 135
        seen: list[str] = []
        url: str | None = f"/app/leads?sort={sort}"
        pages = 0
        while url:
            html = client.get(url).text
            got = emails(html)
            assert len(got) <= 50
            seen += got
            pages += 1
            m = re.search(r'<a href="(/app/leads\?[^"]+)" rel="next">', html)
            url = unescape(m.group(1)) if m else None
            if url:
                assert "after=" in url  # and the filters stay (priority is the default)
                assert sort == "priority" or f"sort={sort}" in url
        assert seen == whole and pages == 3, sort
    assert client.get("/app/leads?after=garbage").status_code == 400


def test_the_csv_export_streams_the_whole_filtered_list(
    client: TestClient, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    team.engine.upsert_leads(
        [(f"p{i:03d}@pages.example", {"source": "web"}, None) for i in range(30)]
    )
    monkeypatch.setattr(leads_list, "EXPORT_PAGE", 7)  # several pages, one response
    r = client.get("/app/leads.csv?source=web&sort=email")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["email"] for x in rows] == sorted(
        ["dev@smallco.example", *(f"p{i:03d}@pages.example" for i in range(30))]
    )
    assert rows[0]["company"] == "SmallCo" and rows[0]["source"] == " web "
    everything = list(csv.DictReader(io.StringIO(client.get("/app/leads.csv?limit=50").text)))
    assert len(everything) == 35  # the export is the list, not its first page
    evil = next(x for x in everything if "cmd@evil" in x["email"])
    assert evil["email"] == "'=cmd@evil.example" and evil["company"] == "'=HYPERLINK(1)"
    seg = list(csv.DictReader(io.StringIO(client.get("/app/leads.csv?segment=enterprise").text)))
    assert [x["email"] for x in seg] == ["ceo@bigco.example"] and seg[0]["predicted"] == "0.8"
    assert client.get("/app/leads.csv?segment=nope").status_code == 400


def test_the_form_works_without_javascript(client: TestClient) -> None:
    html = client.get("/app/leads").text
    form = re.search(r'<form method="get" action="/app/leads"[^>]*>(.*?)</form>', html, re.S)
    assert form is not None
    for name in ("q", "segment", "stage", "owner", "grade", "source", "predicted", "sort"):
        assert f'name="{name}"' in form.group(1), name
    assert "<script" not in form.group(1)
