"""What every part of the sales workflow shares: the rep and lead rows it reads, the
constants of the SLA jobs, and `SalesBase` (the engine, the compiled sales settings of the
active playbook, finding a lead by id or e-mail).

`leadgate.sales.service.Sales` is composed of the parts (reps, routing, qualification,
opportunities, the engine hooks, the scheduler, nurture): each is a class over
`SalesBase` in its own module, so a change to, say, SLA escalation is read in one file.

Times are epoch seconds; SQL is written with `?` placeholders (the repository maps
them). Lock order, to keep PostgreSQL deadlocks away: leads, then jobs, then pool
state — and the scheduler takes leads with SKIP LOCKED, never waiting.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadgate.engine.engine import Engine, NotFound
from leadgate.ingest.validate import check_email
from leadgate.sales.config import SalesConfig, build_config, sections_of
from leadgate.sales.playbook_sections import SalesSections
from leadgate.sales.view import active_version
from leadgate.store.repository import Repository, StoredLead, loads

ROLES = ("bdr", "ae", "manager")
OPEN_STAGES = ("mql", "sal", "sql", "sqo")
NOTICE_SLA = "lead.sla_breached"
_REP_COLS = (
    "name, role, team, email, timezone, hours, days, capacity, weight, away_until, active, "
    "created_at"
)

# The opportunity an AE is recording, handed to the SQO guard inside `set_stage`'s
# transaction so the row and the move commit together.
_PENDING_OPP: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "leadgate_pending_opportunity", default=None
)
# An AE named by hand for the SQL handoff (instead of the routing rules).
_PENDING_AE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "leadgate_pending_ae", default=None
)


@dataclass(frozen=True, slots=True)
class Rep:
    """A sales user as stored."""

    name: str
    role: str
    team: str | None
    email: str | None
    timezone: str | None
    hours: str | None
    days: str | None
    capacity: int | None
    weight: float
    away_until: float | None
    active: bool
    created_at: float

    def away(self, now: float) -> bool:
        """Out of office at `now`."""
        return self.away_until is not None and self.away_until > now


def _rep(row: Sequence[Any]) -> Rep:
    return Rep(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        float(row[8]),
        row[9],
        bool(row[10]),
        row[11],
    )


@dataclass(frozen=True, slots=True)
class LeadInfo:
    """What routing and the scheduler read of a lead."""

    id: int
    email: str
    attributes: dict[str, Any]
    scores: dict[str, float | None]
    stage: str
    owner: str | None
    stage_at: float


_INFO_COLS = "id, email, attributes, fit, engagement, score, stage, owner, stage_at"


def _info(row: Sequence[Any]) -> LeadInfo:
    return LeadInfo(
        row[0],
        row[1],
        loads(row[2]),
        {"fit": row[3], "engagement": row[4], "total": row[5]},
        row[6],
        row[7],
        row[8],
    )


def _lead_infos(
    repo: Repository, ids: Sequence[int], skip_locked: bool = False
) -> dict[int, LeadInfo]:
    """Leads by id; on PostgreSQL optionally locked, skipping those another writer holds."""
    if not ids:
        return {}
    if not repo.db.is_sqlite:
        lock = " ORDER BY id FOR UPDATE SKIP LOCKED" if skip_locked else ""
        cur = repo.execute(
            f"SELECT {_INFO_COLS} FROM leads WHERE id = ANY(?::int[]){lock}", [list(ids)]
        )
    else:
        marks = ",".join("?" * len(ids))
        cur = repo.execute(f"SELECT {_INFO_COLS} FROM leads WHERE id IN ({marks})", list(ids))
    return {r[0]: _info(r) for r in cur.fetchall()}


def _loads(repo: Repository, names: list[str]) -> dict[str, int]:
    """Open leads per rep (an index range per rep on ix_leads_owner_stage)."""
    if not names:
        return {}
    marks = ",".join("?" * len(OPEN_STAGES))
    names_marks = ",".join("?" * len(names))
    cur = repo.execute(
        f"SELECT owner, COUNT(*) FROM leads WHERE owner IN ({names_marks}) "
        f"AND stage IN ({marks}) GROUP BY owner",
        [*names, *OPEN_STAGES],
    )
    return {r[0]: int(r[1]) for r in cur.fetchall()}


class SalesBase:
    """The engine and the sales settings of its active playbook, compiled once per version."""

    def __init__(
        self,
        engine: Engine,
        sections: SalesSections | Mapping[str, Any] | None = None,
        framework: str | None = None,
    ):
        self.engine = engine
        if sections is not None and not isinstance(sections, SalesSections):
            sections = SalesSections.model_validate(dict(sections))
        self._override = sections
        self._framework = framework
        self._configs: dict[int, SalesConfig] = {}

    def config(self, repo: Repository | None = None) -> SalesConfig:
        """The sales settings of the active playbook (compiled once per version)."""
        if repo is None:
            with self.engine.db.read() as conn:
                return self.config(Repository(self.engine.db, conn))
        version = active_version(repo)
        cfg = self._configs.get(version)
        if cfg is None:
            pb = self.engine.stored_playbook(repo, version)
            if pb is None:
                from leadgate.engine.engine import NoPlaybook

                raise NoPlaybook("no active playbook: run `leadgate init`")
            sections = self._override or sections_of(pb)
            cfg = build_config(pb, version, sections, self._framework)
            self._configs[version] = cfg
        return cfg

    def _reps(self, repo: Repository) -> dict[str, Rep]:
        cur = repo.execute(f"SELECT {_REP_COLS} FROM sales_reps ORDER BY id")
        return {r.name: r for r in map(_rep, cur.fetchall())}

    def _lead(self, repo: Repository, lead: str | int, lock: bool = False) -> StoredLead:
        if isinstance(lead, int) or (isinstance(lead, str) and lead.isdigit()):
            s = repo.lead_by_id(int(lead), lock=lock)
            if s is None:
                raise NotFound(f"no lead with id {lead}")
            return s
        email = check_email(lead)
        s = repo.lead_by_email(email, lock=lock)
        if s is None:
            raise NotFound(f"no lead with email {email}")
        return s

    def _email_of(self, lead: str | int) -> str:
        with self.engine.db.read() as conn:
            return self._lead(Repository(self.engine.db, conn), lead).state.email
