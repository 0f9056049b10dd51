"""One address, one spelling: every way in stores and looks up `check_email`'s form.

`josé@example.com` with a precomposed é (U+00E9, NFC) and `jose\u0301@example.com` (e and
a combining acute, NFD: macOS, some CRM exports) are canonically equivalent: one person.
Compatibility forms (`ﬁ` and `fi`, full-width letters in the local part) are not folded:
the mailbox's owner decides what its local part means (see `normalize_email`).
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadgate.ingest.validate import InputError, check_email
from leadgate.leads.identity import canonical_email
from leadgate.leads.record import normalize_email
from leadgate.playbook.identity_sections import IdentitySection

NFC = "jos\u00e9@example.com"
NFD = "jose\u0301@example.com"


@pytest.mark.parametrize(
    "spelling",
    [NFC, NFD, " JOSE\u0301@Example.COM ", "JOS\u00c9@example.com", "JOSE\u0301@EXAMPLE.com"],
)
def test_canonically_equivalent_spellings_are_one_address(spelling: str) -> None:
    assert check_email(spelling) == NFC
    assert normalize_email(spelling) == NFC
    assert canonical_email(spelling, IdentitySection()) == NFC


def test_combining_marks_in_any_order_are_one_address() -> None:
    # a + cedilla + acute and a + acute + cedilla: canonically equivalent (the marks'
    # classes differ, so NFC reorders them).
    a = "a\u0327\u0301b@example.com"
    b = "a\u0301\u0327b@example.com"
    assert a != b and check_email(a) == check_email(b)


def test_the_domain_is_spelled_as_email_validator_spells_it() -> None:
    # Punycode, upper case and NFD of one internationalised domain.
    for spelling in ["x@xn--bcher-kva.example", "x@B\u00dcCHER.example", "x@bu\u0308cher.example"]:
        assert check_email(spelling) == "x@b\u00fccher.example", spelling


def test_compatibility_forms_of_the_local_part_stay_distinct() -> None:
    assert check_email("\ufb01@example.com") != check_email("fi@example.com")


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=6))
def test_the_normal_spelling_is_a_fixed_point_and_ignores_the_form(local: str) -> None:
    for form in ("NFC", "NFD"):
        raw = unicodedata.normalize(form, local) + "@example.com"
        try:
            checked = check_email(raw)
        except InputError:
            continue
        assert check_email(checked) == checked
        assert unicodedata.is_normalized("NFC", checked)
        other = unicodedata.normalize("NFD" if form == "NFC" else "NFC", local) + "@example.com"
        assert check_email(other) == checked
