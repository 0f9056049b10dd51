"""The seeded demo data generator: deterministic, streamable, and shaped like real data."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgate.demo.generator import DEFAULT_START, DemoData, generate, iter_events, iter_leads

FORWARD = ["mql", "sal", "sql", "sqo", "customer"]
EXITS = {"nurture", "disqualified"}
HAND_RAISERS = {"demo_request", "contact_sales"}
FREE_MAIL = {"gmail.com", "yahoo.com", "hotmail.com", "outlook.com"}
LEAD_KEYS = {
    "email", "first_name", "last_name", "company", "job_title", "company_size", "industry",
    "country", "source", "campaign", "created_at",
}  # fmt: skip
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def ts(text: str) -> datetime:
    """Parse the generator's ISO 8601 'Z' timestamps."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def data() -> DemoData:
    """The default data set (5k leads, 100k events), generated once for the module."""
    return generate()


def check_invariants(d: DemoData, start: datetime, days: int) -> None:
    """What must hold for any arguments: order, ranges, uniqueness, stage walks."""
    end = start.replace(microsecond=0) + timedelta(days=days)
    created = {}
    for lead in d.leads:
        assert set(lead) == LEAD_KEYS
        assert ISO_Z.match(lead["created_at"])
        created[lead["email"]] = ts(lead["created_at"])
    assert len(created) == len(d.leads), "emails must be unique"
    assert [lead["created_at"] for lead in d.leads] == sorted(
        lead["created_at"] for lead in d.leads
    )

    ids = [e["id"] for e in d.events]
    assert len(set(ids)) == len(ids)
    previous = None
    for e in d.events:
        assert ISO_Z.match(e["occurred_at"])
        when = ts(e["occurred_at"])
        assert created[e["email"]] < when <= end
        assert when >= start.replace(microsecond=0)
        assert previous is None or previous <= when, "events stream in time order"
        assert isinstance(e["properties"], dict)
        previous = when

    walks: dict[str, list[dict]] = defaultdict(list)
    for a in d.actions:
        walks[a["email"]].append(a)
    assert [a["at"] for a in d.actions] == sorted(a["at"] for a in d.actions)
    first_event: dict[str, datetime] = {}
    for e in d.events:
        first_event.setdefault(e["email"], ts(e["occurred_at"]))
    for email, walk in walks.items():
        stages = [a["to"] for a in walk]
        forward = [s for s in stages if s not in EXITS]
        assert forward == FORWARD[: len(forward)], stages
        assert all(s in EXITS for s in stages[len(forward) :])
        assert len(stages) - len(forward) <= 1, "at most one exit, and it ends the walk"
        times = [ts(a["at"]) for a in walk]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert first_event[email] < times[0] < end, "an MQL follows the lead's own events"
        for a in walk:
            assert a["actor"] and a["reason"]


def test_default_data_set_has_the_requested_size_and_invariants(data: DemoData) -> None:
    assert len(data.leads) == 5000
    assert len(data.events) == 100_000
    assert data.events[0]["id"] == "ev-42-0"
    check_invariants(data, DEFAULT_START, 180)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = generate(n_leads=300, n_events=4000, seed=7)
    b = generate(n_leads=300, n_events=4000, seed=7)
    c = generate(n_leads=300, n_events=4000, seed=8)
    assert a == b
    assert a.leads != c.leads and a.events != c.events


def test_streaming_gives_exactly_the_list_content(data: DemoData) -> None:
    assert list(iter_leads()) == data.leads
    assert list(iter_events()) == data.events


def test_streaming_matches_with_other_arguments() -> None:
    start = datetime(2026, 1, 1, 10, 30, 15)  # naive = UTC, not on the hour
    kw = {"n_leads": 400, "seed": 3, "start": start, "days": 30}
    d = generate(n_events=6000, **kw)
    assert list(iter_leads(**kw)) == d.leads
    assert list(iter_events(n_events=6000, **kw)) == d.events
    check_invariants(d, start.replace(tzinfo=UTC), 30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_leads=st.integers(1, 120),
    n_events=st.integers(0, 1500),
    seed=st.integers(0, 10_000),
    days=st.integers(1, 60),
)
def test_invariants_hold_for_any_small_arguments(
    n_leads: int, n_events: int, seed: int, days: int
) -> None:
    d = generate(n_leads=n_leads, n_events=n_events, seed=seed, days=days)
    assert len(d.leads) == n_leads and len(d.events) == n_events
    check_invariants(d, DEFAULT_START, days)
    assert list(iter_events(n_leads, n_events, seed, None, days)) == d.events


