"""The playbook's other domains (`routing.free_email_domains`, `identity:`) and
`leadgate accounts` take a domain in either spelling, `xn--bcher-kva.de` or `bücher.de`,
now that every way in stores the address `x@xn--bcher-kva.de` as `x@bücher.de`."""

from __future__ import annotations

from leadgate.engine.engine import Engine
from leadgate.identity.accounts import free_domains, show_account
from leadgate.ingest.validate import check_email
from leadgate.leads.identity import canonical_email
from leadgate.playbook.identity_sections import IdentitySection
from leadgate.playbook.loader import load_playbook
from leadgate.routing.core import company_domain
from leadgate.sales.config import build_config, sections_of

FREE = """\
name: t
routing:
  free_email_domains: [xn--bcher-kva.de, Пример.рф]
stages:
  mql:
    hand_raisers: [demo_request]
"""


def test_free_email_domains_in_either_spelling() -> None:
    pb = load_playbook(FREE)
    for free in (free_domains(pb), build_config(pb, None, sections_of(pb)).free_domains):
        assert company_domain("x@bücher.de", free) is None
        assert company_domain("x@xn--bcher-kva.de", free) is None  # a twin 0018 left
        assert company_domain("x@пример.рф", free) is None
        assert company_domain("x@buecher.de", free) == "buecher.de"
    assert pb.routing.free_email_domains == ["xn--bcher-kva.de", "Пример.рф"]  # as written


def test_identity_rules_name_a_domain_in_either_spelling() -> None:
    dots = IdentitySection(ignore_dots=["xn--bcher-kva.de"], strip_plus=["Bücher.de"])
    assert canonical_email("a.b+news@bücher.de", dots) == "ab@bücher.de"
    to_ascii_name = IdentitySection(domain_aliases={"xn--bcher-kva.de": "buecher.de"})
    assert canonical_email("x@bücher.de", to_ascii_name) == "x@buecher.de"
    # The key is the address as it is stored: the domain in Unicode.
    to_idn = IdentitySection(domain_aliases={"buecher.de": "xn--bcher-kva.de"})
    assert canonical_email("x@buecher.de", to_idn) == "x@bücher.de"


def test_identity_rules_refuse_a_domain_aliased_to_itself_in_another_spelling() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="alias of itself"):
        IdentitySection(domain_aliases={"xn--bcher-kva.de": "bücher.de"})
    with pytest.raises(ValidationError, match="listed twice"):
        IdentitySection(ignore_dots=["xn--bcher-kva.de", "bücher.de"])
    with pytest.raises(ValidationError, match="not a domain"):
        IdentitySection(ignore_dots=["bü cher.de"])


def test_an_account_is_shown_by_either_spelling(engine: Engine) -> None:
    # As every way in gives them to the engine: checked.
    engine.upsert_leads(
        [(check_email(e), {}, None) for e in ("ann@xn--bcher-kva.de", "bo@Bücher.de")]
    )
    for asked in ("bücher.de", "xn--bcher-kva.de", " BÜCHER.de "):
        one = show_account(engine, asked)
        assert one["domain"] == "bücher.de"
        assert {m["email"] for m in one["members"]} == {"ann@bücher.de", "bo@bücher.de"}
