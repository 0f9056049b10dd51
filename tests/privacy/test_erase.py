"""Erasure: the person's data goes everywhere it was copied, what is not personal stays
under a pseudonym, the address is suppressed until consent, each erasure is audited."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from leadgate.engine.engine import Engine, NotFound
from leadgate.ingest.validate import InputError, parse_event
from leadgate.privacy.erase import consent, erase_person, export_person
from leadgate.sales import install
from leadgate.store.repository import Repository
from leadgate.webhooks import OutboxWriter, add_subscription
from tests.sales.conftest import ALWAYS

ANA = {
    "first_name": "Anastasia",
    "last_name": "Quintanilla",
    "company": "Northwind Widgets",
    "job_title": "VP Marketing",
    "company_size": 300,
    "country": "DE",
    "phone": "+49 30 1234567",
    "source": "webinar",
}


def _ev(email: str, typ: str, at: float, i: str, **props: Any) -> Any:
    return parse_event(
        {"email": email, "type": typ, "occurred_at": at, "id": i, "properties": props}, at
    )


def _dump(engine: Engine) -> str:
    """Every row of every table as text (what a dump would show)."""
    out = []
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        from sqlalchemy import inspect

        for table in inspect(conn).get_table_names():
            for row in repo.execute(f"SELECT * FROM {table}").fetchall():
                out.append(repr(tuple(row)))
    return "\n".join(out)


def _setup(engine: Engine, clock: Any) -> None:
    s = install(engine)
    s.add_rep("bo", "bdr", **ALWAYS)
    engine.listeners.append(OutboxWriter())
    add_subscription(
        engine.db,
        "http://127.0.0.1:9/h",
        "lead.created,lead.stage_changed,lead.assigned,person.erased",
        None,
        "t",
        allow_private=True,
    )
    engine.upsert_leads([("ana@northwind.example", ANA, None)])
    engine.upsert_leads([("other@acme.com", {"job_title": "Intern", "source": "ads"}, None)])
    now = clock()
    engine.ingest(
        [
            _ev("ana@northwind.example", "page_view", now - 50, "pv-1", url="/pricing"),
            _ev(
                "ana@northwind.example",
                "page_view",
                now - 40,
                "pv-2",
                url="/pricing?ref=ana@northwind.example",
                referrer="https://mail.example/anastasia-private-inbox",
            ),
            _ev(
                "ana@northwind.example",
                "demo_request",
                now - 30,
                "form-ana@northwind.example",
                message="Call me on my mobile, Anastasia",
            ),
        ]
    )
    engine.adjust("ana@northwind.example", 5, "met Anastasia at the fair", "bo")
    s.qualify(
        "ana@northwind.example",
        {"budget": "met"},
        {"budget": "Anastasia has 50k"},
        actor="bo",
    )


def test_erase_removes_the_person_and_keeps_the_funnel(engine: Engine, clock: Any) -> None:
    _setup(engine, clock)
    before = engine.show("ana@northwind.example")
    held = export_person(engine, "ana@northwind.example", actor="t")
    assert held["lead"]["attributes"]["last_name"] == "Quintanilla"
    assert {e["id"] for e in held["events"]} >= {"pv-1", "pv-2"}
    assert held["webhooks"] and held["assignments"][0]["rep"] == "bo"
    assert "Quintanilla" in _dump(engine)

    out = erase_person(engine, "ana@northwind.example", "art. 17 request", "admin")
    text = _dump(engine)
    for secret in (
        "ana@northwind.example",
        "Quintanilla",
        "Anastasia",
        "1234567",
        "anastasia-private-inbox",
        "ana%40northwind",
    ):
        assert secret.lower() not in text.lower(), secret
    with pytest.raises(NotFound):
        engine.show("ana@northwind.example")
    kept = engine.list_leads(limit=10)
    pseudo = [row for row in kept if row["email"] == out["pseudonym"]]
    assert len(pseudo) == 1
    row = pseudo[0]
    assert (row["stage"], row["score"]) == (before["stage"], before["score"])
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        attrs = orjson.loads(
            repo.execute("SELECT attributes FROM leads WHERE id = ?", [out["lead_id"]]).fetchone()[
                0
            ]
        )
        audit = repo.execute("SELECT action, actor, reason FROM privacy_audit").fetchall()
        erased = repo.execute(
            "SELECT payload FROM webhook_outbox WHERE event_type = 'person.erased'"
        ).fetchall()
    assert attrs["country"] == "DE" and attrs["job_title"] == "VP Marketing"
    assert "first_name" not in attrs and "company" not in attrs and "phone" not in attrs
    assert ("erase", "admin", "art. 17 request") in [tuple(a) for a in audit]
    assert len(erased) == 1 and out["pseudonym"] in erased[0][0]


def test_suppressed_until_consent(engine: Engine, clock: Any) -> None:
    engine.upsert_leads([("gone@acme.com", {"first_name": "Gwen"}, None)])
    erase_person(engine, "gone@acme.com", "asked by phone", "admin")
    refused: list[str] = []
    assert engine.upsert_leads([("gone@acme.com", {"x": 1}, None)], refused=refused) == (0, 0, 0)
    assert refused == ["gone@acme.com"]
    [r] = engine.ingest([_ev("gone@acme.com", "page_view", clock(), "e1")])
    assert r.status == "rejected" and "suppressed" in (r.error or "")
    with pytest.raises(NotFound):
        engine.show("gone@acme.com")
    # Not stored as text anywhere: only its keyed hash.
    assert "gone@acme.com" not in _dump(engine)
    assert export_person(engine, "gone@acme.com")["suppressed"] is True
    assert consent(engine, "gone@acme.com", "signed up again on the form", "web") is True
    assert engine.upsert_leads([("gone@acme.com", {"x": 1}, None)]) == (1, 0, 0)


def test_short_names_go_as_whole_words(engine: Engine) -> None:
    engine.upsert_leads([("jo@acme.com", {"first_name": "Jo", "last_name": "Null"}, None)])
    engine.adjust("jo@acme.com", 5, "Jo asked for a demo; Joanna is her boss", "rep")
    engine.adjust("jo@acme.com", -2, "null points from Null", "rep")
    out = erase_person(engine, "jo@acme.com", "request", "admin")
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        props = [
            orjson.loads(r[0])["reason"]
            for r in repo.execute(
                "SELECT properties FROM events WHERE lead_id = ? ORDER BY occurred_at",
                [out["lead_id"]],
            ).fetchall()
        ]
    assert props[0] == "[erased] asked for a demo; Joanna is her boss"
    # The lead still reads (its engagement state is valid JSON) with the same score.
    shown = [r for r in engine.list_leads(limit=5) if r["email"] == out["pseudonym"]]
    assert shown and shown[0]["score"] == 3


def test_erase_needs_a_reason(engine: Engine) -> None:
    engine.upsert_leads([("a@acme.com", {}, None)])
    with pytest.raises(InputError, match="reason"):
        erase_person(engine, "a@acme.com", " ", "admin")


def test_models_trained_on_the_person_are_removed(engine: Engine, tmp_path: Any) -> None:
    import io

    import joblib

    def blob(obj: Any) -> bytes:
        buf = io.BytesIO()
        joblib.dump(obj, buf, compress=3)  # compressed, as the product saves them
        return buf.getvalue()

    engine.upsert_leads([("zed@acme.com", {"company": "Zyxwvut Holdings"}, None)])
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        for mid, version, vocab in (("m-a", 1, ["Zyxwvut Holdings", "Acme"]), ("m-b", 2, ["Acme"])):
            repo.execute(
                "INSERT INTO predictive_models (id, version, created_at, kind, source, card, "
                "artifact) VALUES (?,?,?,?,?,?,?)",
                [mid, version, 0.0, "gbm", "store", "{}", blob({"vocab": vocab})],
            )
    on_disk = tmp_path / "models" / "m-c"
    on_disk.mkdir(parents=True)
    (on_disk / "model.joblib").write_bytes(blob({"vocab": ["zyxwvut holdings"]}))
    out = erase_person(engine, "zed@acme.com", "request", "admin", models_dir=tmp_path / "models")
    assert sorted(out["models_removed"]) == ["m-a", "m-c"]
    with engine.db.read() as conn:
        left = Repository(engine.db, conn).execute("SELECT id FROM predictive_models").fetchall()
    assert [r[0] for r in left] == ["m-b"] and not on_disk.exists()