def test_few_events_thin_one_offs_by_whole_leads() -> None:
    d = generate(n_leads=400, n_events=25, seed=11)
    assert len(d.events) == 25
    registered = {e["email"] for e in d.events if e["type"] == "webinar_registered"}
    for e in d.events:
        if e["type"] == "webinar_attended":
            assert e["email"] in registered


def test_emails_are_clean_and_company_domains_are_shared(data: DemoData) -> None:
    emails = [lead["email"] for lead in data.leads]
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]{2,}", e) for e in emails)
    domains = Counter(e.split("@")[1] for e in emails)
    free = sum(n for d, n in domains.items() if d in FREE_MAIL) / len(emails)
    assert 0.15 < free < 0.40
    shared = [d for d, n in domains.items() if d not in FREE_MAIL and n >= 3]
    assert len(shared) > 50, "several leads per account share the company domain"


def test_lead_attributes_are_skewed_like_a_crm(data: DemoData) -> None:
    countries = Counter(lead["country"] for lead in data.leads)
    assert countries.most_common(1)[0][0] == "US"
    assert {"GB", "DE", "FR", "IT", "DK", "NL", "ES", "IN", "BR"} <= set(countries)
    assert all(len(c) == 2 and c.isupper() for c in countries)
    sizes = [lead["company_size"] for lead in data.leads]
    assert all(isinstance(s, int) and s >= 1 for s in sizes)
    assert statistics.median(sizes) < statistics.mean(sizes) / 3, "log-normal: long right tail"
    titles = " ".join(lead["job_title"] for lead in data.leads)
    for word in ("VP", "Chief", "Head", "Director", "Manager", "Engineer", "Student", "Intern"):
        assert word in titles
    sources = Counter(lead["source"] for lead in data.leads)
    assert {"organic", "paid_search", "linkedin", "webinar", "referral", "event", "partner"} <= set(
        sources
    )
    assert sources.most_common(1)[0][0] == "organic"
    assert all(lead["campaign"] is None for lead in data.leads if lead["source"] == "organic")


