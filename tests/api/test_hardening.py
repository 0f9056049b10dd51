"""Hardening (issue 13): an ingest key writes but never reads leads back; a time outside
[1970, now + skew] is refused at every door, and a damaged row already stored breaks
no reader."""

from __future__ import annotations

import math
from typing import Any

import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app as cli
from leadgate.ingest.validate import FUTURE_SKEW_SECONDS, InputError, iso, parse_time
from leadgate.store.repository import Repository

from .conftest import Api

V1 = "/api/v1"
PROBLEM = "application/problem+json"
# What only a read role may see of a lead.
LEAD_DETAIL = {"attributes", "score", "fit", "engagement", "history", "owner", "explanation"}


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert "Traceback" not in r.text
    return body


# -- 1. an ingest key writes but does not read ----------------------------------------------


def test_an_ingest_key_gets_only_the_id_back_from_post_leads(api: Api) -> None:
    lead = {"email": "ann@acme.com", "job_title": "CTO", "company_size": 500}
    r = api.post(f"{V1}/leads", role="ingest", json=lead)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "created"} and body["created"] is True
    again = api.post(f"{V1}/leads", role="ingest", json={**lead, "job_title": "CEO"})
    assert again.status_code == 200
    assert again.json() == {"id": body["id"], "created": False}
    # The full view is still what read roles get, from the same route.
    full = api.post(f"{V1}/leads", role="admin", json={**lead, "country": "IT"}).json()
    assert full["id"] == body["id"] and set(full) >= LEAD_DETAIL
    assert full["attributes"]["country"] == "IT"


def test_event_answers_to_an_ingest_key_carry_no_lead_data(api: Api) -> None:
    api.post(f"{V1}/leads", json={"email": "bo@acme.com", "job_title": "CTO"})
    r = api.post(
        f"{V1}/events", role="ingest", json={"email": "bo@acme.com", "type": "demo_request"}
    )
    assert r.status_code == 200
    item = r.json()["items"][0]
    assert set(item) <= {"index", "id", "status", "lead_id", "error", "pointer"}


# -- 2. times: bounded on the way in --------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [1e17, -1, "1969-12-31T23:59:59Z", "9999-12-31", "3000-01-01T00:00:00+00:00", 10**400],
)
def test_post_leads_refuses_a_created_at_outside_1970_to_now(api: Api, value: Any) -> None:
    body = problem(
        api.post(f"{V1}/leads", role="ingest", json={"email": "c@acme.com", "created_at": value}),
        422,
    )
    assert "created_at" in body["detail"]
    # Nothing was stored, and listing still works for everyone.
    assert api.get(f"{V1}/leads").json()["items"] == []


def test_post_leads_refuses_nan_and_infinity_created_at(api: Api) -> None:
    for raw in (
        b'{"email":"d@acme.com","created_at":NaN}',
        b'{"email":"d@acme.com","created_at":Infinity}',
    ):
        r = api.post(f"{V1}/leads", content=raw, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, r.text
    assert api.get(f"{V1}/leads").json()["items"] == []


def test_created_at_within_the_skew_is_accepted(api: Api) -> None:
    now = api.engine.clock()
    ok = api.post(
        f"{V1}/leads", json={"email": "e@acme.com", "created_at": now + FUTURE_SKEW_SECONDS - 1}
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["created_at"] == iso(now + FUTURE_SKEW_SECONDS - 1)
    problem(
        api.post(
            f"{V1}/leads", json={"email": "f@acme.com", "created_at": now + FUTURE_SKEW_SECONDS + 1}
        ),
        422,
    )


def test_events_outside_the_bounds_are_rejected_item_by_item(api: Api) -> None:
    r = api.post(
        f"{V1}/events",
        json={
            "events": [
                {"email": "g@acme.com", "type": "page_view", "occurred_at": 1e17},
                {"email": "g@acme.com", "type": "page_view", "occurred_at": "1901-01-01"},
                {"email": "g@acme.com", "type": "page_view", "occurred_at": "2026-05-01"},
            ]
        },
    ).json()
    assert [x["status"] for x in r["items"]] == ["rejected", "rejected", "accepted"]
    assert r["items"][0]["pointer"] == "#/events/0/occurred_at"


def test_parse_time_names_the_field_and_never_crashes_on_absurd_values() -> None:
    now = 1_780_000_000.0
    for bad in (1e17, float("nan"), float("inf"), -0.5, 10**400, "0001-01-01", "+99999-01-01"):
        with pytest.raises(InputError) as exc:
            parse_time(bad, "occurred_at", now)
        assert exc.value.field == "occurred_at"
    assert parse_time(0, "occurred_at", now) == 0.0
    assert parse_time("2026-05-28T00:00:00Z", "occurred_at", now) == 1_779_926_400.0


@pytest.mark.parametrize("text", ["5", "-1", "Dec 5", "12/05", "3pm"])
def test_a_loose_date_missing_its_year_month_or_day_is_refused(text: str) -> None:
    # dateutil fills what the text leaves out from today: `updated_since=-1` read as the
    # 1st of this month, `5` as the 5th, a different time on every day it was read.
    with pytest.raises(InputError) as exc:
        parse_time(text, "since", 1e18)
    assert exc.value.field == "since" and "year, month and day" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "iso_text"),
    [
        ("Dec 5, 2025", "2025-12-05T00:00:00Z"),
        ("5 Dec 2025 3pm", "2025-12-05T15:00:00Z"),
        ("12/05/2025", "2025-12-05T00:00:00Z"),
        ("2025/12/05 10:30", "2025-12-05T10:30:00Z"),
    ],
)
def test_a_loose_date_with_year_month_and_day_is_read(text: str, iso_text: str) -> None:
    assert iso(parse_time(text, "since", 1e18)) == iso_text


