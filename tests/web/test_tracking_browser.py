"""The tracker in a real browser: a page served on one loopback port includes `/t.js`
from `leadgate serve` on another. The visitor browses (page views and a click recorded
under the anonymous id of the first-party `lg_vid` cookie), an identified event with
that id stitches them to the lead; with Do-Not-Track, Global Privacy Control or the
consent switch off, the tracker sends nothing. (See tests/web/browser.py for when these
run or skip.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from leadgate.engine.engine import Engine
from leadgate.keys import create_key
from leadgate.store.database import Database
from leadgate.store.repository import Repository

from .browser import Server, browser_session, free_port, require_browser

pytestmark = pytest.mark.slow

PAGE = """<!doctype html><html><head><title>{title}</title>{before}
<script src="{api}/t.js" data-key="{key}"{attrs} async></script></head>
<body><h1>{title}</h1><a href="pricing">Pricing</a></body></html>"""


class Website:
    """A customer's site on 127.0.0.1 (its own port, so its own origin)."""

    def __init__(self, api: str):
        self.key = ""  # set once the key bound to this origin exists
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                # Every page under /no-consent/ sets the switch, as a site's consent
                # banner would; under /attr-off/ the script tag says so.
                before = ""
                if path.startswith("/no-consent/"):
                    before = "<script>window.leadgateConsent = false</script>"
                attrs = ' data-consent="false"' if path.startswith("/attr-off/") else ""
                title = "Pricing" if path.endswith("/pricing") else "Home"
                body = PAGE.format(
                    title=title, before=before, attrs=attrs, api=api, key=site.key
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", site.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class World:
    def __init__(self, url: str, server: Server, website: Website, admin: str):
        self.url = url
        self.server = server
        self.website = website
        self.admin = admin

    def wait_for(self, vid: str, kind: str) -> list[str]:
        """The visitor's event types once one of `kind` is stored (no timing asserted:
        a slow machine waits longer)."""
        for _ in range(300):
            kinds = [t for t, _ in self.visitor_events(vid)]
            if kind in kinds:
                return kinds
            time.sleep(0.2)
        return [t for t, _ in self.visitor_events(vid)]

    def visitor_events(self, vid: str) -> list[tuple[str, str]]:
        db = Database(self.url)
        try:
            with db.read() as conn:
                rows = Repository(db, conn).execute(
                    "SELECT type, properties FROM visitor_events WHERE visitor_id = ? "
                    "ORDER BY occurred_at, id",
                    [vid],
                )
                return [(r[0], r[1]) for r in rows.fetchall()]
        finally:
            db.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_browser()
    url = f"sqlite:///{tmp_path_factory.mktemp('track') / 'leadgate.db'}"
    db = Database(url)
    db.migrate()
    Engine(db).ensure_playbook()
    admin = create_key(db, "admin", "admin")[1]
    server = Server(url)
    # The site's origin is known once its port is: bind the key to it.
    website = Website(server.base)
    website.key = create_key(db, "browser", "site", origins=[website.base])[1]
    db.dispose()
    try:
        yield World(url, server, website, admin)
    finally:
        website.stop()
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_session()


def tracked(page: Any) -> list[Any]:
    sent: list[Any] = []
    page.on("request", lambda r: sent.append(r) if "/api/v1/track" in r.url else None)
    return sent


def test_a_visitor_is_tracked_anonymously_then_stitched(browser: Any, world: World) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        with page.expect_response(lambda r: "/api/v1/track" in r.url) as first:
            page.goto(world.website.base + "/")
        assert first.value.status == 202, first.value.text()
        cookies = {c["name"]: c for c in context.cookies(world.website.base)}
        vid = cookies["lg_vid"]["value"]
        assert len(vid) == 32
        # The link's click (sent with keepalive as the page unloads), then the next
        # page's view.
        with page.expect_response(
            lambda r: (
                "/api/v1/track" in r.url
                and r.request.post_data_json is not None
                and r.request.post_data_json["events"][0]["type"] == "page_view"
                and r.request.post_data_json["events"][0]["properties"]["url"] == "/pricing"
            )
        ) as second:
            page.get_by_role("link", name="Pricing").click()
        assert second.value.status == 202
        # The same visitor on the next page: the cookie is first-party and kept.
        assert {c["name"]: c["value"] for c in context.cookies(world.website.base)}["lg_vid"] == vid
        kinds = world.wait_for(vid, "click")
        assert kinds.count("page_view") == 2 and "click" in kinds
    finally:
        context.close()

    # A form (or any identified event) names the visitor: its page views join the lead.
    r = httpx.post(
        world.server.base + "/api/v1/events",
        headers={"Authorization": f"Bearer {world.admin}"},
        json={
            "email": "ann@acme.example",
            "type": "demo_request",
            "properties": {"visitor_id": vid},
        },
    )
    assert r.status_code == 200, r.text
    lead_id = r.json()["items"][0]["lead_id"]
    lead = httpx.get(
        f"{world.server.base}/api/v1/leads/{lead_id}",
        headers={"Authorization": f"Bearer {world.admin}"},
    ).json()
    types = [e["type"] for e in lead["recent_events"]]
    assert types.count("page_view") == 2 and "click" in types and "demo_request" in types
    assert world.visitor_events(vid) == []


@pytest.mark.parametrize(
    ("init", "path"),
    [
        ("Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})", "/"),
        (
            "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",
            "/",
        ),
        ("", "/no-consent/"),
        ("", "/attr-off/"),
    ],
    ids=["do-not-track", "global-privacy-control", "consent-off", "consent-attribute-off"],
)
def test_the_tracker_sends_nothing_when_asked_not_to(
    browser: Any, world: World, init: str, path: str
) -> None:
    context = browser.new_context()
    try:
        if init:
            context.add_init_script(init)
        page = context.new_page()
        sent = tracked(page)
        page.goto(world.website.base + path)
        # The script ran (it sets its handle) and chose to send nothing.
        page.wait_for_function("window.leadgateTracker !== undefined")
        page.get_by_role("link", name="Pricing").click()
        page.wait_for_url("**/pricing")
        page.wait_for_function("window.leadgateTracker !== undefined")
        page.wait_for_load_state("networkidle")
        assert sent == []
        assert "lg_vid" not in {c["name"] for c in context.cookies(world.website.base)}
    finally:
        context.close()
