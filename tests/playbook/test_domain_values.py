"""A playbook's domains match a lead's address in either spelling (Unicode or `xn--`).

Every way in stores an address's domain as email-validator spells it, in Unicode
(`x@xn--bcher-kva.de` is stored `x@bücher.de`), so a rule written `xn--bcher-kva.de` once
matched no lead at all. The playbook's domain values are compared in both spellings: the
YAML stays as written, only the compiled test changes (Python and SQL alike).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from leadgate.analytics.sqlcompile import compile_scoring
from leadgate.playbook.conditions import compile_field
from leadgate.playbook.model import FieldCondition, FitSection, Playbook
from leadgate.scoring.fit import FitRules

sys.path.insert(0, str(Path(__file__).parent.parent / "analytics"))
from _reference import as_rows, duckdb_scores, engine_scores

# (field, op, value, the lead's address, the rule's answer)
CASES: list[tuple[str, str, Any, str, bool]] = [
    # The Punycode spelling of a domain, against a lead stored in Unicode (and back).
    ("email_domain", "eq", "xn--bcher-kva.de", "x@bücher.de", True),
    ("email_domain", "eq", "XN--BCHER-KVA.DE", "x@bücher.de", True),
    ("email_domain", "eq", "bücher.de", "x@bücher.de", True),
    ("email_domain", "eq", "BÜCHER.de", "x@bücher.de", True),
    # A twin left in its old spelling by migration 0018 still matches either spelling.
    ("email_domain", "eq", "bücher.de", "x@xn--bcher-kva.de", True),
    ("email_domain", "eq", "xn--bcher-kva.de", "x@xn--bcher-kva.de", True),
    ("email_domain", "ne", "xn--bcher-kva.de", "x@bücher.de", False),
    ("email_domain", "ne", "xn--bcher-kva.de", "x@buecher.de", True),
    ("email_domain", "in", ["gmail.com", "xn--bcher-kva.de"], "x@bücher.de", True),
    ("email_domain", "not_in", ["gmail.com", "xn--bcher-kva.de"], "x@bücher.de", False),
    ("email_domain", "in", ["gmail.com", "xn--bcher-kva.de"], "x@gmail.com", True),
    ("email_domain", "in", ["gmail.com", "xn--bcher-kva.de"], "x@buecher.de", False),
    # `contains` decodes the value label by label: a suffix, a label, a run of labels.
    ("email_domain", "contains", ".xn--p1ai", "x@пример.рф", True),
    ("email_domain", "contains", ".рф", "x@пример.рф", True),
    ("email_domain", "contains", ".рф", "x@xn--e1afmkfd.xn--p1ai", True),
    ("email_domain", "contains", "xn--bcher-kva", "x@shop.bücher.de", True),
    ("email_domain", "contains", "xn--bcher-kva.de", "x@shop.bücher.de", True),
    ("email_domain", "contains", "xn--bcher-kva", "x@buecher.de", False),
    # Not valid IDNA: compared as written (no label is guessed).
    ("email_domain", "eq", "xn--bcher-kv.de", "x@bücher.de", False),
    ("email_domain", "eq", "xn--bcher-kv.de", "x@xn--bcher-kv.de", True),
    ("email_domain", "contains", "xn--bch", "x@bücher.de", False),
    # The `email` field: the part after the last @ is a domain (or its start).
    ("email", "eq", "x@xn--bcher-kva.de", "x@bücher.de", True),
    ("email", "contains", "@xn--bcher-kva.de", "x@bücher.de", True),
    ("email", "contains", "@xn--bcher-kva", "x@bücher.de", True),
    ("email", "eq", "jose\u0301@x.com", "jos\u00e9@x.com", True),
    # Other fields are not domains.
    ("company", "eq", "xn--bcher-kva.de", "x@bücher.de", False),
]


def _fields(field: str, email: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {"email": email}
    if field == "company":
        attrs["company"] = "bücher.de"
    return attrs


@pytest.mark.parametrize(("field", "op", "value", "email", "want"), CASES)
def test_domain_values_match_either_spelling(
    field: str, op: str, value: Any, email: str, want: bool
) -> None:
    section = FitSection.model_validate(
        {"rules": [{"name": "r", "if": {"field": field, "op": op, "value": value}, "points": 1}]}
    )
    got = FitRules(section).lines(_fields(field, email))
    assert bool(got) is want


def test_the_playbook_keeps_the_values_as_written() -> None:
    cond = FieldCondition(field="email_domain", op="in", value=["xn--bcher-kva.de"])
    assert compile_field(cond)({"email_domain": "bücher.de"})
    assert cond.value == ["xn--bcher-kva.de"]


def test_sql_gives_the_same_answers() -> None:
    """Each case a fit rule worth 2^k: bit k of a lead's fit says whether rule k held."""
    leads = sorted({email for *_, email, _ in CASES})
    rules = [
        {"name": f"r{k}", "if": {"field": f, "op": op, "value": v}, "points": 2**k}
        for k, (f, op, v, _, _) in enumerate(CASES)
    ]
    pb = Playbook.model_validate(
        {"name": "t", "fit": {"rules": rules}, "stages": {"mql": {"hand_raisers": ["demo"]}}}
    )
    rows = [(i, e, {"company": "bücher.de"}) for i, e in enumerate(leads, start=1)]
    ref = engine_scores(pb, rows, [], 1_700_000_000.0)
    lr, er = as_rows(rows, [])
    got = duckdb_scores(compile_scoring(pb, 1_700_000_000.0, "duckdb"), lr, er)
    assert got == ref
    for k, (f, _, _, email, want) in enumerate(CASES):
        if f == "company":
            continue
        fit = int(ref[leads.index(email) + 1][0])
        assert bool(fit >> k & 1) is want, CASES[k]


