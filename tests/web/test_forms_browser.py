"""Forms in a real browser: a page on one loopback port embeds the snippet of a form
served by `leadgate serve` on another (Debian's Chromium, see tests/web/browser.py).

The visitor (with the tracker's `lg_vid` cookie) fills a three-step form whose second
step depends on the first answer and sends it: the lead is there with its consent, its
qualification answers and the MQL stage (the form is a hand-raiser). A bot that fills
the honeypot is refused, and a page on an origin the form does not allow gets nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadgate.engine.engine import Engine
from leadgate.keys import create_key
from leadgate.playbook.loader import bundled_playbook
from leadgate.store.database import Database
from leadgate.store.repository import Repository

from .browser import Server, browser_session, free_port, require_browser

pytestmark = pytest.mark.slow
FORMS = (Path(__file__).resolve().parents[1] / "forms" / "forms.yaml").read_text()


class Page:
    """A plain website on 127.0.0.1 (another origin than leadgate) embedding the snippet."""

    def __init__(self, port: int, snippet: str):
        html = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Acme</title>"
            "</head><body><h1>Acme</h1><div id='lead-form'></div>"
            f"<script src='{snippet}' data-target='#lead-form' defer></script></body></html>"
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args: Any) -> None:
                pass

        self.base = f"http://127.0.0.1:{port}"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class World:
    def __init__(self, server: Server, url: str, key: str, page: Page, foreign: Page):
        self.server = server
        self.url = url
        self.key = key
        self.page = page
        self.foreign = foreign


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_browser()
    page_port, foreign_port = free_port(), free_port()
    url = f"sqlite:///{tmp_path_factory.mktemp('forms') / 'leadgate.db'}"
    db = Database(url)
    db.migrate()
    engine = Engine(db)
    engine.ensure_playbook()
    forms = FORMS.replace("http://127.0.0.1:1", f"http://127.0.0.1:{page_port}").replace(
        "min_fill_seconds: 2", "min_fill_seconds: 1"
    )
    engine.activate_playbook(bundled_playbook()[1] + forms, "forms.yaml")
    key = create_key(db, "admin", "forms-browser")[1]
    db.dispose()
    server = Server(url)
    snippet = f"{server.base}/f/demo.js"
    page, foreign = Page(page_port, snippet), Page(foreign_port, snippet)
    try:
        yield World(server, url, key, page, foreign)
    finally:
        page.stop()
        foreign.stop()
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_session()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    try:
        yield ctx
    finally:
        ctx.close()


def watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def stored(world: World, email: str) -> dict[str, Any]:
    db = Database(world.url)
    try:
        from leadgate.sales import install

        engine = Engine(db)
        install(engine)
        from leadgate.forms.service import install as install_forms

        install_forms(engine)
        lead = engine.show(email)
        with db.read() as conn:
            row = (
                Repository(db, conn)
                .execute(
                    "SELECT properties FROM events WHERE type = 'form_submitted' AND lead_id = ?",
                    [lead["id"]],
                )
                .fetchone()
            )
        lead["form_event"] = json.loads(row[0])
        return lead
    finally:
        db.dispose()


def test_a_visitor_fills_three_steps_on_another_site(context: Any, world: World) -> None:
    context.add_cookies([{"name": "lg_vid", "value": "v-browser-1", "url": world.page.base}])
    page = context.new_page()
    errors = watch(page)
    page.goto(world.page.base + "/?utm_source=newsletter&campaign=spring")
    page.get_by_label("Work email").fill("vera@acme.example")
    page.get_by_label("What do you need?").select_option("routing")
    page.get_by_label("Country").fill("Germany")
    page.get_by_role("button", name="Continue").click()
    # The second step is there because of the first answer (not "just looking").
    page.get_by_label("Budget").select_option("budget approved")
    page.get_by_label("Company size").fill("300")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Phone").fill("030 1234567")
    page.get_by_label("I agree to be contacted about leadgate.").check()
    page.wait_for_timeout(1100)  # a person takes longer than the form's 1 s minimum
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("link", name="Book a time with us now").wait_for()
    assert page.get_by_role("status").inner_text().startswith("Thank you")
    assert not errors, errors

    lead = stored(world, "vera@acme.example")
    assert lead["stage"] == "mql"
    assert lead["attributes"]["country"] == "DE" and lead["attributes"]["phone"] == "+49301234567"
    assert lead["attributes"]["campaign"] == "spring"  # hidden field from the page's URL
    assert [c["text_version"] for c in lead["consents"]] == ["2026-01"]
    crit = {c["key"]: c for c in lead["qualification"]["criteria"]}
    assert crit["budget"]["status"] == "met" and crit["budget"]["note"] == "budget approved"
    event = lead["form_event"]
    assert event["visitor_id"] == "v-browser-1" and event["utm_source"] == "newsletter"


def test_a_bot_filling_the_honeypot_is_refused(context: Any, world: World) -> None:
    page = context.new_page()
    errors = watch(page)
    page.goto(world.page.base)
    page.get_by_label("Work email").fill("bot@acme.example")
    page.get_by_label("What do you need?").select_option("just looking")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("I agree to be contacted about leadgate.").check()
    # What a form-filling robot does: every input, the invisible one too.
    page.locator("input[name=website]").fill("http://cheap.example", force=True)
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Continue").click()
    alert = page.locator(".lg-error-box")
    alert.filter(has_text="robot").wait_for()
    assert all("403" in e for e in errors), errors
    r = httpx.get(
        world.server.base + "/api/v1/forms/rejections",
        headers={"Authorization": f"Bearer {world.key}"},
    )
    assert {(x["form"], x["reason"]) for x in r.json()["rejections"]} >= {("demo", "honeypot")}
    with pytest.raises(Exception, match="no lead"):
        stored(world, "bot@acme.example")


def test_an_origin_not_allowed_gets_no_form(context: Any, world: World) -> None:
    page = context.new_page()
    errors = watch(page)
    page.goto(world.foreign.base)
    page.locator("#lead-form", has_text="not available").wait_for()
    assert page.get_by_label("Work email").count() == 0
    # The browser blocked the answer (no CORS headers for this origin).
    assert any("CORS" in e or "403" in e for e in errors), errors
    r = httpx.get(
        world.server.base + "/api/v1/forms/rejections",
        headers={"Authorization": f"Bearer {world.key}"},
    )
    assert ("demo", "origin") in {(x["form"], x["reason"]) for x in r.json()["rejections"]}


def test_the_hosted_page_is_taken_over_by_the_snippet_under_its_csp(
    context: Any, world: World
) -> None:
    page = context.new_page()
    errors = watch(page)
    resp = page.goto(world.server.base + "/f/demo")
    assert resp is not None and "default-src 'self'" in resp.headers["content-security-policy"]
    # The snippet replaced the server-rendered form: its fields carry the snippet's ids.
    page.locator("#lg-demo-email").wait_for()
    page.get_by_label("Work email").fill("hana@acme.example")
    page.get_by_label("What do you need?").select_option("just looking")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("I agree to be contacted about leadgate.").wait_for()
    assert page.url == world.server.base + "/f/demo"  # no reload between steps
    assert not errors, errors


PER_IP = "      per_ip: {count: 5, minutes: 10}\n"


def activate_forms(world: World, forms: str, per_ip: bool = False) -> None:
    """Activate the bundled playbook with `forms` (as the fixture did), on the server's
    store, while the server runs; without the per-address limit unless `per_ip` (every
    test here submits from 127.0.0.1: the tests after the fifth would be refused)."""
    assert PER_IP in forms
    forms = forms.replace("http://127.0.0.1:1", world.page.base).replace(
        "min_fill_seconds: 2", "min_fill_seconds: 1"
    )
    if not per_ip:
        forms = forms.replace(PER_IP, "")
    db = Database(world.url)
    try:
        Engine(db).activate_playbook(bundled_playbook()[1] + forms, "forms.yaml")
    finally:
        db.dispose()


def test_an_answer_a_playbook_change_made_bad_is_asked_again_on_its_step(
    context: Any, world: World
) -> None:
    # Marketing renames the budget options while the visitor is on the last step: her
    # budget answer is refused there, on a step that does not show it, on every retry.
    # Now the snippet shows the budget step again, and the form goes through.
    page = context.new_page()
    errors = watch(page)
    page.goto(world.page.base)
    page.get_by_label("Work email").fill("ines@acme.example")
    page.get_by_label("What do you need?").select_option("routing")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Budget").select_option("budget approved")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("I agree to be contacted about leadgate.").check()
    renamed = FORMS.replace("[budget approved, no budget yet]", "[approved, no budget yet]")
    activate_forms(world, renamed.replace("{budget approved:", "{approved:"))
    try:
        page.wait_for_timeout(1100)  # the form's minimum fill time
        page.get_by_role("button", name="Continue").click()
        page.locator(".lg-error-box", has_text="not one of the options").wait_for()
        page.get_by_label("Budget").select_option("approved")
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("I agree to be contacted about leadgate.").check()
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("status").wait_for()
        assert page.get_by_role("status").inner_text().startswith("Thank you")
    finally:
        activate_forms(world, FORMS, per_ip=True)
    assert all("422" in e for e in errors), errors
    crit = {c["key"]: c for c in stored(world, "ines@acme.example")["qualification"]["criteria"]}
    assert crit["budget"]["status"] == "met"


def test_a_hidden_value_with_a_nul_from_the_address_is_left_out(context: Any, world: World) -> None:
    # ?campaign=spring%00: the snippet put it in the hidden field, the server refused it
    # on the last step, and the visitor could not change a field she cannot see.
    page = context.new_page()
    errors = watch(page)
    activate_forms(world, FORMS)
    try:
        page.goto(world.page.base + "/?campaign=spring%00")
        page.get_by_label("Work email").fill("olaf@acme.example")
        page.get_by_label("What do you need?").select_option("just looking")
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("I agree to be contacted about leadgate.").check()
        page.wait_for_timeout(1100)  # the form's minimum fill time
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("status").wait_for()
    finally:
        activate_forms(world, FORMS, per_ip=True)
    assert page.get_by_role("status").inner_text().startswith("Thank you")
    assert not errors, errors
    assert "campaign" not in stored(world, "olaf@acme.example")["attributes"]


def test_an_answer_to_a_field_the_form_no_longer_has_is_not_sent_again(
    context: Any, world: World
) -> None:
    page = context.new_page()
    errors = watch(page)
    page.goto(world.page.base)
    page.get_by_label("Work email").fill("jon@acme.example")
    page.get_by_label("What do you need?").select_option("just looking")
    page.get_by_label("Country").fill("Germany")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("I agree to be contacted about leadgate.").check()
    activate_forms(
        world, FORMS.replace("          - {name: country, type: country, attribute: country}\n", "")
    )
    try:
        page.wait_for_timeout(1100)  # the form's minimum fill time
        page.get_by_role("button", name="Continue").click()
        page.locator(".lg-error-box", has_text="country").wait_for()
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("status").wait_for()
    finally:
        activate_forms(world, FORMS, per_ip=True)
    assert all("422" in e for e in errors), errors
    assert "country" not in stored(world, "jon@acme.example")["attributes"]
