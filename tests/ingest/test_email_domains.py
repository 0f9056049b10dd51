"""The plain-domain fast path of `check_email` (issue 17) gives email-validator's verdict.

A batch of events from new companies checks a new domain per lead, and email-validator's
full check costs ~0.3 ms a domain: `validate._plain_domain` accepts the plain ASCII ones
it can vouch for without the library. These tests hold it to the library.
"""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from leadgate.ingest import validate
from leadgate.ingest.validate import InputError, _plain_domain, check_email


def library_ok(domain: str) -> bool:
    try:
        validate_email(f"x@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


# Labels built from the characters that matter: letters, digits, hyphens, the "xn--" and
# "ab--" forms, and now and then something else (an upper-case letter, a non-ASCII one).
_label = st.one_of(
    st.text(alphabet="abcxyz019-", min_size=0, max_size=8),
    st.sampled_from(["xn--", "ab--", "xn--nxasmq6b", "-a", "a-", "a" * 63, "a" * 64, "1"]),
    st.text(alphabet="aZé_.", max_size=3),
)
_tld = st.sampled_from(
    ["com", "io", "co", "uk", "test", "local", "localhost", "arpa", "invalid", "onion",
     "example", "1", "c0m", "a1", "x", ""]
)  # fmt: skip
domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]) if labels or tld else "",
    st.lists(_label, min_size=0, max_size=4),
    _tld,
) | st.builds(lambda n: ("a" * 60 + ".") * n + "com", st.integers(0, 5))


@settings(max_examples=600, deadline=None)
@given(domains)
@example("acme.com")
@example("a.test")
@example("mail.localhost")
@example("xn--nxasmq6b.com")
@example("ab--cd.com")
@example("x" * 63 + "." + "y" * 63 + "." + "z" * 63 + "." + "w" * 57 + ".com")
@example("1.2.3.4")
def test_the_fast_path_accepts_only_what_the_library_accepts(domain: str) -> None:
    if _plain_domain(domain):
        assert library_ok(domain), domain
    # And the verdict check_email's domain check gives is the library's, whichever path.
    assert (validate._domain_of.__wrapped__(domain) is not None) == library_ok(domain), domain


@pytest.mark.parametrize(
    "domain", ["acme.com", "mail.truewave-el.co.uk", "a1.io", "x.y.z.museum", "b2b.example.com"]
)
def test_ordinary_company_domains_take_the_fast_path(domain: str) -> None:
    assert _plain_domain(domain)


@pytest.mark.parametrize(
    "domain",
    ["acme.test", "host.localhost", "xn--nxasmq6b.com", "ab--cd.com", "acme", "acme.c0m1",
     "-acme.com", "acme-.com", "Acme.com", "a..com", "a" * 64 + ".com"],
)  # fmt: skip
def test_anything_unusual_goes_to_the_library(domain: str) -> None:
    assert not _plain_domain(domain)


def test_check_email_still_refuses_what_the_library_refuses() -> None:
    for bad in ["ann@acme.test", "ann@localhost", "ann@ab--cd.com", "ann@acme"]:
        with pytest.raises(InputError):
            check_email(bad)
    assert check_email("  Ann@Acme.COM ") == "ann@acme.com"


def test_a_last_label_starting_with_a_hyphen_is_not_plain() -> None:
    assert not _plain_domain("acme.-com") and not library_ok("acme.-com")
