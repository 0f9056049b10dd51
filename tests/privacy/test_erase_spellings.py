"""Erasing an address that is another spelling of a lead (an alias a merge left, or a key
of the playbook's `identity:` rules) erases the person that address is: the lead the
engine files that address's events under, and every spelling recorded for them, all
suppressed. An address the engine would file nowhere is only suppressed."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgate.api import create_app
from leadgate.cli.main import app
from leadgate.engine.engine import Engine
from leadgate.identity.merge import merge_leads
from leadgate.ingest.validate import parse_event
from leadgate.keys import create_key
from leadgate.playbook.loader import bundled_playbook
from leadgate.privacy import suppression
from leadgate.privacy.erase import consent, erase_person, export_person
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from tests.privacy.test_erase import _dump

runner = CliRunner()
RULES = (
    "\nidentity:\n  ignore_dots: [gmail.com]\n  strip_plus: [gmail.com]\n"
    "  domain_aliases: {googlemail.com: gmail.com}\n"
)


def _ev(email: str, i: str, at: float) -> Any:
    return parse_event({"email": email, "type": "page_view", "id": i, "occurred_at": at}, at)


def _count(engine: Engine) -> int:
    with engine.db.read() as conn:
        return int(Repository(engine.db, conn).execute("SELECT COUNT(*) FROM leads").fetchone()[0])


def _merged(engine: Engine) -> int:
    """keep@acme.com with other@acme.com merged into it (other@ is now an alias)."""
    engine.upsert_leads([("keep@acme.com", {"first_name": "Kasimir", "country": "DE"}, None)])
    engine.upsert_leads([("other@acme.com", {"last_name": "Ottenbreit"}, None)])
    merge_leads(engine, "keep@acme.com", "other@acme.com", "t")
    return int(engine.show("keep@acme.com")["id"])


def test_erasing_an_alias_erases_the_lead_it_resolves_to(engine: Engine, clock: Any) -> None:
    keep = _merged(engine)
    engine.upsert_leads([("bystander@acme.com", {"first_name": "Berta"}, None)])
    # The alias is who the engine files events under keep@'s lead.
    [r] = engine.ingest([_ev("other@acme.com", "a1", clock())])
    assert r.lead_id == keep

    held = export_person(engine, "other@acme.com")  # art. 15 by the alias: the same person
    assert held["lead"]["id"] == keep and held["resolved_by"] == "alias"
    assert held["lead"]["attributes"]["first_name"] == "Kasimir"
    assert set(held["spellings"]) == {"other@acme.com", "keep@acme.com"}

    out = erase_person(engine, "other@acme.com", "art. 17 #9", "admin")
    assert out["lead_id"] == keep and out["pseudonym"].endswith("@erased.invalid")
    assert out["resolved_by"] == "alias"
    assert set(out["spellings"]) == {"other@acme.com", "keep@acme.com"}
    assert out["rows"]["lead"] == 1
    text = _dump(engine).lower()
    for secret in ("keep@acme.com", "other@acme.com", "kasimir", "ottenbreit"):
        assert secret not in text, secret
    assert "berta" in text  # nobody else
    # Every spelling of the person is refused from now on: nothing comes back.
    for i, e in enumerate(("other@acme.com", "keep@acme.com")):
        [r] = engine.ingest([_ev(e, f"b{i}", clock())])
        assert r.status == "rejected" and "suppressed" in (r.error or ""), e
    refused: list[str] = []
    engine.upsert_leads([("keep@acme.com", {}, None)], refused=refused)
    assert refused == ["keep@acme.com"]
    assert _count(engine) == 2  # the pseudonymous lead and the bystander
    # The person consenting again (by any spelling) lifts what that erasure suppressed.
    assert consent(engine, "other@acme.com", "signed up again", "web") is True
    assert engine.upsert_leads([("keep@acme.com", {}, None)]) == (1, 0, 0)
    [r] = engine.ingest([_ev("other@acme.com", "z1", clock())])
    assert r.status == "accepted"


def test_erasing_the_lead_suppresses_its_aliases_too(engine: Engine, clock: Any) -> None:
    keep = _merged(engine)
    out = erase_person(engine, "keep@acme.com", "art. 17 #10", "admin")
    assert out["lead_id"] == keep and out["resolved_by"] == "own lead"
    assert set(out["spellings"]) == {"keep@acme.com", "other@acme.com"}
    # The alias row is gone with the erasure; the alias must not make a new lead.
    [r] = engine.ingest([_ev("other@acme.com", "c1", clock())])
    assert r.status == "rejected" and "suppressed" in (r.error or "")
    assert _count(engine) == 1


def test_erasing_an_identity_spelling_erases_the_person(engine: Engine, clock: Any) -> None:
    _, text = bundled_playbook()
    engine.activate_playbook(text + RULES, "pb.yaml", "t")
    engine.upsert_leads([("j.doe@gmail.com", {"first_name": "Jolanda"}, None)])
    engine.upsert_leads([("j.doe@acme.com", {"first_name": "Jacinta"}, None)])
    lead = int(engine.show("j.doe@gmail.com")["id"])
    other = int(engine.show("j.doe@acme.com")["id"])

    # Not a lead of its own, and the rules do not fold acme.com: nobody is erased.
    out = erase_person(engine, "jdoe@acme.com", "art. 17 #11", "admin")
    assert out["lead_id"] is None and out["spellings"] == ["jdoe@acme.com"]
    assert out["resolved_by"] is None
    assert engine.show("j.doe@acme.com")["id"] == other
    [r] = engine.ingest([_ev("jdoe@acme.com", "d1", clock())])
    assert r.status == "rejected"  # still suppressed

    # A spelling the rules fold into j.doe@gmail.com erases that person.
    out = erase_person(engine, "JDoe+News@googlemail.com", "art. 17 #12", "admin")
    assert out["lead_id"] == lead and out["resolved_by"] == "identity key"
    assert set(out["spellings"]) >= {"jdoe+news@googlemail.com", "j.doe@gmail.com"}
    dump = _dump(engine).lower()
    assert "jolanda" not in dump and "j.doe@gmail.com" not in dump and "jacinta" in dump
    for i, e in enumerate(("j.doe@gmail.com", "jdoe@gmail.com", "j.d.o.e+x@gmail.com")):
        [r] = engine.ingest([_ev(e, f"e{i}", clock())])
        assert r.status == "rejected", e
    assert engine.show("j.doe@acme.com")["id"] == other


def test_identity_spelling_without_rules_is_someone_else(engine: Engine) -> None:
    # Without identity rules the engine files jdoe@gmail.com's events on a new lead, so
    # erasing it must not touch j.doe@gmail.com.
    engine.upsert_leads([("j.doe@gmail.com", {"first_name": "Jolanda"}, None)])
    out = erase_person(engine, "jdoe@gmail.com", "art. 17 #13", "admin")
    assert out["lead_id"] is None
    assert engine.show("j.doe@gmail.com")["attributes"]["first_name"] == "Jolanda"


def test_cli_erase_of_an_alias_names_the_lead_and_spellings(db_url: str) -> None:
    assert runner.invoke(app, ["init", "--db", db_url]).exit_code == 0
    eng = Engine(Database(db_url))
    keep = _merged(eng)
    r = runner.invoke(app, ["person", "erase", "other@acme.com", "--reason", "r", "--db", db_url])
    assert r.exit_code == 0, r.stderr
    assert f"lead #{keep}" in r.stdout and "other@acme.com" in r.stdout
    assert "keep@acme.com" in r.stdout
    r = runner.invoke(
        app, ["person", "erase", "keep@acme.com", "--reason", "again", "--db", db_url, "--json"]
    )
    out = orjson.loads(r.stdout)
    # Already erased: the address resolves to nothing now, and stays suppressed.
    assert out["lead_id"] is None and out["spellings"] == ["keep@acme.com"]
    r = runner.invoke(app, ["lead", "add", "--email", "other@acme.com", "--db", db_url])
    assert r.exit_code == 2 and "suppressed" in r.stderr


def test_http_erase_of_an_alias(db_url: str, clock: Any) -> None:
    db = Database(db_url)
    eng = Engine(db, clock=clock)
    eng.ensure_playbook()
    keep = _merged(eng)
    admin = {"Authorization": f"Bearer {create_key(db, 'admin', 'a')[1]}"}
    ingest = {"Authorization": f"Bearer {create_key(db, 'ingest', 'i')[1]}"}
    with TestClient(create_app(engine=eng)) as c:
        r = c.post("/api/v1/people/Other@Acme.com/erase", headers=admin, json={"reason": "t 8"})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["lead_id"] == keep and out["resolved_by"] == "alias"
        assert set(out["spellings"]) == {"other@acme.com", "keep@acme.com"}
        assert c.get(f"/api/v1/leads/{keep}", headers=admin).json()["email"] == out["pseudonym"]
        r = c.post("/api/v1/leads", headers=ingest, json={"email": "keep@acme.com"})
        assert r.status_code == 409
    db.dispose()


def test_an_alias_erased_before_still_leads_to_the_person(engine: Engine, clock: Any) -> None:
    # What the old erasure left: the alias suppressed, the person's lead untouched. The
    # alias's events are refused, but asking again erases the person.
    keep = _merged(engine)
    with engine.db.write() as conn:
        suppression.suppress(Repository(engine.db, conn), "other@acme.com", None, clock())
    out = erase_person(engine, "other@acme.com", "art. 17 again", "admin")
    assert out["lead_id"] == keep and out["resolved_by"] == "alias"
    assert "kasimir" not in _dump(engine).lower()


def test_a_key_that_is_another_leads_address_is_not_erased(engine: Engine, clock: Any) -> None:
    # Two leads made before the rules; adding them records j.doe@'s key jdoe@gmail.com,
    # which is the other lead's own address. Erasing j.doe@ must leave that person alone.
    engine.upsert_leads([("j.doe@gmail.com", {"first_name": "Jolanda"}, None)])
    engine.upsert_leads([("jdoe@gmail.com", {"first_name": "Jacinta"}, None)])
    _, text = bundled_playbook()
    engine.activate_playbook(text + RULES, "pb.yaml", "t")
    from leadgate.engine.identity import backfill_keys

    backfill_keys(engine, engine.processor().playbook.identity)
    out = erase_person(engine, "j.doe@gmail.com", "art. 17 #14", "admin")
    assert out["resolved_by"] == "own lead" and "jdoe@gmail.com" not in out["spellings"]
    assert engine.show("jdoe@gmail.com")["attributes"]["first_name"] == "Jacinta"
    [r] = engine.ingest([_ev("jdoe@gmail.com", "k1", clock())])
    assert r.status == "accepted"
    # Not even her address's hash went on the list: erasing her later and her consent
    # again work as for anyone.
    with engine.db.read() as conn:
        assert not suppression.refused(Repository(engine.db, conn), ["jdoe@gmail.com"])
