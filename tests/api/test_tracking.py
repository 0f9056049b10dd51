"""The browser's way in over HTTP: a publishable `browser` key posts anonymous page
views from its origins only, only the playbook's `browser_events`, within its rates,
and reads nothing; `/t.js` is served as a script; an identified event carrying the
visitor id stitches the page views to the lead."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from leadgate.api.tracking import CLIENT_RATE, VISITOR_RATE
from leadgate.keys import create_key, list_keys

from .conftest import ORIGIN, Api
from .test_api import assert_problem

V1 = "/api/v1"
VID = "visitor-0123456789"


def track(api: Api, body: Any, origin: str | None = ORIGIN, key: str | None = None) -> Any:
    headers = {"Content-Type": "text/plain"}
    if origin is not None:
        headers["Origin"] = origin
    k = key or api.keys["browser"]
    return api.client.post(f"{V1}/track?key={k}", content=orjson.dumps(body), headers=headers)


def page_view(vid: str = VID, url: str = "/pricing") -> dict[str, Any]:
    return {"visitor_id": vid, "events": [{"type": "page_view", "properties": {"url": url}}]}


def test_a_browser_key_records_anonymous_page_views_with_cors(api: Api) -> None:
    r = track(api, page_view())
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1}
    assert r.headers["access-control-allow-origin"] == ORIGIN
    # Anonymous: no lead was made.
    assert api.get(f"{V1}/leads").json()["items"] == []


def test_an_event_type_not_in_browser_events_is_refused(api: Api) -> None:
    body = {"visitor_id": VID, "events": [{"type": "demo_request"}]}
    p = assert_problem(track(api, body), 422)
    assert "browser_events" in p["detail"] and p["pointer"] == "#/events/0/type"
    assert_problem(track(api, {"visitor_id": VID, "type": "form_submitted"}), 422)


def test_another_origin_or_none_is_refused(api: Api) -> None:
    p = assert_problem(track(api, page_view(), origin="https://evil.example"), 403)
    assert "evil.example" in p["detail"]
    assert "access-control-allow-origin" not in track(api, page_view(), "https://x.io").headers
    assert_problem(track(api, page_view(), origin=None), 403)
    # Same host, other scheme or port: another origin.
    assert_problem(track(api, page_view(), origin="http://www.acme.com"), 403)
    assert_problem(track(api, page_view(), origin="https://www.acme.com:8443"), 403)


def test_preflight_is_answered_for_the_keys_origins_only(api: Api) -> None:
    url = f"{V1}/track?key={api.keys['browser']}"
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    ok = api.client.options(url, headers={**ask, "Origin": ORIGIN})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "content-type" in ok.headers["access-control-allow-headers"]
    bad = api.client.options(url, headers={**ask, "Origin": "https://evil.example"})
    assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers
    assert api.client.options(f"{V1}/track", headers={**ask, "Origin": ORIGIN}).status_code == 401


def test_a_browser_key_reads_nothing_and_other_keys_cannot_track(api: Api) -> None:
    for path in ("/leads", "/playbook", "/reports/funnel", "/keys", "/webhooks"):
        assert_problem(api.get(f"{V1}{path}", role="browser"), 403)
    assert_problem(
        api.post(f"{V1}/events", role="browser", json={"email": "a@acme.com", "type": "page_view"}),
        403,
    )
    assert_problem(track(api, page_view(), key=api.keys["ingest"]), 403)
    assert_problem(track(api, page_view(), key="lg_0123456789ab_nope"), 401)


def test_rate_limited_per_visitor_then_free_again(api: Api, clock: Any) -> None:
    for _ in range(VISITOR_RATE):
        assert track(api, page_view()).status_code == 202
    p = assert_problem(track(api, page_view()), 429)
    assert p["type"].endswith("rate-limited")
    # Another visitor from the same address is still within the address's rate.
    assert track(api, page_view("visitor-other-1")).status_code == 202
    clock.advance(61)
    assert track(api, page_view()).status_code == 202


def test_rate_limited_per_client_address(api: Api) -> None:
    for i in range(CLIENT_RATE):
        r = track(api, page_view(f"visitor-{i:08d}"))
        assert r.status_code == 202, (i, r.text)
    r = track(api, page_view("visitor-fresh-one"))
    assert_problem(r, 429)
    assert int(r.headers["retry-after"]) >= 1


def test_bad_visitor_ids_and_bodies_are_refused(api: Api) -> None:
    assert_problem(track(api, page_view("short")), 422)
    assert_problem(track(api, page_view("has space in it")), 422)
    assert_problem(track(api, {"visitor_id": VID, "events": []}), 422)
    assert_problem(track(api, [1, 2]), 422)
    huge = {"visitor_id": VID, "type": "page_view", "properties": {"x": "y" * 5000}}
    assert_problem(track(api, huge), 422)


def test_the_tracker_script_is_served_small_and_cacheable(api: Api) -> None:
    r = api.client.get("/t.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "max-age=" in r.headers["cache-control"]
    assert len(r.content) < 5 * 1024
    assert b"lg_vid" in r.content and b"globalPrivacyControl" in r.content


def test_page_views_are_stitched_when_the_visitor_is_identified(api: Api, clock: Any) -> None:
    assert track(api, page_view(url="/pricing")).status_code == 202
    clock.advance(3600)
    assert track(api, page_view(url="/docs")).status_code == 202
    clock.advance(3600)
    r = api.post(
        f"{V1}/events",
        json={"email": "ann@acme.com", "type": "demo_request", "properties": {"visitor_id": VID}},
    )
    assert r.status_code == 200, r.text
    lead = api.get(f"{V1}/leads/{r.json()['items'][0]['lead_id']}").json()
    kinds = [(e["type"], e["properties"].get("url")) for e in lead["recent_events"]]
    assert kinds == [("demo_request", None), ("page_view", "/docs"), ("page_view", "/pricing")]
    # Known now: the next page view lands on the lead at once.
    clock.advance(60)
    assert track(api, page_view(url="/after")).status_code == 202
    lead = api.get(f"{V1}/leads/{lead['id']}").json()
    assert lead["recent_events"][0]["properties"]["url"] == "/after"


def test_browser_keys_need_origins_and_only_they_have_them(api: Api) -> None:
    db = api.engine.db
    with pytest.raises(ValueError, match="origins"):
        create_key(db, "browser", "no origin")
    with pytest.raises(ValueError, match="only a browser key"):
        create_key(db, "ingest", "x", origins=[ORIGIN])
    with pytest.raises(ValueError, match="not an origin"):
        create_key(db, "browser", "x", origins=["https://acme.com/path"])
    made = api.post(
        f"{V1}/keys", json={"role": "browser", "name": "site", "origins": ["HTTPS://Site.IO:443/"]}
    )
    assert made.status_code == 201, made.text
    assert made.json()["origins"] == ["https://site.io"]
    assert any(k.origins == ("https://site.io",) for k in list_keys(db))
    assert_problem(api.post(f"{V1}/keys", json={"role": "browser", "name": "bare"}), 422)


def test_a_track_request_is_small(api: Api) -> None:
    body = {"visitor_id": VID, "events": [{"type": "page_view", "properties": {"x": "y" * 70_000}}]}
    assert_problem(track(api, body), 413)


def test_properties_nested_too_deep_to_store_are_a_problem_not_a_500(api: Api) -> None:
    # 300 levels parse (orjson reads up to 1,024) but no store can write them back
    # (orjson writes up to 255): refused by name, nothing stored.
    deep = b"[" * 300 + b"]" * 300
    raw = b'{"visitor_id":"' + VID.encode() + b'","events":[{"type":"page_view","properties":'
    raw += b'{"a":' + deep + b"}}]}"
    r = api.client.post(
        f"{V1}/track?key={api.keys['browser']}",
        content=raw,
        headers={"Content-Type": "text/plain", "Origin": ORIGIN},
    )
    p = assert_problem(r, 422)
    assert p["pointer"] == "#/events/0/properties"
    assert track(api, page_view()).status_code == 202
