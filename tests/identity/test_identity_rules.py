"""Which addresses are one person: the playbook's `identity:` rules (pure), their
validation (errors at file:line), and the engine resolving every way in through them."""

from __future__ import annotations

import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.leads.identity import canonical_email
from leadgate.playbook.identity_sections import IdentitySection
from leadgate.playbook.loader import PlaybookError, load_playbook
from leadgate.store.repository import Repository

GMAIL = IdentitySection(
    ignore_dots=["gmail.com"],
    strip_plus=["gmail.com"],
    domain_aliases={"googlemail.com": "gmail.com"},
)
BASE = """\
name: t
stages:
  mql:
    hand_raisers: [demo_request]
"""


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (" J.Doe+News@GoogleMail.com ", "jdoe@gmail.com"),
        ("jdoe@gmail.com", "jdoe@gmail.com"),
        ("j.doe@acme.com", "j.doe@acme.com"),  # the rules name gmail.com only
        ("j.doe+x@acme.com", "j.doe+x@acme.com"),
        ("+tag@gmail.com", "+tag@gmail.com"),  # nothing before the plus: not a tag
        ("...@gmail.com", "...@gmail.com"),  # nothing but dots: left as it is
    ],
)
def test_canonical_keys(raw: str, key: str) -> None:
    assert canonical_email(raw, GMAIL) == key


def test_no_rules_means_case_and_spaces_only() -> None:
    assert canonical_email(" J.Doe+x@GMail.com", IdentitySection()) == "j.doe+x@gmail.com"
    every = IdentitySection(strip_plus=["*"])
    assert canonical_email("ann+crm@acme.com", every) == "ann@acme.com"


def problems(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as exc:
        load_playbook(text, "playbook.yaml")
    return [str(p) for p in exc.value.problems]


def test_bad_rules_and_browser_events_are_refused_at_their_line() -> None:
    [msg] = problems(BASE + "identity:\n  ignore_dots: [gmail.com, 'not a domain']\n")
    assert msg.startswith("playbook.yaml:6: identity.ignore_dots:") and "not a domain" in msg
    [msg] = problems(BASE + "identity:\n  domain_aliases: {a.com: b.com, b.com: c.com}\n")
    assert msg.startswith("playbook.yaml:6: identity.domain_aliases:")
    [msg] = problems(BASE + "identity:\n  strip_dots: [gmail.com]\n")
    assert msg.startswith("playbook.yaml:6: identity.strip_dots: unknown key")
    [msg] = problems(BASE + "browser_events: [page_view, form_submitted]\n")
    assert msg.startswith("playbook.yaml:5: browser_events:") and "server only" in msg
    [msg] = problems(BASE + "browser_events: [page_view, page_view]\n")
    assert "listed twice" in msg
    [msg] = problems(BASE + "browser_events: ['page view']\n")
    assert "not an event type" in msg
    ok = load_playbook(BASE + "browser_events: [page_view, click]\n", "playbook.yaml")
    assert ok.browser_events == ["page_view", "click"]


RULES = BASE + (
    "identity:\n  ignore_dots: [gmail.com]\n  strip_plus: [gmail.com]\n"
    "  domain_aliases: {googlemail.com: gmail.com}\n"
)


def count(engine: Engine) -> int:
    with engine.db.read() as conn:
        return int(Repository(engine.db, conn).execute("SELECT COUNT(*) FROM leads").fetchone()[0])


def test_spellings_of_one_address_make_one_lead(engine: Engine) -> None:
    engine.activate_playbook(RULES, "test")
    now = engine.clock()
    first = engine.ingest([parse_event({"email": "J.Doe@gmail.com", "type": "x", "id": "1"}, now)])
    same = [
        "jdoe@gmail.com",
        "j.d.o.e+crm@gmail.com",
        "JDoe@googlemail.com",
        " jdoe+a@GoogleMail.com ",
    ]
    got = engine.ingest(
        [parse_event({"email": e, "type": "x", "id": f"s{i}"}, now) for i, e in enumerate(same)]
    )
    assert {r.lead_id for r in got} == {first[0].lead_id}
    # Imports resolve too, and so do two new spellings within one batch.
    engine.upsert_leads([("j.doe+import@gmail.com", {"country": "DE"}, None)])
    fresh = engine.ingest(
        [
            parse_event({"email": "ma.ry@gmail.com", "type": "x", "id": "m1"}, now),
            parse_event({"email": "mary+x@gmail.com", "type": "x", "id": "m2"}, now),
        ]
    )
    assert fresh[0].lead_id == fresh[1].lead_id
    assert count(engine) == 2
    lead = engine.show("j.doe@gmail.com")
    assert lead["attributes"]["country"] == "DE" and len(lead["recent_events"]) == 5
    # Other domains keep their dots and tags: different people.
    engine.ingest([parse_event({"email": "j.doe@acme.com", "type": "x", "id": "a"}, now)])
    engine.ingest([parse_event({"email": "jdoe@acme.com", "type": "x", "id": "b"}, now)])
    assert count(engine) == 4


def test_without_rules_dots_and_tags_are_different_people(engine: Engine) -> None:
    now = engine.clock()
    for i, e in enumerate(("j.doe@gmail.com", "jdoe@gmail.com", "jdoe+x@gmail.com")):
        engine.ingest([parse_event({"email": e, "type": "x", "id": str(i)}, now)])
    assert count(engine) == 3


def test_rules_added_later_reach_the_leads_already_there(engine: Engine) -> None:
    now = engine.clock()
    engine.ingest([parse_event({"email": "J.Doe@gmail.com", "type": "x", "id": "1"}, now)])
    engine.ingest([parse_event({"email": "ma.ry+a@gmail.com", "type": "x", "id": "2"}, now)])
    engine.activate_playbook(RULES, "test")
    later = engine.ingest(
        [
            parse_event({"email": "jdoe+news@gmail.com", "type": "x", "id": "3"}, now),
            parse_event({"email": "mary@googlemail.com", "type": "x", "id": "4"}, now),
        ]
    )
    assert later[0].lead_id == engine.show("j.doe@gmail.com")["id"]
    assert later[1].lead_id == engine.show("ma.ry+a@gmail.com")["id"]
    assert count(engine) == 2
