"""Reps' addresses in the one spelling every way in gives (check_email: NFC, the domain
in Unicode), on the way in, when an import names an owner, and in a store written before
(migration 0019), on SQLite and PostgreSQL.

A rep added as `jose\u0301@ourco.com` (NFD, as macOS and some CRM exports write it) is
the rep an export's `josé@ourco.com` names, and the reverse; `anna@xn--bcher-kva.de` is
`anna@bücher.de`. An account claimed as `xn--bcher-kva.de` before 0018 is the account of
the next lead at `bücher.de`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import command

from leadgate.engine.engine import Engine
from leadgate.sales import Sales, install
from leadgate.sales.import_owners import ImportOwners

JOSE_NFD, JOSE = "jose\u0301@ourco.com", "jos\u00e9@ourco.com"
ANNA_IDN, ANNA = "anna@xn--bcher-kva.de", "anna@bücher.de"
HOT = {"job_title": "VP Marketing", "company_size": 200, "country": "DE"}


def _rep_emails(engine: Engine) -> dict[str, str | None]:
    with engine.db.read() as conn:
        return dict(conn.execute(sa.text("SELECT name, email FROM sales_reps")).all())


def _accounts(engine: Engine) -> dict[str, str]:
    with engine.db.read() as conn:
        return dict(conn.execute(sa.text("SELECT domain, owner FROM sales_accounts")).all())


def test_a_rep_is_stored_and_matched_in_the_checked_spelling(engine: Engine) -> None:
    sales = install(engine)
    assert sales.add_rep("jose", "bdr", email=JOSE_NFD)["email"] == JOSE
    assert sales.add_rep("anna", "bdr", email=ANNA_IDN.upper())["email"] == ANNA
    owners = ImportOwners(sales)
    for typed in (JOSE, JOSE_NFD, " JOSE\u0301@OURCO.COM "):
        assert owners.match(typed) == "jose", typed
    for typed in (ANNA, ANNA_IDN, "Anna@BÜCHER.de"):
        assert owners.match(typed) == "anna", typed
    # Not an address: matched as a name, as before.
    assert owners.match("Anna") == "anna"
    assert owners.match("nobody@ourco.com") is None


def test_migration_0019_respells_reps_and_accounts(
    engine: Engine, sales: Sales, raise_hand: Callable[..., dict[str, Any]]
) -> None:
    sales.add_rep("jose", "bdr", team="emea", email=JOSE)
    sales.add_rep("dana", "manager", team="emea", email=ANNA)
    sales.add_rep("odd", "manager", team="emea")  # given an address no check takes, below
    first = raise_hand("a@bücher.de", HOT)["owner"]
    db = engine.db
    with db.engine.begin() as conn:
        command.downgrade(db._alembic(conn), "0018_email_nfc")
        # What a store written before the fix holds: the addresses as they were typed.
        for name, email in (("jose", JOSE_NFD), ("dana", ANNA_IDN.upper()), ("odd", "Odd@")):
            conn.execute(
                sa.text("UPDATE sales_reps SET email = :e WHERE name = :n"), {"e": email, "n": name}
            )
        conn.execute(
            sa.text("UPDATE sales_accounts SET domain = :d WHERE domain = :o"),
            {"d": "xn--bcher-kva.de", "o": "bücher.de"},
        )
        # A twin: both spellings claimed (by two reps), the Unicode one stays theirs.
        conn.execute(
            sa.text("INSERT INTO sales_accounts (domain, owner, lead_id, at) VALUES (:d,:o,1,0)"),
            {"d": "xn--zo-gka.example", "o": "eve"},
        )
        conn.execute(
            sa.text("INSERT INTO sales_accounts (domain, owner, lead_id, at) VALUES (:d,:o,1,0)"),
            {"d": "zoö.example", "o": "finn"},
        )
    db.migrate()

    reps = _rep_emails(engine)
    assert (reps["jose"], reps["dana"], reps["odd"]) == (JOSE, ANNA, "odd@")
    accounts = _accounts(engine)
    assert accounts["bücher.de"] == first and "xn--bcher-kva.de" not in accounts
    assert accounts["zoö.example"] == "finn" and accounts["xn--zo-gka.example"] == "eve"
    # The account's next lead goes to its owner (account matching reads the Unicode row).
    assert raise_hand("b@bücher.de", HOT)["owner"] == first
    owners = ImportOwners(sales)
    assert owners.match(JOSE_NFD) == "jose" and owners.match(ANNA_IDN) == "dana"