def test_cli_and_file_imports_share_the_bounds(api: Api, tmp_path: Any) -> None:
    db_url = api.engine.db.url
    leads = tmp_path / "leads.csv"
    leads.write_text("email,created_at\nok@acme.com,2026-01-01\nbad@acme.com,9999-01-01\n")
    r = CliRunner().invoke(cli, ["lead", "import", str(leads), "--db", db_url])
    # Only a bad email rejects a row: the impossible time is skipped (reported with its
    # line and column) and the lead lands without it.
    assert "line 3: Create" not in r.output and "created_at: 9999-01-01" in r.output
    emails = [x["email"] for x in api.get(f"{V1}/leads").json()["items"]]
    assert "ok@acme.com" in emails and "bad@acme.com" in emails, r.output
    assert not api.engine.show("bad@acme.com")["created_at"].startswith("9999")
    for at in ("9999-01-01", "1969-07-20T20:17:00Z"):
        r = CliRunner().invoke(
            cli,
            [
                "event",
                "add",
                "--email",
                "ok@acme.com",
                "--type",
                "page_view",
                "--at",
                at,
                "--db",
                db_url,
            ],
        )
        assert r.exit_code == 2, r.output
        assert "--at" in r.stderr or "occurred_at" in r.stderr
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"email": "ok@acme.com", "type": "page_view", "occurred_at": 1e17}\n'
        '{"email": "ok@acme.com", "type": "page_view", "occurred_at": -1}\n'
    )
    r = CliRunner().invoke(cli, ["event", "ingest", str(events), "--db", db_url])
    lead = api.get(f"{V1}/leads").json()["items"]
    ok = next(x for x in lead if x["email"] == "ok@acme.com")
    assert api.get(f"{V1}/leads/{ok['id']}").json()["recent_events"] == [], r.output


# -- 2. times: a damaged row already stored breaks no reader --------------------------------


def _damage(api: Api, email: str, value: float) -> None:
    db = api.engine.db
    with db.write() as conn:
        Repository(db, conn).execute(
            "UPDATE leads SET created_at = ?, stage_at = ? WHERE email = ?", [value, value, email]
        )


@pytest.mark.parametrize("role", ["admin", "marketing", "sales"])
def test_one_damaged_row_does_not_break_reading_for_anyone(api: Api, role: str) -> None:
    for i in range(3):
        api.post(f"{V1}/leads", json={"email": f"r{i}@acme.com", "job_title": "CTO"})
    lid = api.get(f"{V1}/leads").json()["items"][0]["id"]
    email = api.get(f"{V1}/leads/{lid}").json()["email"]
    _damage(api, email, 1e17)
    listed = api.get(f"{V1}/leads", role=role)
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == 3
    bad = next(x for x in listed.json()["items"] if x["id"] == lid)
    assert bad["created_at"] is None
    one = api.get(f"{V1}/leads/{lid}", role=role)
    assert one.status_code == 200, one.text
    if role != "sales":
        cohorts = api.get(f"{V1}/reports/cohorts", role=role)
        assert cohorts.status_code == 200, cohorts.text