def test_activity_is_heavy_tailed_and_hand_raisers_are_rare(data: DemoData) -> None:
    per_lead = Counter(e["email"] for e in data.events)
    counts = sorted((per_lead.get(lead["email"], 0) for lead in data.leads), reverse=True)
    top_decile = sum(counts[: len(counts) // 10]) / sum(counts)
    assert top_decile > 0.35
    assert statistics.median(counts) < statistics.mean(counts)
    assert counts[0] > 20 * statistics.median(counts)

    types = Counter(e["type"] for e in data.events)
    assert types.most_common(1)[0][0] == "page_view"
    assert types["email_open"] > types["email_click"] > types["whitepaper_download"]
    raisers = {e["email"] for e in data.events if e["type"] in HAND_RAISERS}
    assert 0.005 <= len(raisers) / len(data.leads) <= 0.04
    urls = Counter(e["properties"]["url"] for e in data.events if e["type"] == "page_view")
    assert {"/", "/pricing", "/features", "/docs", "/careers"} <= set(urls)
    assert any(u.startswith("/blog/") for u in urls)
    assert all(isinstance(e["properties"].get("asset"), str) for e in data.events if
               e["type"] == "whitepaper_download")  # fmt: skip


def test_no_email_events_after_unsubscribe(data: DemoData) -> None:
    unsubscribed: dict[str, str] = {}
    for e in data.events:
        if e["type"] == "unsubscribe":
            unsubscribed[e["email"]] = e["occurred_at"]
        elif e["type"] in ("email_open", "email_click") and e["email"] in unsubscribed:
            raise AssertionError(f"{e} after unsubscribe")
    assert unsubscribed


def test_actions_are_for_high_intent_leads_with_a_realistic_funnel(data: DemoData) -> None:
    walks: dict[str, list[str]] = defaultdict(list)
    for a in data.actions:
        walks[a["email"]].append(a["to"])
    mqls = len(walks)
    assert 0.04 < mqls / len(data.leads) < 0.2
    reached = Counter(s for stages in walks.values() for s in set(stages))
    # The window cuts recent MQLs short, so these are lower bounds of the designed rates.
    assert 0.35 < reached["sal"] / mqls < 0.75
    assert 0.15 < reached["sql"] / mqls < 0.45
    assert 0.07 < reached["sqo"] / mqls < 0.30
    assert 0.01 < reached["customer"] / mqls < 0.12
    reasons = Counter(a["reason"] for a in data.actions if a["to"] in EXITS)
    assert any(r.startswith("lost: ") for r in reasons)
    assert {"not now", "spam"} <= set(reasons)

    # Hand-raisers become MQLs; their MQL follows the hand-raise.
    raised = {e["email"]: e["occurred_at"] for e in data.events if e["type"] in HAND_RAISERS}
    mql_at = {a["email"]: a["at"] for a in data.actions if a["to"] == "mql"}
    assert set(raised) <= set(mql_at) | {
        e for e, at in raised.items() if ts(at) > DEFAULT_START + timedelta(days=179, hours=23)
    }


def test_matured_mqls_convert_at_the_designed_rates() -> None:
    d = generate(n_leads=20_000, n_events=300_000, seed=5)
    end = DEFAULT_START + timedelta(days=180)
    walks: dict[str, list[dict]] = defaultdict(list)
    for a in d.actions:
        walks[a["email"]].append(a)
    matured = [w for w in walks.values() if ts(w[0]["at"]) < end - timedelta(days=110)]
    assert len(matured) > 200
    reached = Counter(a["to"] for w in matured for a in w)
    n = len(matured)
    assert 0.50 < reached["sal"] / n < 0.70  # designed ~60 %
    assert 0.27 < reached["sql"] / n < 0.43  # ~35 %
    assert 0.14 < reached["sqo"] / n < 0.27  # ~20 %
    assert 0.04 < reached["customer"] / n < 0.13  # ~8 %


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        generate(n_leads=-1)
    with pytest.raises(ValueError):
        generate(n_leads=0, n_events=10)
    with pytest.raises(ValueError):
        generate(days=0)
    with pytest.raises(ValueError):
        next(iter_events(days=100_000))
    assert generate(n_leads=0, n_events=0) == DemoData([], [], [])


def test_actions_carry_what_the_sales_workflow_asks_for(data: DemoData) -> None:
    """SQL moves come with passing BANT answers, SQO moves with an opportunity, exits
    with a reason the bundled playbook lists, and every actor is a rep of the team."""
    from datetime import date

    from leadgate.lifecycle.stages import reason_listed
    from leadgate.playbook.loader import bundled_playbook

    playbook, _ = bundled_playbook()
    team = {f"{r['role']}:{r['name']}": r for r in data.reps}
    assert {r["role"] for r in data.reps} == {"bdr", "ae"}
    for a in data.actions:
        assert a["actor"] == "rule:mql" or a["actor"] in team, a
        if a["to"] == "sql":
            assert a["qualification"] == dict.fromkeys(
                ("budget", "authority", "need", "timeline"), "met"
            )
        if a["to"] == "sqo":
            opp = a["opportunity"]
            assert opp["amount"] > 0 and opp["currency"] in {"EUR", "GBP", "USD"}
            assert date.fromisoformat(opp["close_date"]) >= ts(a["at"]).date()
        if a["to"] in EXITS:
            assert reason_listed(a["reason"], playbook.stages.reasons[a["to"]]), a
    assert any("qualification" in a for a in data.actions if a["to"] == "nurture")


def test_every_other_lead_has_a_reaction_walk_from_the_epoch(data: DemoData) -> None:
    """`reactions`: for each lead without a scripted walk, what the team would do if a
    playbook made it an MQL, dated from 1970-01-01 (the loader moves it to that MQL)."""
    scripted = {a["email"] for a in data.actions}
    walks: dict[str, list[dict]] = defaultdict(list)
    for a in data.reactions:
        walks[a["email"]].append(a)
    assert set(walks) == {lead["email"] for lead in data.leads} - scripted
    for walk in walks.values():
        assert walk[0]["to"] == "mql" and walk[0]["at"] == "1970-01-01T00:00:00Z"
        stages = [a["to"] for a in walk]
        forward = [s for s in stages if s not in EXITS]
        assert forward == FORWARD[: len(forward)], stages
    reached = Counter(a["to"] for a in data.reactions)
    # Lower intent than the scripted walks on average: fewer go all the way.
    assert 0 < reached["customer"] < reached["sal"] < reached["mql"]
