"""Several schedulers on one PostgreSQL database: every due job fires exactly once."""

from __future__ import annotations

from typing import Any

from leadgate.store.repository import Repository
from tests.sales.conftest import overdue_mqls, race_ticks


def test_two_workers_race_on_the_same_due_jobs(postgres_url: str, clock: Any) -> None:
    n_leads = 120
    setup = overdue_mqls(postgres_url, clock, n_leads)
    for _round in range(3):
        results = race_ticks(postgres_url, clock, limit=7)
        breached = sum(r["sla_breached"] for r in results)
        assert breached == n_leads  # every lead's job fired once, by one worker or the other
        clock.advance(2 * 3600)
    with setup.db.read() as conn:
        repo = Repository(setup.db, conn)
        per_job = repo.execute(
            "SELECT COUNT(*) FROM sales_jobs WHERE fired_at IS NOT NULL AND outcome IN "
            "('breached', 'reassigned')"
        ).fetchone()[0]
        notices = repo.execute("SELECT COUNT(*) FROM sales_notices").fetchone()[0]
        by_lead = repo.execute(
            "SELECT lead_id, COUNT(*) FROM sales_notices GROUP BY lead_id"
        ).fetchall()
        workers = {r[0] for r in repo.execute("SELECT DISTINCT fired_by FROM sales_jobs")}
    assert per_job == notices == 3 * n_leads
    assert all(c == 3 for _, c in by_lead)
    assert {"w0", "w1"} <= workers  # both took part
    setup.db.dispose()
