"""`lead_merges.merged_email` is an audit record: kept as it was written. A merge made
before addresses were kept in NFC (0018) recorded `jose\u0301@acme.com` (NFD); merging that
address again, typed in either spelling, still answers `already` (it answered "no lead")."""

from __future__ import annotations

import sqlalchemy as sa

from leadgate.engine.engine import Engine
from leadgate.identity.merge import merge_leads

JOSE_NFD, JOSE = "jose\u0301@acme.com", "jos\u00e9@acme.com"


def test_merging_again_finds_a_merge_recorded_in_an_older_spelling(engine: Engine) -> None:
    engine.upsert_leads([("p1@acme.com", {}, None), (JOSE, {}, None)])
    first = merge_leads(engine, "p1@acme.com", JOSE, "test")
    with engine.db.engine.begin() as conn:  # as a version before 0018 recorded it
        conn.execute(sa.text("UPDATE lead_merges SET merged_email = :e"), {"e": JOSE_NFD})
    for typed in (JOSE, JOSE_NFD, JOSE.upper()):
        again = merge_leads(engine, "p1@acme.com", typed, "test")
        assert again["already"] is True, typed
        assert again["merged"]["merged_id"] == first["merged"]["merged_id"]
        assert again["merged"]["merged_email"] == JOSE_NFD  # the record, as written
