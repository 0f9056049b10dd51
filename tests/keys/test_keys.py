"""API keys: revoking by id, prefix or name."""

from __future__ import annotations

import pytest

import leadgate.keys as keys
from leadgate.ingest.validate import InputError
from leadgate.keys import KeyNotFound, create_key, revoke_key, verify_key
from leadgate.store.database import Database


@pytest.fixture
def db(sqlite_url: str) -> Database:
    return Database(sqlite_url)


def test_a_prefix_of_digits_only_is_revoked_as_a_prefix(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # token_hex gives all-digit prefixes about once in 280 keys; CI once drew one.
    monkeypatch.setattr(keys.secrets, "token_hex", lambda n: "393887949968")
    key, secret = create_key(db, "sales", "crm")
    assert verify_key(db, secret) is not None
    assert revoke_key(db, "393887949968").id == key.id
    assert verify_key(db, secret) is None


def test_revoke_by_id_full_key_or_name(db: Database) -> None:
    a, _ = create_key(db, "sales", "crm")
    b, sb = create_key(db, "ingest", "forms")
    _, sc = create_key(db, "admin", str(a.id))  # a name that looks like another key's id
    assert revoke_key(db, str(a.id)).id == a.id
    assert revoke_key(db, sb).id == b.id
    assert verify_key(db, sc) is not None
    assert revoke_key(db, str(a.id)).revoked_at is not None  # idempotent, still by id
    with pytest.raises(KeyNotFound):
        revoke_key(db, "nobody")


def test_an_ambiguous_name_asks_for_the_id(db: Database) -> None:
    create_key(db, "sales", "crm")
    create_key(db, "ingest", "crm")
    with pytest.raises(InputError, match="several keys"):
        revoke_key(db, "crm")


def test_a_ref_of_other_digits_is_a_name_not_an_id(db: Database) -> None:
    key, _ = create_key(db, "sales", "²")  # str.isdigit() is true for "²", int() fails
    assert revoke_key(db, "²").id == key.id
