"""Migration 0018: stored addresses in NFC, on SQLite and PostgreSQL.

A store written before addresses were kept in NFC may hold `jose\u0301@acme.com` (NFD):
after the migration, `josé@acme.com` in either spelling finds that lead and new events
land on it. Twins (one person stored twice, in two spellings) are neither merged nor
deleted: every lookup and new event lands on the one holding the NFC spelling.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from leadgate.engine.engine import Engine
from leadgate.identity.merge import merge_leads
from leadgate.ingest.validate import parse_event
from leadgate.store.database import Database

JOSE_NFD, JOSE = "jose\u0301@acme.com", "jos\u00e9@acme.com"
RENE_NFD, RENE = "rene\u0301@acme.com", "ren\u00e9@acme.com"
# Two orders of a cedilla and an acute on one letter: one NFC spelling, neither has it.
MARKS_1, MARKS_2, MARKS = (
    "a\u0327\u0301@acme.com",
    "a\u0301\u0327@acme.com",
    "\u00e1\u0327@acme.com",
)
ZOE_NFD, ZOE = "zoe\u0308@old.com", "zo\u00eb@old.com"


def _emails(db: Database) -> dict[int, str]:
    with db.read() as conn:
        return {int(i): str(e) for i, e in conn.execute(sa.text("SELECT id, email FROM leads"))}


def _respell(db: Database, table: str, col: str, pairs: dict[str, str]) -> None:
    """What a store written before the fix holds: the addresses as they were typed."""
    with db.engine.begin() as conn:
        for old, new in pairs.items():
            conn.execute(
                sa.text(f"UPDATE {table} SET {col} = :n WHERE {col} = :o"), {"n": new, "o": old}
            )


def test_migration_0018_spells_stored_addresses_in_nfc_and_leaves_twins(engine: Engine) -> None:
    spellings = {"p1@acme.com": JOSE_NFD, "p2@acme.com": RENE_NFD, "p4@acme.com": MARKS_1}
    spellings |= {"p5@acme.com": MARKS_2}
    engine.upsert_leads([(e, {}, None) for e in ["p1@acme.com", "p2@acme.com", RENE]])
    engine.upsert_leads([("p4@acme.com", {}, None), ("p5@acme.com", {}, None)])
    engine.upsert_leads([("zoe@old.com", {}, None)])
    merge_leads(engine, "p1@acme.com", "zoe@old.com", "test")  # leaves an alias
    ids = {e: i for i, e in _emails(engine.db).items()}
    db = engine.db
    with db.engine.begin() as conn:
        command.downgrade(db._alembic(conn), "0017_playbook_plain")
    _respell(db, "leads", "email", spellings)
    _respell(db, "lead_identities", "address", {"zoe@old.com": ZOE_NFD})
    db.migrate()

    assert _emails(db) == {
        ids["p1@acme.com"]: JOSE,
        ids["p2@acme.com"]: RENE_NFD,  # a twin: the NFC spelling is another lead's
        ids[RENE]: RENE,
        ids["p4@acme.com"]: MARKS,  # the older of two that could take it
        ids["p5@acme.com"]: MARKS_2,
    }
    with db.read() as conn:
        aliases = [
            tuple(r) for r in conn.execute(sa.text("SELECT address, lead_id FROM lead_identities"))
        ]
    assert aliases == [(ZOE, ids["p1@acme.com"])]
    # A fresh engine (no lead cache from before): every spelling lands on one lead.
    eng = Engine(db, clock=engine.clock)
    now = engine.clock()
    spellings_of = {
        "p1@acme.com": [JOSE_NFD, JOSE, ZOE_NFD],  # the last by its alias
        RENE: [RENE_NFD, RENE],
        "p4@acme.com": [MARKS_2, MARKS_1],
    }
    for lead, typed in spellings_of.items():
        for spelling in typed:
            ev = {"id": f"e-{spelling}", "email": spelling, "type": "webinar_attended"}
            eng.ingest([parse_event(ev, now)])
            if spelling != ZOE_NFD:  # `show` reads a lead's own address only
                assert eng.show(spelling)["id"] == ids[lead], spelling
    assert len(_emails(db)) == 5
    with db.read() as conn:
        counts = dict(
            conn.execute(sa.text("SELECT lead_id, COUNT(*) FROM events GROUP BY lead_id")).all()
        )
    assert counts == {ids[lead]: len(typed) for lead, typed in spellings_of.items()}
    # The search box finds the lead whichever spelling is typed.
    from leadgate.engine.listing import LeadQuery, list_page

    found = list_page(eng, LeadQuery(search="jose\u0301"))
    assert [x["id"] for x in found.rows] == [ids["p1@acme.com"]]
