"""The sales workflow over the store: reps, assignment, SLA, qualification, handoff, SQO,
nurture — `Sales`, composed of one part per concept (each a module of its own):

- `reps` (RepDesk): add, edit, out of office;
- `routing` (Routing): who gets a lead, the acceptance SLA;
- `qualification` (Qualifying), `opportunities` (Opportunities): BANT, SQL, SQO;
- `hooks` (EngineHooks): the engine's listener, stage guard and show extra;
- `scheduler` (Scheduler): the tick; `nurture_desk` (NurtureDesk): enrolment, outbox;
- `base` (SalesBase): the engine and the compiled sales settings they all read.

Create it with `leadgate.sales.install(engine)`:

    sales = install(engine)
    sales.add_rep("ana", "bdr")
    sales.queue("ana")
"""

from __future__ import annotations

from typing import Any

from leadgate.engine.engine import NotFound
from leadgate.sales.base import OPEN_STAGES, LeadInfo, Rep, SalesBase
from leadgate.sales.hooks import EngineHooks
from leadgate.sales.nurture_desk import NurtureDesk
from leadgate.sales.reps import RepDesk
from leadgate.sales.scheduler import Scheduler
from leadgate.sales.view import SLA_KIND
from leadgate.store.repository import Repository

__all__ = ["LeadInfo", "Rep", "Sales", "SalesBase"]


class Sales(RepDesk, EngineHooks, Scheduler, NurtureDesk):
    """The sales workflow over one engine. Create it with `install(engine)`."""

    def queue(self, rep: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Open work by priority: SLA time left, then grade, then score; each with why."""
        from leadgate.sales.queue import rank

        self.tick(deliver=False)  # reading the queue must not wait on an SMTP server
        now = self.engine.clock()
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            if (
                rep is not None
                and not repo.execute("SELECT 1 FROM sales_reps WHERE name = ?", [rep]).fetchone()
            ):
                raise NotFound(f"no rep named '{rep}'")
            marks = ",".join("?" * len(OPEN_STAGES))
            params: list[Any] = [SLA_KIND, *OPEN_STAGES]
            where = f"l.stage IN ({marks})"
            if rep is not None:
                where += " AND l.owner = ?"
                params.append(rep)
            rows = repo.execute(
                "SELECT l.id, l.email, l.stage, l.owner, l.grade, l.fit_grade, "
                "l.engagement_grade, l.score, l.stage_at, "
                "(SELECT MAX(j.due_at) FROM sales_jobs j WHERE j.lead_id = l.id AND j.kind = ? "
                " AND (j.outcome IS NULL OR j.outcome = 'breached')) "
                f"FROM leads l WHERE {where}",
                params,
            ).fetchall()
        return rank(rows, now, limit)
