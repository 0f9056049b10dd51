"""Scenarios: leads walked through every path of the lifecycle, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from leadgate.engine.engine import Engine, NotFound
from leadgate.ingest.validate import InputError, parse_event
from leadgate.lifecycle.stages import IllegalTransition
from leadgate.qualification import QualificationError
from leadgate.sales import Sales, install
from tests.sales.conftest import ALWAYS, HOT

Hand = Callable[..., dict[str, Any]]
BANT_MET = {"budget": "met", "authority": "met", "need": "met", "timeline": "met"}


def stages(lead: dict[str, Any]) -> list[tuple[str, str]]:
    return [(h["from"], h["to"]) for h in lead["history"]]


def test_happy_path_to_customer(engine: Engine, sales: Sales, raise_hand: Hand, clock: Any) -> None:
    lead = raise_hand("ann@acme.com", HOT)
    assert lead["stage"] == "mql"
    assert lead["owner"] == "anna"
    assert lead["sla_due_at"] is not None and not lead["sla_overdue"]
    assert "round robin" in lead["assignments"][0]["explanation"]

    engine.set_stage("ann@acme.com", "sal", None, "user:anna")
    assert engine.show("ann@acme.com")["sla_due_at"] is None  # accepted: the clock stopped

    with pytest.raises(IllegalTransition) as refused:
        engine.set_stage("ann@acme.com", "sql", None, "user:anna")
    assert "missing: budget, authority, need, timeline" in str(refused.value)
    assert "sql" not in refused.value.allowed

    sales.qualify(
        "ann@acme.com",
        {"budget": "met", "authority": "met"},
        {"budget": "50k approved"},
        "user:anna",
    )
    with pytest.raises(IllegalTransition) as refused:
        engine.set_stage("ann@acme.com", "sql", None, "user:anna")
    assert "2 of 4 criteria met" in str(refused.value)
    assert "missing: need, timeline" in str(refused.value)

    sales.qualify("ann@acme.com", {"need": "met", "timeline": "met"}, None, "user:anna")
    lead = sales.promote_sql("ann@acme.com", "user:anna")
    assert lead["stage"] == "sql"
    assert lead["owner"] == "eve"  # handed to an AE
    handoff = lead["assignments"][-1]
    assert handoff["role"] == "ae" and handoff["previous"] == "anna"
    assert "budget: met (50k approved)" in handoff["notes"]

    with pytest.raises(IllegalTransition, match="without an opportunity"):
        engine.set_stage("ann@acme.com", "sqo", None, "user:eve")
    lead = sales.opportunity("ann@acme.com", "48000", "eur", "2026-09-30", "user:eve")
    assert lead["stage"] == "sqo"
    assert lead["opportunity"]["amount"] == 48000
    assert lead["opportunity"]["currency"] == "EUR"
    assert lead["opportunity"]["outcome"] == "open"

    engine.set_stage("ann@acme.com", "customer", None, "user:eve")
    lead = engine.show("ann@acme.com")
    assert lead["opportunity"]["outcome"] == "won"
    assert stages(lead) == [
        ("lead", "mql"),
        ("mql", "sal"),
        ("sal", "sql"),
        ("sql", "sqo"),
        ("sqo", "customer"),
    ]


def test_reject_needs_a_listed_reason(engine: Engine, sales: Sales, raise_hand: Hand) -> None:
    raise_hand("a@one.com", HOT)
    with pytest.raises(IllegalTransition, match="not in the playbook's list"):
        engine.set_stage("a@one.com", "nurture", "meh", "user:anna")
    engine.set_stage("a@one.com", "nurture", "not now", "user:anna")
    lead = engine.show("a@one.com")
    assert lead["stage"] == "nurture" and lead["stage_reason"] == "not now"
    assert lead["sla_due_at"] is None
    raise_hand("b@two.com", HOT)
    engine.set_stage("b@two.com", "disqualified", "not a fit", "user:bo")
    assert engine.show("b@two.com")["stage"] == "disqualified"
    assert sales.queue() == []  # nothing left open


def test_ae_returns_sql_and_lost_goes_to_nurture_then_recycles(
    engine: Engine, sales: Sales, raise_hand: Hand, clock: Any
) -> None:
    raise_hand("c@three.com", HOT)
    engine.set_stage("c@three.com", "sal", None, "user:anna")
    sales.qualify("c@three.com", BANT_MET, None, "user:anna")
    engine.set_stage("c@three.com", "sql", None, "user:anna")
    engine.set_stage("c@three.com", "sal", "not ready for an AE", "user:eve")
    assert engine.show("c@three.com")["stage"] == "sal"
    lead = sales.promote_sql("c@three.com", "user:anna", ae="finn")
    assert lead["owner"] == "finn"
    assert lead["assignments"][-1]["explanation"] == "handed to finn, named by hand"
    sales.opportunity("c@three.com", 1000, "USD", "2026-07-01", "user:finn")
    engine.set_stage("c@three.com", "nurture", "lost: went with a competitor", "user:finn")
    lead = engine.show("c@three.com")
    assert lead["opportunity"]["outcome"] == "lost"
    assert lead["opportunity"]["outcome_reason"] == "lost: went with a competitor"

    # After the cooldown a lead that still meets the MQL rule is an MQL again, and routed.
    clock.advance(31 * 86400)
    engine.ingest(
        [parse_event({"email": "c@three.com", "type": "webinar_attended", "id": "web-2"}, clock())]
    )
    engine.ingest(
        [parse_event({"email": "c@three.com", "type": "demo_request", "id": "demo-2"}, clock())]
    )
    sales.tick()
    lead = engine.show("c@three.com")
    assert lead["stage"] == "mql"
    assert lead["sla_due_at"] is not None
    hist = stages(lead)
    assert hist.count(("lead", "mql")) + hist.count(("nurture", "mql")) == 2
    assert hist[-1] == ("nurture", "mql")


def test_sla_breach_reassigns_and_notifies(
    engine: Engine, sales: Sales, raise_hand: Hand, clock: Any
) -> None:
    lead = raise_hand("d@four.com", HOT)
    assert lead["owner"] == "anna"
    clock.advance(30 * 60)
    assert sales.tick()["sla_breached"] == 0
    clock.advance(31 * 60)
    out = sales.tick()
    assert out["sla_breached"] == 1 and out["reassigned"] == 1
    lead = engine.show("d@four.com")
    assert lead["owner"] == "bo"
    last = lead["assignments"][-1]
    assert last["actor"] == "rule:sla" and last["previous"] == "anna"
    assert last["reason"] == "SLA breached: not accepted within 1 business hour by anna"
    notices = sales.notices()
    assert [n["kind"] for n in notices] == ["lead.sla_breached"]
    assert notices[0]["payload"]["reassigned_to"] == "bo"
    assert sales.tick()["jobs_fired"] == 0  # fired once, never again

    # Two escalations at most (the bundled default), then it stays, overdue.
    clock.advance(3601)
    sales.tick()
    clock.advance(3601)
    out = sales.tick()
    assert out["sla_breached"] == 1 and out["reassigned"] == 0
    lead = engine.show("d@four.com")
    assert lead["owner"] == "carl"
    assert lead["sla_overdue"] is True
    q = sales.queue("carl")
    assert q[0]["sla_overdue"] and q[0]["reason"].startswith("SLA overdue by")
    sales.mark_delivered([n["id"] for n in sales.notices()])
    assert sales.notices() == []


def test_sla_counts_the_reps_business_hours(engine: Engine, clock: Any, raise_hand: Hand) -> None:
    s = install(engine)
    s.add_rep("nina", "bdr", timezone="America/New_York", hours="09:00-17:00", days="mon-fri")
    # The fake clock starts on Thursday 2026-05-28 20:26:40 UTC = 16:26:40 EDT.
    lead = raise_hand("e@five.com", HOT)
    assert lead["owner"] == "nina"
    # 33m20s left on Thursday, 26m40s on Friday from 09:00 EDT (13:00 UTC).
    assert lead["sla_due_at"] == "2026-05-29T13:26:40Z"


def test_away_and_full_reps_are_skipped(engine: Engine, sales: Sales, raise_hand: Hand) -> None:
    sales.set_away("anna", "2099-01-01")
    assert sales.rep("anna")["away"] is True
    lead = raise_hand("f@six.com", HOT)
    assert lead["owner"] == "bo"
    assert "anna was away" in lead["assignments"][0]["explanation"]
    sales.set_away("anna", None)
    assert raise_hand("g@seven.com", HOT)["owner"] == "carl"
    assert raise_hand("h@eight.com", HOT)["owner"] == "anna"


def test_account_matching_by_company_domain(engine: Engine, sales: Sales, raise_hand: Hand) -> None:
    assert raise_hand("x@globex.com", HOT)["owner"] == "anna"
    lead = raise_hand("y@globex.com", HOT)
    assert lead["owner"] == "anna"
    assert lead["assignments"][0]["explanation"] == "account globex.com is owned by anna"
    # Free-mail addresses are never an account.
    assert raise_hand("p@gmail.com", HOT)["owner"] == "bo"
    assert raise_hand("q@gmail.com", HOT)["owner"] == "carl"


def test_account_matching_inside_one_batch(engine: Engine, sales: Sales, clock: Any) -> None:
    # Two new leads of one new company in one transaction: the second follows the first.
    now = clock()
    engine.ingest(
        [
            parse_event({"email": e, "type": "demo_request", "id": f"b-{e}"}, now)
            for e in ("a@initech.com", "b@other.com", "c@initech.com")
        ]
    )
    owners = {e: engine.show(e)["owner"] for e in ("a@initech.com", "b@other.com", "c@initech.com")}
    assert owners["a@initech.com"] == owners["c@initech.com"] != owners["b@other.com"]
    last = engine.show("c@initech.com")["assignments"][0]
    assert last["explanation"] == f"account initech.com is owned by {owners['a@initech.com']}"


def test_reassignment_is_audited(engine: Engine, sales: Sales, raise_hand: Hand) -> None:
    raise_hand("r@nine.com", HOT)
    with pytest.raises(InputError, match="reason"):
        sales.assign("r@nine.com", "bo", " ", "user:boss")
    with pytest.raises(NotFound):
        sales.assign("r@nine.com", "nobody", "cover", "user:boss")
    lead = sales.assign("r@nine.com", "carl", "speaks German", "user:boss")
    assert lead["owner"] == "carl"
    a = lead["assignments"][-1]
    assert (a["previous"], a["rep"], a["actor"], a["reason"]) == (
        "anna",
        "carl",
        "user:boss",
        "speaks German",
    )


def test_qualification_is_versioned_and_validated(
    engine: Engine, sales: Sales, raise_hand: Hand
) -> None:
    raise_hand("s@ten.com", HOT)
    with pytest.raises(QualificationError, match="did you mean 'budget'"):
        sales.qualify("s@ten.com", {"budgit": "met"}, None, "u")
    with pytest.raises(QualificationError):
        sales.qualify("s@ten.com", {"budget": "sort of"}, None, "u")
    sales.qualify("s@ten.com", {"budget": "not_met"}, {"budget": "no money until Q3"}, "u1")
    sales.qualify("s@ten.com", {"budget": "met"}, None, "u2")
    q = sales.qualification("s@ten.com")
    b = q["criteria"][0]
    assert (b["key"], b["status"], b["note"], b["by"]) == (
        "budget",
        "met",
        "no money until Q3",
        "u2",
    )
    assert [(h["version"], h["status"]) for h in q["history"]] == [(1, "not_met"), (2, "met")]
    assert q["passed"] is False and q["missing"] == ["authority", "need", "timeline"]


def test_custom_framework_with_required_criteria(engine: Engine, raise_hand: Hand) -> None:
    s = install(
        engine,
        {
            "frameworks": {
                "scoping": {
                    "label": "Scoping",
                    "criteria": [
                        {"key": "pain", "prompt": "What hurts?"},
                        {"key": "budget"},
                        {"key": "sponsor"},
                    ],
                    "min_criteria_met": 2,
                    "required": ["sponsor"],
                }
            }
        },
        framework="scoping",
    )
    s.add_rep("anna", "bdr", **ALWAYS)
    raise_hand("t@eleven.com", HOT)
    engine.set_stage("t@eleven.com", "sal", None, "user:anna")
    s.qualify("t@eleven.com", {"pain": "met", "budget": "met"}, None, "u")
    with pytest.raises(IllegalTransition, match="required not met: sponsor"):
        engine.set_stage("t@eleven.com", "sql", None, "user:anna")
    s.qualify("t@eleven.com", {"sponsor": "met", "budget": "unknown"}, None, "u")
    engine.set_stage("t@eleven.com", "sql", None, "user:anna")
    assert engine.show("t@eleven.com")["qualification"]["framework"] == "scoping"


def test_routing_rules_and_pools_from_sections(engine: Engine, raise_hand: Hand) -> None:
    s = install(
        engine,
        {
            "routing": {
                "pools": [
                    {"name": "DACH", "reps": ["hans", "greta"], "strategy": "least_loaded"},
                    {
                        "name": "rest",
                        "role": "bdr",
                        "strategy": "weighted_round_robin",
                        "weights": {"ivy": 3},
                    },
                ],
                "rules": [
                    {
                        "name": "dach",
                        "if": {"field": "country", "op": "in", "value": ["DE", "AT", "CH"]},
                        "pool": "DACH",
                    }
                ],
                "default_pool": "rest",
            }
        },
    )
    for n in ("hans", "greta", "ivy", "jon"):
        s.add_rep(n, "bdr", **ALWAYS)
    lead = raise_hand("u@twelve.de", {**HOT, "country": "DE"})
    assert lead["owner"] == "hans"
    assert lead["assignments"][0]["explanation"].startswith("rule 'dach': pool DACH, least loaded")
    assert raise_hand("v@thirteen.de", {**HOT, "country": "AT"})["owner"] == "greta"
    lead = raise_hand("w@fourteen.it", {**HOT, "country": "IT"})
    assert lead["assignments"][0]["explanation"].startswith(
        "no rule matched, default pool: pool rest, weighted round robin"
    )


def test_no_reps_still_starts_the_clock(engine: Engine, raise_hand: Hand, clock: Any) -> None:
    s = install(engine)
    lead = raise_hand("z@nobody.com", HOT)
    assert lead["owner"] is None and lead["sla_due_at"] is not None
    assert "the pool has no reps" in lead["assignments"][0]["explanation"]
    clock.advance(5 * 86400)
    assert s.tick()["sla_breached"] == 1
    assert s.notices()[0]["payload"]["owner"] is None


def test_decay_exit_closes_the_sla(engine: Engine, sales: Sales, clock: Any) -> None:
    # An MQL by score (not a hand-raiser) whose engagement decays below the exit line.
    engine.upsert_leads([("k@decay.com", HOT, None)])
    now = clock()
    engine.ingest(
        [
            parse_event({"email": "k@decay.com", "type": "webinar_attended", "id": "w1"}, now),
            parse_event({"email": "k@decay.com", "type": "whitepaper_download", "id": "w2"}, now),
        ]
    )
    assert engine.show("k@decay.com")["stage"] == "mql"
    sales.set_away("anna", "2099-01-01")
    sales.set_away("bo", "2099-01-01")
    sales.set_away("carl", "2099-01-01")
    clock.advance(200 * 86400)
    out = sales.tick()
    assert out["transitions"] >= 1
    lead = engine.show("k@decay.com")
    assert lead["stage"] == "nurture" and lead["sla_due_at"] is None
    assert sales.notices() == []  # the SLA job was closed by the exit, not fired


def test_queue_orders_by_sla_then_grade_then_score(
    engine: Engine, sales: Sales, raise_hand: Hand, clock: Any
) -> None:
    sales.set_away("bo", "2099-01-01")
    sales.set_away("carl", "2099-01-01")
    raise_hand("first@a1.com", HOT)
    clock.advance(600)
    raise_hand("second@a2.com", {"job_title": "intern"})
    raise_hand("third@a3.com", HOT)
    engine.set_stage("third@a3.com", "sal", None, "user:anna")
    q = sales.queue("anna")
    assert [r["email"] for r in q] == ["first@a1.com", "second@a2.com", "third@a3.com"]
    assert q[0]["reason"].startswith("SLA due in 50 min")
    assert q[2]["reason"].startswith("SAL without a deadline")
    with pytest.raises(NotFound):
        sales.queue("nobody")


def test_rep_validation(sales: Sales) -> None:
    with pytest.raises(InputError, match="role"):
        sales.add_rep("zed", "cto")
    with pytest.raises(InputError, match="exists already"):
        sales.add_rep("anna", "bdr")
    with pytest.raises(InputError, match="timezone"):
        sales.add_rep("zed", "bdr", timezone="Nowhere/City")
    with pytest.raises(InputError, match="hours"):
        sales.add_rep("zed", "bdr", hours="18:00-08:00")
    with pytest.raises(InputError, match="capacity"):
        sales.add_rep("zed", "bdr", capacity=0)


def test_opportunity_validation(engine: Engine, sales: Sales, raise_hand: Hand) -> None:
    raise_hand("o@opp.com", HOT)
    with pytest.raises(InputError, match="currency"):
        sales.opportunity("o@opp.com", 10, "euro", "2026-01-01", "u")
    with pytest.raises(InputError, match="amount"):
        sales.opportunity("o@opp.com", -1, "EUR", "2026-01-01", "u")
    with pytest.raises(InputError, match="close_date"):
        sales.opportunity("o@opp.com", 1, "EUR", "soon", "u")
    with pytest.raises(IllegalTransition):  # an MQL cannot jump to SQO
        sales.opportunity("o@opp.com", 1, "EUR", "2026-12-01", "u")
    assert engine.show("o@opp.com")["opportunity"] is None