def _alembic(api: Api, target: str, down: bool = False) -> None:
    from alembic import command

    db = api.engine.db
    with db.engine.begin() as conn:
        cfg = db._alembic(conn)
        (command.downgrade if down else command.upgrade)(cfg, target)


def _rows(api: Api, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    db = api.engine.db
    with db.read() as conn:
        return [tuple(r) for r in Repository(db, conn).execute(sql, params or []).fetchall()]


def test_migration_0008_repairs_damaged_times_and_logs_the_old_values(api: Api) -> None:
    for i in range(2):
        api.post(
            f"{V1}/events",
            json={
                "id": f"e{i}",
                "email": f"m{i}@acme.com",
                "type": "page_view",
                "occurred_at": "2026-05-01T00:00:00Z",
            },
        )
    db = api.engine.db
    good_before = _rows(api, "SELECT created_at, stage_at FROM leads WHERE email = 'm1@acme.com'")
    # Damage as an older version could have stored it (and worse).
    with db.write() as conn:
        repo = Repository(db, conn)
        repo.execute(
            "UPDATE leads SET created_at = ?, stage_at = ? WHERE email = ?",
            [1e17, 1e17, "m0@acme.com"],
        )
        repo.execute("UPDATE events SET occurred_at = ? WHERE id = ?", [-5.0, "e0"])
        if not db.is_sqlite:
            # PostgreSQL stores NaN (SQLite turns it into NULL, which NOT NULL refuses).
            repo.execute(
                "UPDATE leads SET updated_at = ? WHERE email = ?", [float("nan"), "m0@acme.com"]
            )
    _alembic(api, "0006_store_revision", down=True)
    _alembic(api, "heads")
    assert db.schema_current()
    received = _rows(api, "SELECT received_at FROM events WHERE id = 'e0'")[0][0]
    assert _rows(api, "SELECT occurred_at FROM events WHERE id = 'e0'") == [(received,)]
    created, stage_at = _rows(
        api, "SELECT created_at, stage_at FROM leads WHERE email = 'm0@acme.com'"
    )[0]
    assert created == received and stage_at == created
    # Sane rows are untouched.
    assert (
        _rows(api, "SELECT created_at, stage_at FROM leads WHERE email = 'm1@acme.com'")
        == good_before
    )
    log = _rows(
        api,
        "SELECT table_name, column_name, old_value FROM time_repairs ORDER BY id",
    )
    assert log[:3] == [
        ("events", "occurred_at", -5.0),
        ("leads", "created_at", 1e17),
        ("leads", "stage_at", 1e17),
    ]
    if db.is_sqlite:
        assert len(log) == 3
    else:
        assert [x[:2] for x in log[3:]] == [("leads", "updated_at")] and math.isnan(log[3][2])
        (updated,) = _rows(api, "SELECT updated_at FROM leads WHERE email = 'm0@acme.com'")[0]
        assert math.isfinite(updated) and updated > 0
    # Reading works again for everyone, the report too.
    assert all(x["created_at"] for x in api.get(f"{V1}/leads").json()["items"])
    assert api.get(f"{V1}/reports/cohorts").status_code == 200
    # And the downgrade gives every old value back: nothing stored is lost.
    _alembic(api, "0006_store_revision", down=True)
    assert _rows(api, "SELECT created_at FROM leads WHERE email = 'm0@acme.com'") == [(1e17,)]
    assert _rows(api, "SELECT occurred_at FROM events WHERE id = 'e0'") == [(-5.0,)]
    _alembic(api, "heads")


def test_an_opportunity_close_date_before_1970_is_refused(api: Api) -> None:
    lid = api.post(f"{V1}/leads", json={"email": "opp@acme.com"}).json()["id"]
    body = {"amount": 10, "currency": "EUR", "expected_close": "1969-12-31"}
    r = api.post(f"{V1}/leads/{lid}/opportunity", json=body)
    assert problem(r, 422)["errors"][0]["pointer"] == "#/expected_close"
