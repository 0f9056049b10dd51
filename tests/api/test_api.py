"""The HTTP contract on SQLite and PostgreSQL: auth and roles, leads, events, stages,
playbook, reports, problem+json errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from leadgate.api import create_app
from leadgate.keys import revoke_key
from leadgate.store.database import Database

from .conftest import Api

PROBLEM = "application/problem+json"
V1 = "/api/v1"


def assert_problem(r: object, status: int) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert "Traceback" not in r.text  # type: ignore[attr-defined]
    return body  # type: ignore[no-any-return]


# -- auth ---------------------------------------------------------------------------------


def test_missing_or_bad_key_is_401_and_wrong_role_403(api: Api) -> None:
    assert_problem(api.client.get(f"{V1}/leads"), 401)
    bad = api.client.get(f"{V1}/leads", headers={"Authorization": "Bearer lg_0123456789ab_nope"})
    assert_problem(bad, 401)
    assert_problem(api.get(f"{V1}/leads", role="ingest"), 403)
    assert_problem(api.put(f"{V1}/playbook", role="sales", content=b"x"), 403)
    assert_problem(api.get(f"{V1}/webhooks", role="marketing"), 403)
    assert api.get(f"{V1}/leads", role="sales").status_code == 200
    assert api.get(f"{V1}/playbook", role="marketing").status_code == 200
    assert (
        api.post(f"{V1}/events", role="ingest", json={"email": "a@b.co", "type": "x"}).status_code
        == 200
    )


def test_a_revoked_key_stops_working_at_once(api: Api) -> None:
    assert api.get(f"{V1}/leads", role="sales").status_code == 200
    prefix = api.keys["sales"].split("_")[1]
    revoke_key(api.engine.db, prefix)
    assert_problem(api.get(f"{V1}/leads", role="sales"), 401)


def test_lookups_skip_the_thread_pool_and_still_see_a_revocation_from_elsewhere(
    api: Api,
) -> None:
    quick = api.app.state.leadgate.quick
    lead = api.post(
        f"{V1}/events", json={"id": "q1", "email": "q@corp.com", "type": "page_view"}
    ).json()
    lid = lead["items"][0]["lead_id"]
    assert api.get(f"{V1}/leads/{lid}", role="sales").json()["email"] == "q@corp.com"
    by_id = api.post(f"{V1}/events", json={"id": "q2", "lead_id": lid, "type": "page_view"}).json()
    assert by_id["accepted"] == 1 and by_id["items"][0]["lead_id"] == lid
    assert api.get(f"{V1}/leads", role="sales").status_code == 200
    # Another process (the CLI) revokes through its own connection: refused on the next call.
    other = Database(api.engine.db.url)
    revoke_key(other, api.keys["sales"].split("_")[1])
    other.dispose()
    assert_problem(api.get(f"{V1}/leads/{lid}", role="sales"), 401)
    assert quick.failures == 0


def test_a_failing_quick_lookup_falls_back_to_the_pool(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadgate.api.quick import QuickReads

    def broken(self: QuickReads) -> object:
        raise OSError("disk on fire")

    monkeypatch.setattr(QuickReads, "_sqlite_conn", broken)
    monkeypatch.setattr(QuickReads, "_pg_conn", broken)
    quick = api.app.state.leadgate.quick
    lid = api.post(f"{V1}/events", json={"email": "f@corp.com", "type": "page_view"}).json()[
        "items"
    ][0]["lead_id"]
    assert api.get(f"{V1}/leads/{lid}", role="sales").json()["email"] == "f@corp.com"
    assert_problem(api.get(f"{V1}/leads/{lid + 1000}", role="sales"), 404)
    assert_problem(api.get(f"{V1}/leads", role="ingest"), 403)
    assert quick.failures >= 3
    revoke_key(api.engine.db, api.keys["sales"].split("_")[1])
    assert_problem(api.get(f"{V1}/leads/{lid}", role="sales"), 401)


def test_keys_api_creates_a_key_shown_once_and_revokes_it(api: Api) -> None:
    r = api.post(f"{V1}/keys", json={"role": "sales", "name": "crm"})
    assert r.status_code == 201
    made = r.json()
    new = {"Authorization": f"Bearer {made['key']}"}
    assert api.client.get(f"{V1}/leads", headers=new).status_code == 200
    listed = api.get(f"{V1}/keys").json()["items"]
    assert all("key" not in k and "hash" not in k for k in listed)
    assert api.client.delete(f"{V1}/keys/{made['id']}", headers=api.h()).status_code == 200
    assert_problem(api.client.get(f"{V1}/leads", headers=new), 401)


# -- leads --------------------------------------------------------------------------------


def test_post_lead_upserts_by_email_case_insensitively(api: Api) -> None:
    r = api.post(
        f"{V1}/leads", role="ingest", json={"email": "Ann@Acme.com", "job_title": "VP Marketing"}
    )
    assert r.status_code == 201
    # An ingest key learns the id, never the lead (test_hardening has the role rules).
    assert set(r.json()) == {"id", "created"}
    lead = api.get(f"{V1}/leads/{r.json()['id']}").json()
    assert lead["email"] == "ann@acme.com"
    assert lead["attributes"]["job_title"] == "VP Marketing"
    r = api.post(
        f"{V1}/leads", json={"email": "ANN@acme.com", "attributes": {"Number of Employees": "200"}}
    )
    assert r.status_code == 200
    again = r.json()
    assert again["id"] == lead["id"]
    assert again["attributes"]["company_size"] == 200
    assert again["fit"] > lead["fit"]
    shown = api.get(f"{V1}/leads/{lead['id']}").json()
    assert shown["attributes"] == again["attributes"]
    assert shown["history"] == again["history"]


def test_post_lead_validation_errors_name_the_field(api: Api) -> None:
    body = assert_problem(api.post(f"{V1}/leads", json={"job_title": "CTO"}), 422)
    assert body["errors"][0]["pointer"] == "#/email"
    body = assert_problem(api.post(f"{V1}/leads", json={"email": "not-an-email"}), 422)
    assert body["errors"][0]["pointer"] == "#/email"
    body = assert_problem(
        api.post(f"{V1}/leads", json={"email": "a@b.co", "company_size": "many"}), 422
    )
    assert body["errors"][0]["pointer"] == "#/company_size"


def test_unknown_lead_is_404(api: Api) -> None:
    assert_problem(api.get(f"{V1}/leads/999999"), 404)
    assert_problem(api.post(f"{V1}/leads/999999/stage", json={"to": "mql"}), 404)


def test_list_filters_sorts_by_priority_and_pages_with_a_stable_cursor(api: Api) -> None:
    titles = ["VP Sales", "Intern", "Head of Data", "Engineer", "Chief of Staff"]
    for i in range(23):
        attrs = {"job_title": titles[i % 5], "company_size": 10 * (i + 1)}
        assert (
            api.post(f"{V1}/leads", json={"email": f"p{i}@corp{i % 3}.com", **attrs}).status_code
            == 201
        )
    api.post(f"{V1}/events", json={"events": [{"email": "p2@corp2.com", "type": "demo_request"}]})
    full = api.get(f"{V1}/leads", params={"limit": 500}).json()
    assert full["next_cursor"] is None
    assert len(full["items"]) == 23
    keys = [
        (x["fit_grade"], x["engagement_grade"], -x["score"], x["created_at"], x["id"])
        for x in full["items"]
    ]
    assert keys == sorted(keys)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"{V1}/leads", params=params).json()
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [x["id"] for x in full["items"]]
    mql = api.get(f"{V1}/leads", params={"stage": "mql"}).json()["items"]
    assert [x["email"] for x in mql] == ["p2@corp2.com"]
    top = api.get(f"{V1}/leads", params={"min_score": full["items"][0]["score"]}).json()["items"]
    assert all(x["score"] >= full["items"][0]["score"] for x in top)
    low = api.get(f"{V1}/leads", params={"max_score": 0}).json()["items"]
    assert all(x["score"] <= 0 for x in low)
    g = full["items"][0]["fit_grade"]
    assert all(
        x["fit_grade"] == g for x in api.get(f"{V1}/leads", params={"grade": g}).json()["items"]
    )
    by_score = api.get(f"{V1}/leads", params={"sort": "score", "limit": 500}).json()["items"]
    assert [x["score"] for x in by_score] == sorted((x["score"] for x in by_score), reverse=True)
    assert (
        api.get(f"{V1}/leads", params={"updated_since": "2999-01-01T00:00:00Z"}).json()["items"]
        == []
    )
    assert len(api.get(f"{V1}/leads", params={"updated_since": "2000-01-01"}).json()["items"]) == 23
    assert_problem(api.get(f"{V1}/leads", params={"updated_since": "whenever"}), 422)
    assert_problem(api.get(f"{V1}/leads", params={"cursor": "garbage"}), 422)
    assert_problem(api.get(f"{V1}/leads", params={"stage": "nope"}), 422)
    assert_problem(api.get(f"{V1}/leads", params={"limit": 0}), 422)


# -- events -------------------------------------------------------------------------------


def test_batch_reports_each_item_and_a_bad_item_rejects_no_neighbour(api: Api) -> None:
    lead = api.post(f"{V1}/leads", json={"email": "ann@acme.com"}).json()
    batch = {
        "events": [
            {"id": "e1", "email": "ann@acme.com", "type": "webinar_attended"},
            {"id": "e2", "email": "nope", "type": "webinar_attended"},
            {"id": "e1", "email": "ann@acme.com", "type": "webinar_attended"},
            {"id": "e3", "lead_id": lead["id"], "type": "whitepaper_download"},
            {
                "id": "e4",
                "email": "new@corp.com",
                "type": "page_view",
                "occurred_at": "2020-01-01T00:00:00Z",
            },
            {"id": "e5", "lead_id": 987654, "type": "page_view"},
            {
                "id": "e6",
                "email": "new@corp.com",
                "type": "page_view",
                "occurred_at": "yesterday-ish",
            },
            "not an object",
        ]
    }
    r = api.post(f"{V1}/events", role="ingest", json=batch)
    assert r.status_code == 200
    out = r.json()
    assert (out["accepted"], out["duplicate"], out["rejected"]) == (3, 1, 4)
    status = [(x["index"], x["status"]) for x in out["items"]]
    assert status == [
        (0, "accepted"), (1, "rejected"), (2, "duplicate"), (3, "accepted"),
        (4, "accepted"), (5, "rejected"), (6, "rejected"), (7, "rejected"),
    ]  # fmt: skip
    assert out["items"][1]["pointer"] == "#/events/1/email"
    assert "lead_id" in out["items"][5]["error"]
    assert out["items"][6]["pointer"] == "#/events/6/occurred_at"
    again = api.post(f"{V1}/events", json={"events": batch["events"][:1]}).json()
    assert again["items"][0]["status"] == "duplicate"
    shown = api.get(f"{V1}/leads/{lead['id']}").json()
    assert sorted(e["id"] for e in shown["recent_events"]) == ["e1", "e3"]
    assert shown["engagement"] > 0
    newcomer = out["items"][4]["lead_id"]
    assert api.get(f"{V1}/leads/{newcomer}").json()["email"] == "new@corp.com"


def test_single_event_and_hand_raiser_makes_an_mql(api: Api) -> None:
    r = api.post(f"{V1}/events", json={"email": "Bob@Corp.com", "type": "demo_request"})
    assert r.status_code == 200
    item = r.json()["items"][0]
    assert item["status"] == "accepted"
    assert api.get(f"{V1}/leads/{item['lead_id']}").json()["stage"] == "mql"
    bad = api.post(f"{V1}/events", json={"email": "bob@corp.com"}).json()
    assert bad["items"][0] == {
        "index": 0, "id": None, "status": "rejected", "error": "type: missing", "pointer": "#/type",
    }  # fmt: skip


def test_repeats_without_id_or_time_count_at_each_receipt(api: Api, clock) -> None:  # type: ignore[no-untyped-def]
    """No id and no occurred_at: each request is received at its own moment, which is the
    event's time and part of its derived id, so three attendances count three times; the
    same body with an explicit occurred_at is one event however often it is sent."""
    body = {"email": "rep@corp.com", "type": "webinar_attended"}
    items = []
    for _ in range(3):
        items.append(api.post(f"{V1}/events", json=body).json()["items"][0])
        clock.advance(30)
    assert [i["status"] for i in items] == ["accepted"] * 3
    assert len({i["id"] for i in items}) == 3
    timed = {**body, "occurred_at": "2026-05-01T10:00:00Z"}
    statuses = []
    for _ in range(2):
        statuses.append(api.post(f"{V1}/events", json=timed).json()["items"][0]["status"])
        clock.advance(30)
    assert statuses == ["accepted", "duplicate"]
    shown = api.get(f"{V1}/leads/{items[0]['lead_id']}").json()
    assert len(shown["recent_events"]) == 4


def test_malformed_oversized_and_too_long_batches_are_problems(api: Api) -> None:
    body = assert_problem(
        api.post(
            f"{V1}/events", content=b'{"events": [', headers={"content-type": "application/json"}
        ),
        400,
    )
    assert "JSON" in body["detail"]
    too_many = {"events": [{"email": "a@b.co", "type": "x"}] * 10_001}
    body = assert_problem(api.post(f"{V1}/events", json=too_many), 422)
    assert body["errors"][0]["pointer"] == "#/events"
    assert_problem(api.post(f"{V1}/events", json=[1, 2]), 422)
    small = create_app(engine=api.engine, max_body=2_000)
    from fastapi.testclient import TestClient

    with TestClient(small, raise_server_exceptions=False) as c:
        big = orjson.dumps({"events": [{"email": "a@b.co", "type": "x"}] * 200})
        body = assert_problem(c.post(f"{V1}/events", content=big, headers=api.h()), 413)
        assert "2,000" in body["detail"]

        def chunks():  # no Content-Length: the limit applies as the body arrives
            for i in range(0, len(big), 500):
                yield big[i : i + 500]

        assert_problem(c.post(f"{V1}/events", content=chunks(), headers=api.h()), 413)


# -- stages -------------------------------------------------------------------------------


def test_stage_change_and_illegal_move_409_with_allowed_targets(api: Api) -> None:
    lid = api.post(f"{V1}/events", json={"email": "c@corp.com", "type": "demo_request"}).json()[
        "items"
    ][0]["lead_id"]
    body = assert_problem(
        api.post(f"{V1}/leads/{lid}/stage", role="sales", json={"to": "customer"}), 409
    )
    assert body["allowed"] == ["sal", "nurture", "disqualified"]
    r = api.post(f"{V1}/leads/{lid}/stage", role="sales", json={"to": "sal"})
    assert r.status_code == 200
    assert r.json()["transition"]["from"] == "mql"
    assert r.json()["lead"]["stage"] == "sal"
    assert r.json()["transition"]["actor"] == "api:sales-test"
    assert_problem(api.post(f"{V1}/leads/{lid}/stage", role="ingest", json={"to": "sql"}), 403)
    body = assert_problem(api.post(f"{V1}/leads/{lid}/stage", json={"to": "nowhere"}), 422)
    assert body["errors"][0]["pointer"] == "#/to"


# -- playbook, reports, health -----------------------------------------------------------


def test_playbook_read_and_replace(api: Api) -> None:
    cur = api.get(f"{V1}/playbook", role="marketing").json()
    assert cur["version"] == 1 and "fit:" in cur["yaml"]
    text = cur["yaml"].replace("points: 20", "points: 25", 1)
    r = api.put(
        f"{V1}/playbook",
        role="marketing",
        content=text.encode(),
        headers={"content-type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    # The same text again is not a new version (issue 19).
    r = api.put(f"{V1}/playbook", role="marketing", json={"yaml": text})
    assert (r.json()["version"], r.json()["unchanged"]) == (2, True)
    r = api.put(f"{V1}/playbook", role="marketing", json={"yaml": text + "# tuned\n"})
    assert r.json()["version"] == 3
    assert api.get(f"{V1}/playbook").json()["version"] == 3
    broken = text.replace("fit:", "fit:\n  bogus_key: 1", 1)
    body = assert_problem(
        api.put(
            f"{V1}/playbook", content=broken.encode(), headers={"content-type": "application/yaml"}
        ),
        422,
    )
    err = body["errors"][0]
    assert (
        err["field"] == "fit.bogus_key"
        and err["line"] == broken.splitlines().index("  bogus_key: 1") + 1
    )
    assert api.get(f"{V1}/playbook").json()["version"] == 3


def test_funnel_report_and_health(api: Api) -> None:
    api.post(f"{V1}/events", json={"email": "d@corp.com", "type": "demo_request"})
    f = api.get(f"{V1}/reports/funnel", role="marketing").json()
    assert f["total_leads"] == 1 and f["current"]["mql"] == 1
    assert_problem(api.get(f"{V1}/reports/funnel", role="sales"), 403)
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready"}
    assert_problem(api.client.get("/nowhere"), 404)
    assert_problem(api.client.delete(f"{V1}/leads"), 405)


def test_an_unexpected_error_is_a_500_problem_without_internals(api: Api) -> None:
    def broken(repo, changes, now):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internal detail")

    api.engine.listeners.append(broken)
    r = api.post(f"{V1}/events", json={"email": "e@corp.com", "type": "page_view"})
    body = assert_problem(r, 500)
    assert "secret" not in r.text and "RuntimeError" not in r.text
    assert body["detail"]
    api.engine.listeners.remove(broken)
    # The failed transaction left nothing behind.
    assert api.get(f"{V1}/leads").json()["items"] == []


def test_openapi_documents_the_surface(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in (
        "/api/v1/leads",
        "/api/v1/leads/{lead_id}",
        "/api/v1/events",
        "/api/v1/leads/{lead_id}/stage",
        "/api/v1/playbook",
        "/api/v1/reports/funnel",
        "/api/v1/webhooks",
        "/healthz",
        "/readyz",
    ):
        assert p in paths
    body = paths["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert len(body["oneOf"]) == 2
    assert "Problem" in spec["components"]["schemas"]
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    # Served from the package, so the docs work on a network with no way out.
    assert "cdn." not in docs.text and "/docs/assets/swagger-ui-bundle.js" in docs.text
    js = api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and "SwaggerUIBundle" in js.text
    assert api.client.get("/docs/assets/swagger-ui.css").status_code == 200
    assert "/docs/assets/redoc.standalone.js" in api.client.get("/redoc").text


@pytest.mark.parametrize("role", ["admin", "ingest"])
def test_event_for_unknown_email_creates_the_lead(api: Api, role: str) -> None:
    r = api.post(
        f"{V1}/events", role=role, json={"events": [{"email": "z@new.com", "type": "page_view"}]}
    )
    lid = r.json()["items"][0]["lead_id"]
    assert api.get(f"{V1}/leads/{lid}").json()["email"] == "z@new.com"


# -- the sales and analytics routers, as this app mounts them -------------------------------


def test_sales_and_analytics_routes_check_roles(api: Api) -> None:
    assert api.get(f"{V1}/reps", role="sales").status_code == 200
    assert api.get(f"{V1}/reps", role="marketing").status_code == 200
    assert_problem(api.get(f"{V1}/reps", role="ingest"), 403)
    rep = {"name": "zed", "role": "bdr"}
    assert_problem(api.post(f"{V1}/reps", role="ingest", json=rep), 403)
    assert_problem(api.post(f"{V1}/reps", role="marketing", json=rep), 403)
    assert api.post(f"{V1}/reps", role="sales", json=rep).status_code == 201
    assert_problem(api.get(f"{V1}/reports/velocity", role="ingest"), 403)
    assert_problem(api.get(f"{V1}/reports/velocity", role="sales"), 403)
    assert_problem(api.client.get(f"{V1}/reports/velocity"), 401)


def test_reports_use_the_apps_own_store(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not a store opened per request from $LEADGATE_DB or ./leadgate.db.
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("LEADGATE_DB", raising=False)
    api.post(f"{V1}/events", json={"id": "r1", "email": "r@corp.com", "type": "page_view"})
    r = api.get(f"{V1}/reports/velocity", role="marketing")
    assert r.status_code == 200, r.text
    assert not (cwd / "leadgate.db").exists()


def test_the_sales_workflow_is_on_from_the_start(api: Api) -> None:
    # No sales endpoint called yet: a lead read over HTTP already carries the sales keys.
    r = api.post(f"{V1}/events", json={"id": "s1", "email": "s@corp.com", "type": "page_view"})
    lead = api.get(f"{V1}/leads/{r.json()['items'][0]['lead_id']}", role="sales").json()
    assert {"qualification", "assignments", "sla_due_at"} <= set(lead)


def test_a_write_lock_held_elsewhere_does_not_stop_the_server(api: Api) -> None:
    import sqlite3
    import threading
    import time

    if not api.engine.db.is_sqlite:
        pytest.skip("SQLite's single-writer lock")
    lid = api.post(f"{V1}/events", json={"id": "w0", "email": "w@corp.com", "type": "x"}).json()[
        "items"
    ][0]["lead_id"]
    # Another process's long write transaction (the CLI rescoring, an import).
    other = sqlite3.connect(api.engine.db.engine.url.database or "", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    posted: list[object] = []
    t = threading.Thread(
        target=lambda: posted.append(
            api.post(f"{V1}/events", json={"id": "w1", "email": "w@corp.com", "type": "x"})
        )
    )
    try:
        t.start()
        time.sleep(0.3)  # let the post reach the lock (a wait, not a measurement)
        # Served while the lock is still held: the waiting write did not block the loop.
        assert api.get(f"{V1}/leads/{lid}", role="sales").status_code == 200
        assert api.client.get("/healthz").status_code == 200
        assert not posted
    finally:
        other.execute("COMMIT")
        other.close()
        t.join(60)
    r = posted[0]
    assert r.status_code == 200 and r.json()["accepted"] == 1  # type: ignore[attr-defined]


def test_funnel_report_of_a_segment(api: Api) -> None:
    api.post(f"{V1}/events", json={"email": "d@corp.com", "type": "demo_request"})
    api.post(f"{V1}/leads", json={"email": "e@corp.com", "company_size": 5000})
    whole = api.get(f"{V1}/reports/funnel", role="marketing").json()
    assert whole["total_leads"] == 2 and "segment" not in whole
    f = api.get(f"{V1}/reports/funnel?segment=enterprise", role="marketing").json()
    assert f["segment"] == "enterprise" and f["total_leads"] == 1 and f["current"]["lead"] == 1
    body = assert_problem(api.get(f"{V1}/reports/funnel?segment=nope", role="marketing"), 422)
    assert "no segment 'nope'" in str(body)
