"""Routing decisions: strategies, skipping reps who are away or full, accounts, fairness."""

from __future__ import annotations

import random
from collections import Counter

from leadgate.routing import (
    AccountMatch,
    Candidate,
    PoolState,
    Router,
    RoutingRule,
    company_domain,
    decide,
    pick,
)


def test_round_robin_fairness_over_10000_assignments() -> None:
    reps = [Candidate(n) for n in ("anna", "bo", "carl", "dina", "emil", "fay", "gus")]
    state = PoolState()
    counts: Counter[str] = Counter()
    for _ in range(10_000):
        d = pick("emea", "round_robin", reps, state)
        assert d.rep is not None and d.state is not None
        state = d.state
        counts[d.rep] += 1
        assert max(counts[r.name] for r in reps) - min(counts[r.name] for r in reps) <= 1


def test_round_robin_skips_away_and_full_and_says_so() -> None:
    reps = [
        Candidate("anna"),
        Candidate("bo", away=True),
        Candidate("carl", load=5, capacity=5),
        Candidate("dina"),
    ]
    d = pick("EMEA-mid", "round_robin", reps, PoolState(last="anna"))
    assert d.rep == "dina"
    assert d.explanation == (
        "pool EMEA-mid, round robin: the next rep, bo was away; then carl was full "
        "(5/5 open leads), so dina"
    )
    assert pick("p", "round_robin", [Candidate("x", away=True)], PoolState()).rep is None


def test_rotation_continues_when_someone_comes_back() -> None:
    reps = [Candidate("anna"), Candidate("bo", away=True), Candidate("carl")]
    state = PoolState()
    seq = []
    for _ in range(4):
        d = pick("p", "round_robin", reps, state)
        state = d.state  # type: ignore[assignment]
        seq.append(d.rep)
    assert seq == ["anna", "carl", "anna", "carl"]
    reps[1] = Candidate("bo")
    d = pick("p", "round_robin", reps, state)
    assert d.rep == "anna"  # back in the rotation, not flooded with catch-up leads


def test_weighted_round_robin_follows_weights_smoothly() -> None:
    reps = [Candidate("anna", weight=3), Candidate("bo", weight=1), Candidate("carl", weight=1)]
    state = PoolState()
    seq = []
    for _ in range(500):
        d = pick("p", "weighted_round_robin", reps, state)
        state = d.state  # type: ignore[assignment]
        seq.append(d.rep)
    c = Counter(seq)
    assert (c["anna"], c["bo"], c["carl"]) == (300, 100, 100)
    # Spread out: anna never gets more than 3 in a row.
    assert "anna,anna,anna,anna" not in ",".join(seq)


def test_least_loaded_picks_fewest_open_leads() -> None:
    reps = [Candidate("anna", load=7), Candidate("bo", load=2), Candidate("carl", load=4)]
    d = pick("p", "least_loaded", reps, PoolState())
    assert d.rep == "bo"
    assert "bo has the fewest open leads (2)" in d.explanation


def test_rules_pick_the_pool_in_order() -> None:
    router = Router(
        [
            RoutingRule("dach", "DACH", lambda f, s: f.get("country") in ("DE", "AT", "CH")),
            RoutingRule("hot", "fast-lane", lambda f, s: (s.get("total") or 0) >= 80),
        ],
        "rest",
    )
    assert router.choose_pool({"country": "DE"}, {"total": 99}) == ("DACH", "rule 'dach'")
    assert router.choose_pool({"country": "IT"}, {"total": 99}) == ("fast-lane", "rule 'hot'")
    assert router.choose_pool({}, {}) == ("rest", "no rule matched, default pool")


def test_account_owner_wins_unless_unavailable() -> None:
    reps = [Candidate("anna"), Candidate("bo")]
    acct = AccountMatch("acme.com", Candidate("carl"))
    d = decide("p", "rule 'x'", "round_robin", reps, PoolState(), acct)
    assert d.rep == "carl" and d.explanation == "account acme.com is owned by carl"
    away = AccountMatch("acme.com", Candidate("carl", away=True))
    d = decide("p", "rule 'x'", "round_robin", reps, PoolState(), away)
    assert d.rep == "anna"
    assert d.explanation.startswith("account acme.com is owned by carl, but carl was away; ")


def test_company_domain_ignores_free_mail() -> None:
    assert company_domain("Ann@Acme.com") == "acme.com"
    assert company_domain("ann@gmail.com") is None


def test_random_availability_never_picks_an_unavailable_rep() -> None:
    rng = random.Random(7)
    state = PoolState()
    for _ in range(2000):
        reps = [
            Candidate(
                n,
                away=rng.random() < 0.3,
                load=rng.randint(0, 3),
                capacity=3,
                weight=rng.choice([1, 2]),
            )
            for n in "abcdef"
        ]
        for strategy in ("round_robin", "weighted_round_robin", "least_loaded"):
            d = pick("p", strategy, reps, state)
            if d.rep is None:
                assert all(r.unavailable() for r in reps)
            else:
                chosen = next(r for r in reps if r.name == d.rep)
                assert chosen.unavailable() is None
                state = d.state or state
