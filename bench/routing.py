"""Routing decision latency.

    .venv/bin/python bench/routing.py [--n 100000]

1. The pure decision: 6 ordered rules (territory, segment, score), a pool of 12 reps,
   each strategy, some reps away or full — what runs for every MQL.
2. The same decision as the sales workflow makes it inside a SQLite transaction:
   reps, account lookup, pool rotation state read and written.
Target: under 1 ms p99.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, percentile
from leadgate.engine.engine import Engine
from leadgate.playbook.conditions import compile_condition
from leadgate.playbook.model import FieldCondition, ScoreCondition
from leadgate.routing import Candidate, PoolState, Router, RoutingRule, decide
from leadgate.sales import install
from leadgate.sales.service import LeadInfo
from leadgate.store.database import Database
from leadgate.store.repository import Repository

COUNTRIES = ["DE", "FR", "IT", "US", "GB", "DK", "ES", "NL", "JP", "BR"]


def router() -> Router:
    def fc(field: str, op: str, value: object) -> RoutingRule:
        cond = FieldCondition(field=field, op=op, value=value)
        return RoutingRule(f"{field} {op}", f"pool-{field}", compile_condition(cond))

    rules = [
        fc("country", "in", ["DE", "AT", "CH"]),
        fc("country", "in", ["FR", "BE"]),
        fc("industry", "in", ["banking", "insurance"]),
        fc("company_size", "gt", 5000),
        RoutingRule(
            "hot", "pool-hot", compile_condition(ScoreCondition(score="total", op="gte", value=90))
        ),
        fc("job_title", "matches", "(?i)chief|vp"),
    ]
    return Router(rules, "pool-rest")


def pure(n: int) -> list[float]:
    rng = random.Random(1)
    r = router()
    leads = [
        (
            {
                "country": rng.choice(COUNTRIES),
                "industry": rng.choice(["retail", "banking", "saas"]),
                "company_size": rng.randint(1, 10_000),
                "job_title": rng.choice(["VP Sales", "dev"]),
            },
            {"fit": 40.0, "engagement": 30.0, "total": float(rng.randint(0, 100))},
        )
        for _ in range(1000)
    ]
    states: dict[str, PoolState] = {}
    out = []
    strategies = ["round_robin", "weighted_round_robin", "least_loaded"]
    for i in range(n):
        fields, scores = leads[i % 1000]
        t = time.perf_counter()
        pool, why = r.choose_pool(fields, scores)
        assert pool is not None
        cands = [
            Candidate(
                f"rep{j}", away=(i + j) % 11 == 0, load=(i * j) % 40, capacity=35, weight=1 + j % 3
            )
            for j in range(12)
        ]
        d = decide(pool, why, strategies[i % 3], cands, states.get(pool, PoolState()))
        if d.state is not None:
            states[pool] = d.state
        out.append((time.perf_counter() - t) * 1e6)
    return out


def in_store(n: int) -> list[float]:
    with tempfile.TemporaryDirectory() as d:
        db = Database(f"sqlite:///{d}/r.db")
        db.migrate()
        eng = Engine(db)
        eng.ensure_playbook()
        sales = install(eng)
        for j in range(12):
            sales.add_rep(f"rep{j}", "bdr", capacity=10_000)
        out = []
        with db.write() as conn:
            repo = Repository(db, conn)
            cfg = sales.config(repo)
            for i in range(n):
                info = LeadInfo(
                    i,
                    f"x{i}@co{i % 500}.com",
                    {"country": COUNTRIES[i % 10]},
                    {"fit": 40.0, "engagement": 30.0, "total": 70.0},
                    "mql",
                    None,
                    0.0,
                )
                t = time.perf_counter()
                s = sales._session(repo)
                dec = sales._decide(cfg, s, repo, info, "bdr", 1.0)
                sales._flush(s, repo, 1.0)
                out.append((time.perf_counter() - t) * 1e6)
                assert dec.rep is not None
        db.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    print(f"== routing decision — {args.n:,} decisions, 6 rules, 12 reps")
    print(f"   {machine()}")
    for label, fn, n in (
        ("pure decision", pure, args.n),
        ("in SQLite txn (reps, account, pool state)", in_store, args.n // 10),
    ):
        us = fn(n)
        print(
            f"   {label:<44} p50 {percentile(us, 50):7.1f} µs   p99 {percentile(us, 99):7.1f} µs"
            f"   max {max(us):8.1f} µs   (target p99 < 1000 µs)"
        )


if __name__ == "__main__":
    main()
