"""Round-robin fairness through the store: 10,000 MQLs routed in the transactions that made
them, the rotation persisted between transactions (the core test checks the pure rule)."""

from __future__ import annotations

from collections import Counter

import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.sales import install
from leadgate.store.repository import Repository
from tests.sales.conftest import ALWAYS


@pytest.mark.slow
def test_round_robin_fairness_over_10000_stored_assignments(engine: Engine) -> None:
    s = install(engine)
    reps = ["anna", "bo", "carl", "dina", "emil", "fay", "gus"]
    for name in reps:
        s.add_rep(name, "bdr", **ALWAYS)
    now = engine.clock()
    n = 10_000
    for start in range(0, n, 1000):
        engine.ingest(
            [
                # One company per lead: no account matching, pure rotation.
                parse_event(
                    {"email": f"l{i}@co{i}.com", "type": "demo_request", "id": f"d{i}"}, now
                )
                for i in range(start, start + 1000)
            ]
        )
    with engine.db.read() as conn:
        rows = (
            Repository(engine.db, conn)
            .execute("SELECT rep, strategy FROM sales_assignments ORDER BY id")
            .fetchall()
        )
    assert len(rows) == n
    assert {r[1] for r in rows} == {"round_robin"}
    counts: Counter[str] = Counter()
    for i, (rep, _) in enumerate(rows):
        counts[rep] += 1
        # At every point, no rep is more than one lead ahead of another.
        assert max(counts[r] for r in reps) - min(counts[r] for r in reps) <= 1, i
    assert sorted(counts.values()) == [1428] * 3 + [1429] * 4
