"""Accounts: company domain → account, free-mail excluded by the maintained list (the
same definition routing's account matching uses), engagement summed over its leads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from leadgate.engine.engine import Engine, NotFound
from leadgate.identity.accounts import list_accounts, show_account
from leadgate.ingest.validate import InputError
from leadgate.routing.core import _FEW_FREE_DOMAINS, FREE_EMAIL_DOMAINS, company_domain
from leadgate.sales import Sales

HOT = {"job_title": "VP Marketing", "company_size": 200, "country": "DE"}


def test_the_maintained_free_mail_list_is_in_force() -> None:
    assert "gmx.net" not in _FEW_FREE_DOMAINS and "gmx.net" in FREE_EMAIL_DOMAINS
    assert len(FREE_EMAIL_DOMAINS) > 1000
    assert company_domain("ann@GMX.net ") is None
    assert company_domain("ann@globex.com") == "globex.com"


def test_accounts_group_leads_by_company_and_follow_routing(
    engine: Engine, sales: Sales, raise_hand: Callable[..., dict[str, Any]]
) -> None:
    x = raise_hand("x@globex.com", HOT)
    y = raise_hand("y@globex.com", HOT)
    assert (x["owner"], y["owner"]) == ("anna", "anna")
    # gmx.net is only in the maintained list: not an account, so no account matching.
    assert raise_hand("p@gmx.net", HOT)["owner"] == "bo"
    assert raise_hand("q@gmx.net", HOT)["owner"] == "carl"
    engine.upsert_leads([("z@initech.io", {"job_title": "intern"}, None)])

    accounts = list_accounts(engine)
    assert [a["domain"] for a in accounts] == ["globex.com", "initech.io"]
    globex = accounts[0]
    assert globex["leads"] == 2 and globex["owner"] == "anna"
    assert globex["engagement"] == pytest.approx(x["engagement"] + y["engagement"])
    assert globex["stages"] == {"mql": 2}
    assert list_accounts(engine, min_leads=2) == [globex]

    one = show_account(engine, " GLOBEX.com ")
    assert {m["email"] for m in one["members"]} == {"x@globex.com", "y@globex.com"}
    with pytest.raises(InputError, match="free-mail"):
        show_account(engine, "gmx.net")
    with pytest.raises(NotFound):
        show_account(engine, "nobody.example")
    # A domain that only ends like another is not it.
    engine.upsert_leads([("a@notglobex.com", {}, None)])
    assert show_account(engine, "globex.com")["leads"] == 2