def test_a_pattern_on_a_domain_written_in_xn_form_is_a_warning() -> None:
    """`matches` takes its pattern as written and tests the Unicode spelling, so an `xn--`
    pattern matches only a lead still stored that way: `playbook check` says so."""
    from leadgate.playbook.loader import load_playbook

    text = """\
name: t
fit:
  rules:
    - {name: de, if: {field: email_domain, op: matches, value: "xn--bcher-kva\\\\.de$"}, points: 5}
    - {name: ok, if: {field: email_domain, op: matches, value: "bücher\\\\.de$"}, points: 5}
segments:
  idn: {any: [{field: email, op: matches, value: "@XN--"}, {field: title, op: matches, value: xn--}]}
stages:
  mql:
    hand_raisers: [demo_request]
"""
    pb = load_playbook(text)
    assert [w.split(":")[0] for w in pb.warnings()] == ["fit.rules[0].if", "segments.idn"]
    assert "Unicode" in pb.warnings()[0]


def test_a_routing_rule_on_an_xn_domain_routes_a_lead_stored_in_unicode() -> None:
    from leadgate.playbook.loader import load_playbook
    from leadgate.sales.config import build_config, sections_of

    pb = load_playbook("""\
name: t
routing:
  pools: [{name: de, reps: [hans]}, {name: rest, reps: [ivy]}]
  rules: [{name: books, if: {field: email_domain, op: in, value: [xn--bcher-kva.de]}, pool: de}]
  default_pool: rest
stages:
  mql:
    hand_raisers: [demo_request]
""")
    router = build_config(pb, None, sections_of(pb)).router
    fields = {"email": "x@bücher.de", "email_domain": "bücher.de"}
    assert router.choose_pool(fields, {})[0] == "de"
    assert router.choose_pool({"email": "x@b.de", "email_domain": "b.de"}, {})[0] == "rest"


def test_text_longer_than_a_domain_stays_as_written() -> None:
    from leadgate.playbook.domains import spellings

    long = "xn--bcher-kva." * 40
    assert spellings(long) == (long,)
    assert spellings("xn--bcher-kva." * 10) == ("xn--bcher-kva." * 10, "bücher." * 10)
