"""Hostile input to the web app: whatever a browser (or a script pretending to be one)
sends, the answer is a page that says what was wrong (a 4xx), never a 500, and nothing
is stored from a refused post.

A body that is not a form this app sends (a file part, too many fields, a field over
1 MB, a broken multipart body), text that is not Unicode (a lone surrogate: a multipart
part may name its own charset, and Python's `unicode_escape` turns `\\ud800` into one),
a NUL in a filter, digits that are not ASCII (`²` passes str.isdigit but not int()).
And requests made stale: the queue's refresh after its session ended.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from leadgate.api import create_app
from leadgate.sales import sales_of
from leadgate.users import Users
from multipart_body import multipart

from .conftest import PW, Team, field, sign_in


@pytest.fixture
def client(team: Team) -> Iterator[TestClient]:
    with TestClient(create_app(engine=team.engine), raise_server_exceptions=False) as c:
        yield c


def is_page(r: object, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]
    assert "default-src 'self'" in r.headers["content-security-policy"]  # type: ignore[attr-defined]
    assert "Traceback" not in r.text  # type: ignore[attr-defined]


def test_a_sign_in_token_that_is_not_ascii_is_a_403_page(client: TestClient) -> None:
    client.get("/login")  # the token's cookie
    r = client.post("/login", data={"name": "anna", "password": PW, "token": "é"})
    is_page(r, 403)
    assert "expired" in r.text


def test_a_body_that_is_not_a_form_of_this_app_is_a_400_page(
    client: TestClient, team: Team
) -> None:
    login = field(client.get("/login").text, "token")
    with_file = {"name": "anna", "password": PW, "token": login}
    r = client.post("/login", data=with_file, files={"f": ("a.txt", b"x")})
    is_page(r, 400)
    assert client.cookies.get("lg_session") is None
    sign_in(client, "anna")
    csrf = field(client.get("/app/model").text, "csrf")
    note = f"/app/leads/{team.mql_id}/notes"
    r = client.post(note, data={"csrf": csrf, "text": "hi"}, files={"f": ("a.txt", b"x")})
    is_page(r, 400)
    assert "files" in r.text
    r = client.post(note, data={"csrf": csrf, **{f"x{i}": "1" for i in range(600)}})
    is_page(r, 400)
    r = client.post(note, data={"csrf": csrf, "text": "x" * 1_100_000})
    is_page(r, 400)
    r = client.post(
        note,
        content=b"--XyZ\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
    )
    assert r.status_code in (400, 403) and "Traceback" not in r.text
    r = client.post(note, content=b"csrf=x", headers={"content-type": "multipart/form-data"})
    is_page(r, 400)
    assert all(e["type"] != "note" for e in team.engine.show("mia@acme.example")["recent_events"])


def test_a_playbook_over_the_form_limit_is_a_page_not_a_500(client: TestClient) -> None:
    sign_in(client, "olga")
    csrf = field(client.get("/app/playbook").text, "csrf")
    r = client.post(
        "/app/playbook", data={"csrf": csrf, "action": "check", "yaml": "#" * 1_100_000}
    )
    assert r.status_code in (400, 413), r.status_code
    is_page(r, r.status_code)


@pytest.mark.parametrize(
    ("path", "fields", "who"),
    [
        ("/app/leads/{id}/notes", {"text": b"hi \\ud800"}, "anna"),
        (
            "/app/leads/{id}/move",
            {"action": b"disqualify", "reason": b"spam", "detail": b"\\udc80"},
            "anna",
        ),
        ("/app/admin/users", {"name": b"zed\\ud800", "role": b"sales"}, "root"),
        (
            "/app/admin/users",
            {"name": b"zed", "role": b"sales", "password": b"\\ud800" * 20},
            "root",
        ),
        ("/app/admin/reps", {"name": b"r\\ud800", "role": b"bdr"}, "root"),
        ("/app/admin/keys", {"name": b"k\\ud800", "role": b"admin"}, "root"),
        ("/app/admin/reps/anna", {"timezone": b"\\ud800"}, "root"),
        ("/app/playbook", {"yaml": b"name: x\\ud800\n", "action": b"check"}, "root"),
        ("/app/leads/{id}/notes", {"te\\ud800xt": b"hi"}, "anna"),
    ],
)
def test_text_that_is_not_unicode_is_a_400_page_naming_the_field(
    client: TestClient, team: Team, path: str, fields: dict[str, bytes], who: str
) -> None:
    sign_in(client, who)
    csrf = field(client.get("/app/model").text, "csrf")
    url = path.replace("{id}", str(team.mql_id))
    r = client.post(url, **multipart({"csrf": csrf.encode(), **fields}, "unicode_escape"))
    is_page(r, 400)
    assert "not valid Unicode" in r.text
    lead = team.engine.show("mia@acme.example")
    assert lead["stage"] == "mql"
    assert all(e["type"] != "note" for e in lead["recent_events"])
    assert [u.name for u in Users(team.engine.db).list_users()] == ["anna", "olga", "root", "sam"]


def test_a_csrf_token_or_password_that_is_not_unicode_is_a_400_page(
    client: TestClient, team: Team
) -> None:
    sign_in(client, "anna")
    csrf = field(client.get("/app/model").text, "csrf")
    note = f"/app/leads/{team.mql_id}/notes"
    r = client.post(
        note, **multipart({"csrf": csrf.encode() + b"\\ud800", "text": b"hi"}, "unicode_escape")
    )
    is_page(r, 400)
    client.cookies.clear()
    login = field(client.get("/login").text, "token")
    fields = {"token": login.encode(), "name": b"anna", "password": b"\\ud800"}
    r = client.post("/login", **multipart(fields, "unicode_escape"))
    is_page(r, 400)


@pytest.mark.parametrize(
    "url",
    [
        "/app/leads?limit=%C2%B2",
        "/app/leads?limit=" + "9" * 5000,
        "/app/leads.csv?limit=%C2%B2",
        "/app/playbook?diff=%C2%B2",
        "/app/playbook?diff=" + "9" * 5000,
        "/app/playbook?activated=%C2%B2&rescored=1",
        "/app/playbook?activated=1&rescored=" + "9" * 5000,
    ],
)
def test_whole_numbers_in_the_address_take_ascii_digits_only(client: TestClient, url: str) -> None:
    sign_in(client, "root")
    r = client.get(url)
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
    assert "Something went wrong" not in r.text


@pytest.mark.parametrize("path", ["/app/admin/reps", "/app/admin/reps/anna"])
def test_a_capacity_in_other_digits_is_a_422_naming_it(
    client: TestClient, team: Team, path: str
) -> None:
    sign_in(client, "root")
    csrf = field(client.get("/app/admin").text, "csrf")
    for cap in ("²", "1²"):
        r = client.post(path, data={"csrf": csrf, "name": "zed", "role": "bdr", "capacity": cap})
        is_page(r, 422)
        assert "capacity" in r.text
    assert "zed" not in [x["name"] for x in sales_of(team.engine).reps()]


@pytest.mark.parametrize("param", ["q", "owner", "source", "stage", "grade", "after"])
def test_a_nul_in_a_filter_is_a_400_page_naming_it(client: TestClient, param: str) -> None:
    # PostgreSQL holds no NUL in text (a 500 there), and SQLite's full-text search stops
    # at it ("unterminated string", a 500 on both).
    sign_in(client, "anna")
    for url in (f"/app/leads?{param}=a%00b", f"/app/leads.csv?{param}=a%00b"):
        r = client.get(url)
        is_page(r, 400)
        assert param in r.text


def test_a_nul_in_the_queues_rep_is_a_400_page(client: TestClient) -> None:
    sign_in(client, "root")
    for url in ("/app/queue?rep=a%00", "/app/queue/rows?rep=a%00"):
        is_page(client.get(url), 400)


@pytest.mark.parametrize(
    ("path", "data", "who"),
    [
        ("/app/leads/{id}/notes", {"text": "a\x00b"}, "anna"),
        (
            "/app/leads/{id}/move",
            {"action": "disqualify", "reason": "spam", "detail": "a\x00b"},
            "anna",
        ),
        ("/app/admin/users", {"name": "zed", "role": "sales", "rep": "a\x00"}, "root"),
        ("/app/admin/keys", {"name": "k\x00", "role": "admin"}, "root"),
        ("/app/admin/reps", {"name": "neo", "role": "bdr", "team": "t\x00"}, "root"),
        ("/app/admin/webhooks/retry", {"delivery": "a\x00"}, "root"),
    ],
)
def test_a_nul_in_a_posted_text_is_a_400_page_naming_it(
    client: TestClient, team: Team, path: str, data: dict[str, str], who: str
) -> None:
    # As the API: no store can hold it (PostgreSQL refused it with a 500).
    sign_in(client, who)
    csrf = field(client.get("/app/model").text, "csrf")
    r = client.post(path.replace("{id}", str(team.mql_id)), data={"csrf": csrf, **data})
    is_page(r, 400)
    assert f"{next(k for k, v in data.items() if chr(0) in v)}: contains a NUL" in r.text
    lead = team.engine.show("mia@acme.example")
    assert lead["stage"] == "mql"
    assert all(e["type"] != "note" for e in lead["recent_events"])
    assert "neo" not in [x["name"] for x in sales_of(team.engine).reps()]


def test_a_long_next_address_signs_in_to_the_app(client: TestClient) -> None:
    # /login?next=... over 2,000 characters: the page carried it and sign-in was refused
    # with a 400 page ("next: longer than 2000 characters"), however right the password.
    long = "/app/leads?q=" + "x" * 2100
    page = client.get("/login", params={"next": long})
    r = client.post(
        "/login",
        data={"name": "anna", "password": PW, "token": field(page.text, "token"), "next": long},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/app"


def test_the_queues_refresh_after_the_session_ended_sends_the_window_to_sign_in(
    client: TestClient, team: Team
) -> None:
    # htmx follows a redirect inside its request: the 303 to /login made it swap the
    # sign-in page into the queue's table, and signing in there led to the bare rows.
    sign_in(client, "anna")
    Users(team.engine.db).end_all_sessions(Users(team.engine.db).get("anna").id)
    htmx = {"HX-Request": "true", "HX-Current-URL": "http://testserver/app/queue?rep=anna"}
    r = client.get("/app/queue/rows?rep=anna", headers=htmx, follow_redirects=False)
    assert r.status_code == 401 and "<form" not in r.text
    assert r.headers["hx-redirect"] == "/login?next=%2Fapp%2Fqueue%3Frep%3Danna"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    htmx["HX-Current-URL"] = "https://evil.example/"  # only ever a page of the app
    r = client.get("/app/queue/rows", headers=htmx, follow_redirects=False)
    assert r.headers["hx-redirect"] == "/login?next=%2Fapp"
    # Without htmx, as before: the redirect.
    r = client.get("/app/queue/rows", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
