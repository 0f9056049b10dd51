"""An erasure made before addresses were kept in NFC suppressed the address as it was
stored, which could be NFD (`jose\u0301@acme.com`). Now every way in gives the NFC
spelling (`josé@acme.com`); the person must stay out under both, and consent must lift
the old entry. The list keeps hashes only, so no migration can rewrite them."""

from __future__ import annotations

import hashlib
import hmac

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import check_email, parse_event
from leadgate.privacy import suppression
from leadgate.privacy.erase import consent
from leadgate.store.repository import Repository

NFC = "jos\u00e9@acme.com"
NFD = "jose\u0301@acme.com"


def test_an_erasure_hashed_in_nfd_keeps_every_spelling_out(engine: Engine) -> None:
    now = engine.clock()
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        key = suppression.secret(repo, now)
        legacy = hmac.new(key.encode(), NFD.encode(), hashlib.sha256).hexdigest()
        repo.execute(
            "INSERT INTO privacy_suppressions (hash, audit_id, created_at) VALUES (?,?,?)",
            [legacy, None, now],
        )
    for spelling in (NFC, NFD, NFD.upper()):
        refused: list[str] = []
        engine.upsert_leads([(check_email(spelling), {}, None)], "test", refused)
        assert refused, spelling
        engine.ingest([parse_event({"email": spelling, "type": "page_view"}, now)])
    with engine.db.read() as conn:
        assert Repository(engine.db, conn).execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 0
    assert consent(engine, NFC, "consented", "test")
    refused = []
    engine.upsert_leads([(NFD, {}, None)], "test", refused)
    assert not refused


def test_an_erasure_hashed_under_a_punycode_domain_keeps_the_unicode_spelling_out(
    engine: Engine,
) -> None:
    # Stored as typed before 0018: `x@xn--bcher-kva.example`; every way in now gives
    # `x@bücher.example`.
    now = engine.clock()
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        key = suppression.secret(repo, now)
        legacy = hmac.new(key.encode(), b"x@xn--bcher-kva.example", hashlib.sha256).hexdigest()
        repo.execute(
            "INSERT INTO privacy_suppressions (hash, audit_id, created_at) VALUES (?,?,?)",
            [legacy, None, now],
        )
    for spelling in ("x@xn--bcher-kva.example", "X@B\u00dcCHER.example", "x@bu\u0308cher.example"):
        refused: list[str] = []
        engine.upsert_leads([(check_email(spelling), {}, None)], "test", refused)
        assert refused, spelling
