"""The sales workflow over the store: reps, assignment, SLA, qualification, handoff, SQO.

It rides on the engine's hooks, so every path that moves a lead (ingest, a manual
move, the tick, a playbook change) gets the same treatment:

- a listener, called inside the transaction that moved the lead, assigns new MQLs
  and starts their acceptance SLA, hands SQLs to an AE, closes opportunities;
- stage guards refuse SAL → SQL until the qualification policy passes, and SQO
  without an opportunity;
- a show extra adds owner, SLA, qualification and opportunity to `lead show`.

Times are epoch seconds; SQL is written with `?` placeholders (the repository maps
them). Lock order, to keep PostgreSQL deadlocks away: leads, then jobs, then pool
state — and the scheduler takes leads with SKIP LOCKED, never waiting.
"""

from __future__ import annotations

import contextvars
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from time import time_ns
from typing import Any

from leadgate.engine.engine import Engine, LeadChange, NotFound
from leadgate.ingest.validate import EventIn, InputError, check_email, iso
from leadgate.lifecycle.stages import IllegalTransition, allowed_targets
from leadgate.playbook.loader import load_playbook
from leadgate.qualification.frameworks import (
    Evaluation,
    QualificationError,
    evaluate,
    parse_status,
)
from leadgate.routing.core import AccountMatch, Candidate, Decision, PoolState, company_domain
from leadgate.routing.core import decide as route_decide
from leadgate.sales import nurture
from leadgate.sales.config import SalesConfig, build_config, sections_of
from leadgate.sales.playbook_sections import Pool, SalesSections
from leadgate.sla.calendar import BusinessCalendar, CalendarError, add_business_hours, zone
from leadgate.store.repository import Repository, StoredLead, dumps, loads
from leadgate.webhooks import enqueue as enqueue_webhook

ROLES = ("bdr", "ae", "manager")
OPEN_STAGES = ("mql", "sal", "sql", "sqo")
SLA_KIND = "sla_accept"
NOTICE_SLA = "lead.sla_breached"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._'@-]{0,99}$")
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


@dataclass
class _Session:
    """What routing reads once per transaction: reps, loads, pool rotation states."""

    reps: dict[str, Rep]
    loads: dict[str, int] | None = None
    states: dict[str, PoolState] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    # Writes batched until `_flush` (one executemany each instead of a round trip per
    # lead); accounts claimed in this transaction are read back from here.
    owners: list[tuple[str | None, int]] = field(default_factory=list)
    assignments: list[tuple[Any, ...]] = field(default_factory=list)
    accounts: dict[str, tuple[str, int, float]] = field(default_factory=dict)
    # `lead.assigned` webhooks, queued with the owners they announce.
    announced: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


class Sales:
    """The sales workflow over one engine. Create it with `install(engine)`."""

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

    # -- configuration --------------------------------------------------------------

    def config(self, repo: Repository | None = None) -> SalesConfig:
        """The sales settings of the active playbook (compiled once per version)."""
        if repo is None:
            with self.engine.db.read() as conn:
                return self.config(Repository(self.engine.db, conn))
        row = repo.execute("SELECT MAX(version) FROM playbooks").fetchone()
        version = row[0] if row else None
        if version is None:
            from leadgate.engine.engine import NoPlaybook

            raise NoPlaybook("no active playbook: run `leadgate init`")
        cfg = self._configs.get(version)
        if cfg is None:
            text = repo.playbook_version(version) or ""
            pb = load_playbook(text, f"playbook v{version}")
            sections = self._override or sections_of(pb, text)
            cfg = build_config(pb, version, sections, self._framework)
            self._configs[version] = cfg
        return cfg

    # -- reps -----------------------------------------------------------------------

    def add_rep(
        self,
        name: str,
        role: str,
        team: str | None = None,
        email: str | None = None,
        timezone: str | None = None,
        capacity: int | None = None,
        hours: str | None = None,
        days: str | None = None,
        weight: float = 1.0,
    ) -> dict[str, Any]:
        """Create a rep (and their team if new). Raises InputError naming the bad field."""
        name = name.strip()
        if not _NAME.match(name):
            raise InputError("name", f"'{name}' is not a rep name (letters, digits, . _ - ')")
        if role not in ROLES:
            raise InputError("role", f"'{role}' is not a role: one of {', '.join(ROLES)}")
        if email is not None:
            email = check_email(email)
        if capacity is not None and capacity < 1:
            raise InputError("capacity", "must be at least 1 (omit it for no limit)")
        if weight <= 0:
            raise InputError("weight", "must be above 0")
        try:
            if timezone is not None:
                zone(timezone)
            BusinessCalendar.build(timezone or "UTC", days or "mon-fri", hours or "09:00-17:00")
        except CalendarError as exc:
            raise InputError(exc.field, exc.message) from None
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            if repo.execute("SELECT 1 FROM sales_reps WHERE name = ?", [name]).fetchone():
                raise InputError("name", f"a rep named '{name}' exists already")
            if team:
                repo.execute(
                    "INSERT INTO sales_teams (name, created_at) VALUES (?, ?) "
                    "ON CONFLICT (name) DO NOTHING",
                    [team, now],
                )
            repo.execute(
                f"INSERT INTO sales_reps ({_REP_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [name, role, team, email, timezone, hours, days, capacity, weight, None, True, now],
            )
            self._route_unowned(repo, now)
        return self.rep(name)

    def update_rep(
        self,
        name: str,
        timezone: str | None,
        capacity: int | None,
        hours: str | None,
        days: str | None,
    ) -> dict[str, Any]:
        """Set a rep's time zone, capacity (None: no limit) and working hours and days
        (None: the defaults, 09:00-17:00 mon-fri), checked as `add_rep` checks them."""
        if capacity is not None and capacity < 1:
            raise InputError("capacity", "must be at least 1 (omit it for no limit)")
        try:
            if timezone is not None:
                zone(timezone)
            BusinessCalendar.build(timezone or "UTC", days or "mon-fri", hours or "09:00-17:00")
        except CalendarError as exc:
            raise InputError(exc.field, exc.message) from None
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            if name not in self._reps(repo):
                raise NotFound(f"no rep named '{name}'")
            repo.execute(
                "UPDATE sales_reps SET timezone = ?, capacity = ?, hours = ?, days = ? "
                "WHERE name = ?",
                [timezone, capacity, hours, days, name],
            )
        return self.rep(name)

    def _reps(self, repo: Repository) -> dict[str, Rep]:
        cur = repo.execute(f"SELECT {_REP_COLS} FROM sales_reps ORDER BY id")
        return {r.name: r for r in map(_rep, cur.fetchall())}

    def _rep_dict(self, r: Rep, load: int, now: float) -> dict[str, Any]:
        return {
            "name": r.name,
            "role": r.role,
            "team": r.team,
            "email": r.email,
            "timezone": r.timezone,
            "hours": r.hours,
            "days": r.days,
            "capacity": r.capacity,
            "weight": r.weight,
            "open_leads": load,
            "away": r.away(now),
            "away_until": iso(r.away_until),
            "active": r.active,
        }

    def reps(self) -> list[dict[str, Any]]:
        """Every rep with their open-lead count and whether they are away now."""
        now = self.engine.clock()
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            reps = self._reps(repo)
            loads = _loads(repo, list(reps))
        return [self._rep_dict(r, loads.get(r.name, 0), now) for r in reps.values()]

    def rep(self, name: str) -> dict[str, Any]:
        """One rep, or NotFound."""
        for r in self.reps():
            if r["name"] == name:
                return r
        raise NotFound(f"no rep named '{name}'")

    def set_away(self, name: str, until: str | float | date | None) -> dict[str, Any]:
        """Out of office until a moment (a bare date: back at the start of that day, in the
        rep's time zone). None: back now."""
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            r = self._reps(repo).get(name)
            if r is None:
                raise NotFound(f"no rep named '{name}'")
            ts = None if until is None else _parse_until(until, r.timezone or "UTC", now)
            repo.execute("UPDATE sales_reps SET away_until = ? WHERE name = ?", [ts, name])
            if ts is None or ts <= now:
                self._route_unowned(repo, now)
        return self.rep(name)

    # -- routing --------------------------------------------------------------------

    def _session(self, repo: Repository) -> _Session:
        return _Session(self._reps(repo))

    def _members(self, s: _Session, pool: Pool, exclude: frozenset[str]) -> list[Rep]:
        out = []
        if pool.reps:
            for n in pool.reps:
                r = s.reps.get(n)
                if r is not None and r.active and n not in exclude:
                    out.append(r)
        else:
            for r in s.reps.values():
                if not r.active or r.name in exclude:
                    continue
                if pool.team is not None and r.team != pool.team:
                    continue
                if pool.role is not None and r.role != pool.role:
                    continue
                out.append(r)
        return out

    def _candidate(
        self, s: _Session, repo: Repository, r: Rep, pool: Pool | None, now: float, load: bool
    ) -> Candidate:
        n = 0
        if load and (
            r.capacity is not None or (pool is not None and pool.strategy == "least_loaded")
        ):
            if s.loads is None:
                s.loads = _loads(repo, list(s.reps))
            n = s.loads.get(r.name, 0)
        weight = pool.weights.get(r.name, r.weight) if pool is not None else r.weight
        return Candidate(r.name, r.away(now), n, r.capacity, weight)

    def _pool_state(self, s: _Session, repo: Repository, pool: str, now: float) -> PoolState:
        st = s.states.get(pool)
        if st is None:
            repo.execute(
                "INSERT INTO sales_pool_state (pool, state, updated_at) VALUES (?, '{}', ?) "
                "ON CONFLICT (pool) DO NOTHING",
                [pool, now],
            )
            lock = "" if repo.db.is_sqlite else " FOR UPDATE"
            row = repo.execute(
                f"SELECT state FROM sales_pool_state WHERE pool = ?{lock}", [pool]
            ).fetchone()
            st = PoolState.from_json(loads(row[0]))
            s.states[pool] = st
        return st

    def _flush(self, s: _Session, repo: Repository, now: float) -> None:
        repo.executemany("UPDATE leads SET owner = ? WHERE id = ?", s.owners)
        repo.executemany(
            "INSERT INTO sales_assignments (lead_id, rep, previous, role, pool, strategy, "
            "explanation, actor, reason, notes, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            s.assignments,
        )
        repo.executemany(
            "INSERT INTO sales_accounts (domain, owner, lead_id, at) VALUES (?,?,?,?) "
            "ON CONFLICT (domain) DO NOTHING",
            [(d, *v) for d, v in s.accounts.items()],
        )
        enqueue_webhook(repo, s.announced, now)
        s.owners.clear()
        s.assignments.clear()
        s.accounts.clear()
        s.announced.clear()
        repo.executemany(
            "UPDATE sales_pool_state SET state = ?, updated_at = ? WHERE pool = ?",
            [(dumps(s.states[p].to_json()), now, p) for p in sorted(s.dirty)],
        )
        s.dirty.clear()

    def _decide(
        self,
        cfg: SalesConfig,
        s: _Session,
        repo: Repository,
        lead: LeadInfo,
        role: str,
        now: float,
        exclude: frozenset[str] = frozenset(),
    ) -> Decision:
        """Pick a rep for a lead: account owner first (for new MQLs), then the rules' pool.

        `exclude`: reps who may not have it (those who already let its SLA pass); an
        escalation skips account matching, since the account owner may be who missed it.
        """
        fields = dict(lead.attributes)
        fields.setdefault("email", lead.email)
        fields.setdefault("email_domain", lead.email.rsplit("@", 1)[-1])
        router = cfg.router if role == "bdr" else cfg.handoff_router
        pool_name, why = router.choose_pool(fields, lead.scores)
        pool = cfg.pools.get(pool_name) if pool_name else None
        account = None
        domain = company_domain(lead.email, cfg.free_domains)
        if role == "bdr" and cfg.sections.routing.account_matching and domain and not exclude:
            row = repo.execute(
                "SELECT owner FROM sales_accounts WHERE domain = ?", [domain]
            ).fetchone()
            pending = s.accounts.get(domain)
            if row is None and pending is not None:
                row = (pending[0],)  # claimed earlier in this transaction
            owner = s.reps.get(row[0]) if row else None
            if owner is not None and owner.active:
                account = AccountMatch(domain, self._candidate(s, repo, owner, None, now, True))
                if account.owner.unavailable() is None:
                    return route_decide(pool_name, why, "round_robin", [], PoolState(), account)
        if pool is None:
            return route_decide(None, why, "round_robin", [], PoolState(), account)
        members = self._members(s, pool, exclude)
        need_load = pool.strategy == "least_loaded" or any(r.capacity for r in members)
        cands = [self._candidate(s, repo, r, pool, now, need_load) for r in members]
        state = self._pool_state(s, repo, pool.name, now)
        d = route_decide(pool.name, why, pool.strategy, cands, state, account)
        if d.state is not None and d.pool is not None and d.rep is not None:
            s.states[d.pool] = d.state
            s.dirty.add(d.pool)
        return d

    def _assign(
        self,
        repo: Repository,
        s: _Session | None,
        cfg: SalesConfig,
        lead_id: int,
        email: str,
        previous: str | None,
        rep: str | None,
        role: str,
        d: Decision | None,
        actor: str,
        reason: str | None,
        now: float,
        notes: str | None = None,
        explanation: str | None = None,
    ) -> None:
        """Record an owner change (audited) and set the lead's owner column. With a session
        the writes wait for `_flush`, which every caller runs before its transaction ends."""
        row = (
            lead_id,
            rep,
            previous,
            role,
            d.pool if d else None,
            d.strategy if d else None,
            explanation or (d.explanation if d else ""),
            actor,
            reason,
            notes,
            now,
        )
        domain = company_domain(email, cfg.free_domains) if role == "bdr" else None
        if rep != previous:
            announce = (
                "lead.assigned",
                lead_id,
                {
                    "lead_id": lead_id,
                    "email": email,
                    "owner": rep,
                    "previous": previous,
                    "role": role,
                    "pool": row[4],
                    "strategy": row[5],
                    "explanation": row[6],
                    "actor": actor,
                    "reason": reason,
                    "at": iso(now),
                },
            )
            if s is None:
                enqueue_webhook(repo, [announce], now)
            else:
                s.announced.append(announce)
        if s is None:
            repo.execute("UPDATE leads SET owner = ? WHERE id = ?", [rep, lead_id])
            repo.execute(
                "INSERT INTO sales_assignments (lead_id, rep, previous, role, pool, strategy, "
                "explanation, actor, reason, notes, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
            if rep is not None and domain:
                repo.execute(
                    "INSERT INTO sales_accounts (domain, owner, lead_id, at) VALUES (?,?,?,?) "
                    "ON CONFLICT (domain) DO NOTHING",
                    [domain, rep, lead_id, now],
                )
            return
        s.owners.append((rep, lead_id))
        s.assignments.append(row)
        if rep is not None and domain and domain not in s.accounts:
            s.accounts[domain] = (rep, lead_id, now)
        if s.loads is not None:
            if previous in s.loads:
                s.loads[previous] -= 1
            if rep is not None:
                s.loads[rep] = s.loads.get(rep, 0) + 1

    # -- SLA ------------------------------------------------------------------------

    def due_at(self, cfg: SalesConfig, rep: Rep | None, start: float) -> float:
        """When an MQL given at `start` must be accepted or rejected."""
        hours = cfg.accept_within_hours
        if not cfg.sections.sla.business_hours:
            return start + hours * 3600.0
        cal = cfg.calendar(
            rep.timezone if rep else None, rep.hours if rep else None, rep.days if rep else None
        )
        return add_business_hours(start, hours, cal)

    def _start_sla(
        self,
        repo: Repository,
        cfg: SalesConfig,
        s: _Session,
        lead_id: int,
        rep: str | None,
        now: float,
    ) -> float:
        due = self.due_at(cfg, s.reps.get(rep) if rep else None, now)
        repo.execute(
            "INSERT INTO sales_jobs (kind, lead_id, rep, due_at, created_at) VALUES (?,?,?,?,?)",
            [SLA_KIND, lead_id, rep, due, now],
        )
        return due

    def _close_slas(self, repo: Repository, items: list[tuple[int, str]], now: float) -> None:
        repo.executemany(
            "UPDATE sales_jobs SET fired_at = ?, outcome = ?, fired_by = 'stage' "
            "WHERE lead_id = ? AND kind = ? AND fired_at IS NULL",
            [(now, outcome, lid, SLA_KIND) for lid, outcome in items],
        )

    # -- engine hooks ---------------------------------------------------------------

    def on_changes(self, repo: Repository, changes: list[LeadChange], now: float) -> None:
        """Engine listener: react to stage changes inside the transaction that made them."""
        moved = [c for c in changes if c.transitions or c.voided]
        if changes:
            # The newest compiled config, without a query on this hot path (ingest) once one
            # is compiled: a stale one only wakes an enrolment early, and its tick decides.
            latest = self._configs[max(self._configs)] if self._configs else self.config(repo)
            if latest.tracks.windowed:
                nurture.wake_branches(
                    repo, latest.tracks, [c.lead_id for c in changes if not c.created], now
                )
        if not moved:
            return
        cfg = self.config(repo)
        nurture.on_changes(repo, cfg.tracks, cfg.version, moved, now)
        close: list[tuple[int, str]] = []
        to_route: list[LeadChange] = []
        to_handoff: list[LeadChange] = []
        for c in moved:
            ts = c.transitions
            if not ts:
                # Only voided: a re-derivation took back an MQL (or more) with nothing
                # in its place; an open acceptance SLA for it is closed.
                if any(t.to_stage == "mql" for t in c.voided):
                    close.append((c.lead_id, "closed"))
                continue
            final = ts[-1].to_stage
            # A correction that only moved an owned MQL's moment keeps its rep and SLA.
            moved_mql = bool(c.voided and c.owner) and final == "mql"
            voided_mql = any(t.to_stage == "mql" for t in c.voided) and not moved_mql
            if any(t.from_stage == "mql" for t in ts) or voided_mql:
                close.append(
                    (
                        c.lead_id,
                        "accepted"
                        if final != "nurture" and any(t.to_stage == "sal" for t in ts)
                        else "closed",
                    )
                )
            if final == "mql" and any(t.to_stage == "mql" for t in ts) and not moved_mql:
                to_route.append(c)
            if final == "sql" and any(t.to_stage == "sql" for t in ts):
                to_handoff.append(c)
            for t in ts:
                if t.from_stage == "sqo" and t.to_stage != "sqo":
                    won = t.to_stage == "customer"
                    repo.execute(
                        "UPDATE sales_opportunities SET outcome = ?, outcome_reason = ?, "
                        "closed_at = ? WHERE lead_id = ? AND outcome IS NULL",
                        ["won" if won else "lost", t.reason, t.at, c.lead_id],
                    )
        # Jobs are closed before any pool state is locked (see the module's lock order).
        self._close_slas(repo, close, now)
        if not to_route and not to_handoff:
            return
        s = self._session(repo)
        infos = _lead_infos(repo, [c.lead_id for c in to_route + to_handoff])
        for c in to_route:
            lead = infos[c.lead_id]
            d = self._decide(cfg, s, repo, lead, "bdr", now)
            if d.rep != c.owner or d.rep is None:
                self._assign(
                    repo,
                    s,
                    cfg,
                    c.lead_id,
                    c.email,
                    c.owner,
                    d.rep,
                    "bdr",
                    d,
                    "rule:routing",
                    None,
                    now,
                )
            # The webhooks written after this listener (OutboxWriter runs last) announce
            # the owner this transaction gave, not the one the lead had before.
            c.owner = d.rep
            self._start_sla(repo, cfg, s, c.lead_id, d.rep, now)
        for c in to_handoff:
            lead = infos[c.lead_id]
            named = _PENDING_AE.get()
            notes = self._handoff_notes(repo, cfg, c.lead_id)
            if named:
                r = s.reps[named]
                self._assign(
                    repo,
                    s,
                    cfg,
                    c.lead_id,
                    c.email,
                    c.owner,
                    r.name,
                    "ae",
                    None,
                    "rule:handoff",
                    None,
                    now,
                    notes,
                    explanation=f"handed to {r.name}, named by hand",
                )
                c.owner = r.name
                continue
            d = self._decide(cfg, s, repo, lead, "ae", now)
            self._assign(
                repo,
                s,
                cfg,
                c.lead_id,
                c.email,
                c.owner,
                d.rep if d.rep else c.owner,
                "ae",
                d,
                "rule:handoff",
                None,
                now,
                notes,
                explanation=None if d.rep else d.explanation + "; stays with " + str(c.owner),
            )
            c.owner = d.rep if d.rep else c.owner
        self._flush(s, repo, now)

    def _handoff_notes(self, repo: Repository, cfg: SalesConfig, lead_id: int) -> str:
        ans = self._answers(repo, lead_id, cfg.framework.name)
        parts = []
        for k in cfg.framework.keys:
            a = ans.get(k)
            if a:
                parts.append(f"{k}: {a['status']}" + (f" ({a['note']})" if a["note"] else ""))
        return "; ".join(parts)

    def guard(self, repo: Repository, stored: StoredLead, to: str, now: float) -> None:
        """Engine stage guard: SQL needs the framework's policy passed, SQO an opportunity."""
        st = stored.state
        cfg = self.config(repo)
        allowed = allowed_targets(st.stage, cfg.playbook)
        if to not in allowed:
            return  # the core refuses it with its own message
        others = [a for a in allowed if a != to]
        if to == "sql":
            ev = self._evaluation(repo, cfg, st.id)  # type: ignore[arg-type]
            if not ev.passed:
                raise IllegalTransition(
                    "cannot move to 'sql': " + ev.message(cfg.framework.label), others
                )
            named = _PENDING_AE.get()
            if named is not None:
                r = self._reps(repo).get(named)
                if r is None or not r.active:
                    raise NotFound(f"no rep named '{named}'")
        if to == "sqo":
            pending = _PENDING_OPP.get()
            if pending is None and st.stage == "customer":
                # A won deal reopened (customer → sqo, with a reason): its opportunity is
                # open again, in this move's transaction.
                row = repo.execute(
                    "SELECT id FROM sales_opportunities WHERE lead_id = ? ORDER BY id DESC LIMIT 1",
                    [st.id],
                ).fetchone()
                if row is not None:
                    repo.execute(
                        "UPDATE sales_opportunities SET outcome = NULL, outcome_reason = NULL, "
                        "closed_at = NULL WHERE id = ?",
                        [row[0]],
                    )
                    return
            if pending is None:
                raise IllegalTransition(
                    "cannot move to 'sqo' without an opportunity: record its amount, currency "
                    "and expected close date (leadgate opportunity EMAIL ... / "
                    "POST /leads/{id}/opportunity)",
                    others,
                )
            repo.execute(
                "INSERT INTO sales_opportunities (lead_id, amount, currency, expected_close, ae, "
                "actor, created_at) VALUES (?,?,?,?,?,?,?)",
                [
                    st.id,
                    pending["amount"],
                    pending["currency"],
                    pending["expected_close"],
                    stored.owner,
                    pending["actor"],
                    now,
                ],
            )

    def show_extra(self, repo: Repository, out: dict[str, Any]) -> None:
        """Engine show extra: owner, SLA, qualification, opportunity, owner history."""
        lid = out["id"]
        now = self.engine.clock()
        cfg = self.config(repo)
        due = None
        if out["stage"] == "mql":
            row = repo.execute(
                "SELECT due_at FROM sales_jobs WHERE lead_id = ? AND kind = ? AND "
                "(outcome IS NULL OR outcome = 'breached') ORDER BY id DESC LIMIT 1",
                [lid, SLA_KIND],
            ).fetchone()
            due = row[0] if row else None
        out["sla_due_at"] = iso(due)
        out["sla_overdue"] = due is not None and now > due
        out["qualification"] = self._qualification_dict(repo, cfg, lid, history=False)
        out["opportunity"] = self._opportunity(repo, lid)
        out["nurture"] = nurture.show(repo, lid)
        out["assignments"] = [
            {
                "rep": r[0],
                "previous": r[1],
                "role": r[2],
                "explanation": r[3],
                "actor": r[4],
                "reason": r[5],
                "notes": r[6],
                "at": iso(r[7]),
            }
            for r in repo.execute(
                "SELECT rep, previous, role, explanation, actor, reason, notes, at "
                "FROM sales_assignments WHERE lead_id = ? ORDER BY at, id",
                [lid],
            ).fetchall()
        ]

    # -- qualification --------------------------------------------------------------

    def _answers(self, repo: Repository, lead_id: int, framework: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        cur = repo.execute(
            "SELECT criterion, status, note, actor, at, version FROM sales_qualification "
            "WHERE lead_id = ? AND framework = ? ORDER BY version, id",
            [lead_id, framework],
        )
        for crit, status, note, actor, at, version in cur.fetchall():
            out[crit] = {
                "status": status,
                "note": note,
                "by": actor,
                "at": iso(at),
                "version": version,
            }
        return out

    def _evaluation(self, repo: Repository, cfg: SalesConfig, lead_id: int) -> Evaluation:
        ans = self._answers(repo, lead_id, cfg.framework.name)
        return evaluate(cfg.framework, cfg.policy, {k: v["status"] for k, v in ans.items()})

    def _qualification_dict(
        self, repo: Repository, cfg: SalesConfig, lead_id: int, history: bool
    ) -> dict[str, Any]:
        fw = cfg.framework
        ans = self._answers(repo, lead_id, fw.name)
        ev = evaluate(fw, cfg.policy, {k: v["status"] for k, v in ans.items()})
        out: dict[str, Any] = {
            "framework": fw.name,
            "label": fw.label,
            "passed": ev.passed,
            "summary": ev.message(fw.label),
            "min_criteria_met": cfg.policy.min_criteria_met,
            "required": list(cfg.policy.required),
            "missing": list(ev.missing),
            "criteria": [
                {
                    "key": c.key,
                    "label": c.label,
                    "prompt": c.prompt,
                    "status": ans.get(c.key, {}).get("status", "unknown"),
                    "note": ans.get(c.key, {}).get("note"),
                    "by": ans.get(c.key, {}).get("by"),
                    "at": ans.get(c.key, {}).get("at"),
                }
                for c in fw.criteria
            ],
        }
        if history:
            cur = repo.execute(
                "SELECT version, criterion, status, note, actor, at FROM sales_qualification "
                "WHERE lead_id = ? ORDER BY version, id",
                [lead_id],
            )
            out["history"] = [
                {
                    "version": r[0],
                    "criterion": r[1],
                    "status": r[2],
                    "note": r[3],
                    "by": r[4],
                    "at": iso(r[5]),
                }
                for r in cur.fetchall()
            ]
        return out

    def qualify(
        self,
        lead: str | int,
        answers: Mapping[str, str],
        notes: Mapping[str, str] | None = None,
        actor: str = "user",
    ) -> dict[str, Any]:
        """Record answers (criterion → met/not_met/unknown) and notes as a new version.

        A note without an answer keeps the criterion's current status. Raises
        QualificationError on an unknown criterion or value (nothing is saved then).
        """
        notes = dict(notes or {})
        if not answers and not notes:
            raise QualificationError("answers", "nothing to record: give at least one answer")
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            cfg = self.config(repo)
            fw = cfg.framework
            lead_row = self._lead(repo, lead, lock=True)
            lid = lead_row.state.id
            assert lid is not None
            clean: dict[str, tuple[str, str | None]] = {}
            current = self._answers(repo, lid, fw.name)
            for k, v in answers.items():
                key = fw.criterion(k).key
                clean[key] = (parse_status(v, key), None)
            for k, note in notes.items():
                key = fw.criterion(k).key
                status = (
                    clean[key][0] if key in clean else current.get(key, {}).get("status", "unknown")
                )
                clean[key] = (status, note.strip() or None)
            for key in list(clean):
                if key not in notes and key in current:
                    # A new answer without a note keeps the note already written.
                    clean[key] = (clean[key][0], current[key]["note"])
            row = repo.execute(
                "SELECT COALESCE(MAX(version), 0) FROM sales_qualification WHERE lead_id = ?",
                [lid],
            ).fetchone()
            version = int(row[0]) + 1
            repo.executemany(
                "INSERT INTO sales_qualification (lead_id, version, framework, criterion, "
                "status, note, actor, at) VALUES (?,?,?,?,?,?,?,?)",
                [
                    (lid, version, fw.name, k, st, note, actor, now)
                    for k, (st, note) in clean.items()
                ],
            )
            return self._qualification_dict(repo, cfg, lid, history=False)

    def qualification(self, lead: str | int) -> dict[str, Any]:
        """The lead's current answers, the policy verdict, and every version."""
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            cfg = self.config(repo)
            s = self._lead(repo, lead)
            return self._qualification_dict(repo, cfg, s.state.id, history=True)  # type: ignore[arg-type]

    # -- handoff, opportunity -------------------------------------------------------

    def promote_sql(self, email: str, actor: str, ae: str | None = None) -> dict[str, Any]:
        """SAL → SQL (guarded by the framework), handed to `ae` or by the routing rules."""
        token = _PENDING_AE.set(ae)
        try:
            self.engine.set_stage(email, "sql", None, actor)
        finally:
            _PENDING_AE.reset(token)
        return self.engine.show(email)

    def opportunity(
        self,
        lead: str | int,
        amount: float | str,
        currency: str,
        close_date: str | date,
        actor: str,
        backfill: bool = False,
    ) -> dict[str, Any]:
        """The AE accepts an SQL as an opportunity: SQL → SQO with amount, currency, close.
        A close date before today is refused unless `backfill` (recording a past deal)."""
        amt = _amount(amount)
        cur = _currency(currency)
        close = self._close_date(close_date, backfill)
        email = self._email_of(lead)
        token = _PENDING_OPP.set(
            {"amount": amt, "currency": cur, "expected_close": close.isoformat(), "actor": actor}
        )
        try:
            self.engine.set_stage(email, "sqo", None, actor)
        finally:
            _PENDING_OPP.reset(token)
        return self.engine.show(email)

    def update_opportunity(
        self,
        lead: str | int,
        actor: str,
        amount: float | str | None = None,
        currency: str | None = None,
        close_date: str | date | None = None,
        backfill: bool = False,
    ) -> dict[str, Any]:
        """Change the open opportunity's amount, currency or expected close. The change
        is kept as an `opportunity_updated` event on the lead (who, what was, what is)."""
        changes: dict[str, Any] = {}
        if amount is not None:
            changes["amount"] = _amount(amount)
        if currency is not None:
            changes["currency"] = _currency(currency)
        if close_date is not None:
            changes["expected_close"] = self._close_date(close_date, backfill).isoformat()
        if not changes:
            raise InputError("opportunity", "nothing to change: give amount, currency or close")
        email = self._email_of(lead)
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            lid = self._lead(repo, email).state.id
            row = repo.execute(
                "SELECT id, amount, currency, expected_close, outcome FROM sales_opportunities "
                "WHERE lead_id = ? ORDER BY id DESC LIMIT 1",
                [lid],
            ).fetchone()
            if row is None:
                raise NotFound(f"{email} has no opportunity (leadgate opportunity EMAIL ...)")
            if row[4] is not None:
                raise InputError(
                    "opportunity",
                    f"the opportunity is closed ({row[4]}); reopen the deal first with "
                    f"`leadgate stage set {email} sqo --reason R`",
                )
            was = {"amount": row[1], "currency": row[2], "expected_close": row[3]}
            sets = ", ".join(f"{k} = ?" for k in changes)
            repo.execute(
                f"UPDATE sales_opportunities SET {sets} WHERE id = ?", [*changes.values(), row[0]]
            )
        props = {
            "actor": actor,
            "changes": {k: {"was": was[k], "now": v} for k, v in changes.items()},
        }
        ev = EventIn(
            f"opp-{time_ns()}-{email}", email, "opportunity_updated", now, props, dumps(props)
        )
        self.engine.ingest([ev], now)
        return self.engine.show(email)

    def _close_date(self, close_date: str | date, backfill: bool) -> date:
        try:
            close = (
                close_date
                if isinstance(close_date, date)
                else date.fromisoformat(str(close_date).strip())
            )
        except ValueError:
            raise InputError("close_date", f"'{close_date}' is not a date (YYYY-MM-DD)") from None
        today = datetime.fromtimestamp(self.engine.clock(), UTC).date()
        if close < today and not backfill:
            raise InputError(
                "close_date",
                f"{close.isoformat()} is in the past (today is {today.isoformat()}); to "
                'record a deal after the fact, pass --backfill (HTTP: "backfill": true)',
            )
        return close

    # -- nurture enrolment of leads already in nurture -------------------------------

    def enrol(
        self, track: str, segment: Mapping[str, str], actor: str, dry_run: bool = False
    ) -> dict[str, Any]:
        """Enrol the leads already in nurture (in no track) that match `track` and the
        segment's field=value pairs: `leadgate nurture enrol --track T --segment k=v`."""
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            cfg = self.config(repo)
            n = nurture.enrol_existing(
                repo, cfg.tracks, cfg.version, track, segment, now, f"enrolled by {actor}", dry_run
            )
        return {"track": track, "segment": dict(segment), "enrolled": n, "dry_run": dry_run}

    def on_activate(self) -> dict[str, Any]:
        """Activation hook: every `retroactive: true` track enrols the leads already in
        nurture that match it and are in no track."""
        now = self.engine.clock()
        done: dict[str, int] = {}
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            cfg = self.config(repo)
            for t in cfg.tracks.section.tracks:
                if t.retroactive:
                    done[t.name] = nurture.enrol_existing(
                        repo, cfg.tracks, cfg.version, t.name, {}, now, "retroactive track"
                    )
        return {"nurture_enrolled": done} if done else {}

    def _opportunity(self, repo: Repository, lead_id: int) -> dict[str, Any] | None:
        row = repo.execute(
            "SELECT amount, currency, expected_close, ae, actor, created_at, outcome, "
            "outcome_reason, closed_at FROM sales_opportunities WHERE lead_id = ? "
            "ORDER BY id DESC LIMIT 1",
            [lead_id],
        ).fetchone()
        if row is None:
            return None
        return {
            "amount": row[0],
            "currency": row[1],
            "expected_close": row[2],
            "ae": row[3],
            "by": row[4],
            "created_at": iso(row[5]),
            "outcome": row[6] or "open",
            "outcome_reason": row[7],
            "closed_at": iso(row[8]),
        }

    # -- reassignment ---------------------------------------------------------------

    def assign(self, lead: str | int, rep: str, reason: str, actor: str) -> dict[str, Any]:
        """Give a lead to a named rep (audited; a reason is required). An MQL's SLA restarts."""
        if not reason or not reason.strip():
            raise InputError("reason", "a reassignment needs a reason")
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            cfg = self.config(repo)
            s = self._session(repo)
            r = s.reps.get(rep)
            if r is None or not r.active:
                raise NotFound(f"no rep named '{rep}'")
            lead_row = self._lead(repo, lead, lock=True)
            lid = lead_row.state.id
            assert lid is not None
            if lead_row.owner == rep:
                raise InputError("rep", f"the lead is already owned by {rep}")
            self._assign(
                repo,
                s,
                cfg,
                lid,
                lead_row.state.email,
                lead_row.owner,
                rep,
                r.role,
                None,
                actor,
                reason.strip(),
                now,
                explanation=f"reassigned by {actor}: {reason.strip()}",
            )
            if lead_row.state.stage == "mql":
                self._close_slas(repo, [(lid, "reassigned")], now)
                self._start_sla(repo, cfg, s, lid, rep, now)
            self._flush(s, repo, now)
            email = lead_row.state.email
        return self.engine.show(email)

    def _route_unowned(self, repo: Repository, now: float, limit: int = 500) -> int:
        """Route MQLs left without an owner (no rep could take them when they arrived),
        now that one may: called in the transaction that added a rep, brought one back
        from away, and by the scheduler tick (capacity freed, an absence that ended).
        The lead's acceptance SLA starts again with its new owner. Returns how many."""
        rows = repo.execute(
            "SELECT id FROM leads WHERE owner IS NULL AND stage = 'mql' ORDER BY id LIMIT ?",
            [limit],
        ).fetchall()
        if not rows:
            return 0
        cfg = self.config(repo)
        s = self._session(repo)
        if not any(r.active and r.role == "bdr" for r in s.reps.values()):
            return 0
        infos = _lead_infos(repo, [int(r[0]) for r in rows])
        routed: list[tuple[int, str]] = []
        for lid in sorted(infos):
            lead = infos[lid]
            d = self._decide(cfg, s, repo, lead, "bdr", now)
            if d.rep is None:
                continue
            self._assign(
                repo,
                s,
                cfg,
                lid,
                lead.email,
                None,
                d.rep,
                "bdr",
                d,
                "rule:routing",
                "a rep became available",
                now,
            )
            routed.append((lid, d.rep))
        self._close_slas(repo, [(lid, "routed") for lid, _ in routed], now)
        for lid, rep in routed:
            self._start_sla(repo, cfg, s, lid, rep, now)
        self._flush(s, repo, now)
        return len(routed)

    # -- scheduler ------------------------------------------------------------------

    def tick(
        self,
        now: float | None = None,
        worker: str = "scheduler",
        limit: int = 500,
        deliver: bool = True,
    ) -> dict[str, int]:
        """Fire what is due: the engine's timers (decay exits, cooldown ends), SLA deadlines,
        nurture steps; then (with `deliver`) send the mail outbox. Each due job or step
        fires once, however many workers tick at the same time."""
        now = self.engine.clock() if now is None else now
        with self.engine.db.read() as conn:
            # Nothing due is the common case. Asked in index order: PostgreSQL's generic plan
            # for a plain `next_due_at <= $1 LIMIT 1` (once psycopg has prepared it) is a
            # sequential scan of every lead, ~200 ms at 1M leads.
            timer = (
                Repository(self.engine.db, conn)
                .execute(
                    "SELECT next_due_at FROM leads WHERE next_due_at <= ? "
                    "ORDER BY next_due_at LIMIT 1",
                    [now],
                )
                .fetchone()
            )
        moved = self.engine.tick(now) if timer is not None else 0
        fired = breached = reassigned = 0
        while True:
            with self.engine.db.write() as conn:
                repo = Repository(self.engine.db, conn)
                done, b, r, full = self._fire_due(repo, now, worker, limit)
            fired += done
            breached += b
            reassigned += r
            if not full or done == 0:
                break
        routed = 0
        with self.engine.db.read() as conn:
            waiting = (
                Repository(self.engine.db, conn)
                .execute(
                    # Only when a BDR is in (not away): else the write would find no one.
                    "SELECT 1 FROM leads WHERE owner IS NULL AND stage = 'mql' AND EXISTS "
                    "(SELECT 1 FROM sales_reps WHERE role = 'bdr' AND active = ? AND "
                    "(away_until IS NULL OR away_until <= ?)) LIMIT 1",
                    [True, now],
                )
                .fetchone()
            )
        if waiting is not None:
            # An absence that ended or capacity that freed up may let a rep take them.
            with self.engine.db.write() as conn:
                routed = self._route_unowned(Repository(self.engine.db, conn), now)
        erased = self._retention(now)
        steps = queued = 0
        while True:
            with self.engine.db.write() as conn:
                repo = Repository(self.engine.db, conn)
                cfg = self.config(repo)
                c, full = nurture.fire_due(repo, cfg.tracks, now, limit)
            steps += c.steps
            queued += c.queued
            if not full or c.fired == 0:
                break
        mail = nurture.MailCounts()
        if deliver:
            tracks = self.config().tracks
            mail = nurture.deliver_mail(
                self.engine.db,
                tracks.mail_settings(),
                worker,
                now,
                stop_events=tracks.section.stop_on_events,
            )
        return {
            "transitions": moved,
            "jobs_fired": fired,
            "sla_breached": breached,
            "reassigned": reassigned,
            "routed": routed,
            "erased": erased,
            "nurture_steps": steps,
            "messages_queued": queued,
            "messages_sent": mail.sent,
            "messages_failed": mail.failed + mail.dead,
        }

    def _retention(self, now: float) -> int:
        """The playbook's `retention:` (leadgate.privacy.retention), at most once an hour
        per process: finding the inactive leads reads the stages it names."""
        from leadgate.privacy.retention import RETENTION_EVERY, apply_retention

        last = getattr(self, "_retention_at", None)
        if last is not None and now - last < RETENTION_EVERY:
            return 0
        self._retention_at = now
        if self.engine.processor().playbook.retention is None:
            return 0
        return int(apply_retention(self.engine)["count"])

    def _fire_due(
        self, repo: Repository, now: float, worker: str, limit: int
    ) -> tuple[int, int, int, bool]:
        skip = "" if repo.db.is_sqlite else " FOR UPDATE SKIP LOCKED"
        jobs = repo.execute(
            "SELECT id, kind, lead_id, rep, due_at FROM sales_jobs "
            f"WHERE fired_at IS NULL AND due_at <= ? ORDER BY due_at LIMIT ?{skip}",
            [now, limit],
        ).fetchall()
        if not jobs:
            return 0, 0, 0, False
        # A lead someone else is moving right now waits for the next tick, so a worker
        # never blocks (nor deadlocks) on a busy lead.
        infos = _lead_infos(repo, sorted({j[2] for j in jobs}), skip_locked=True)
        cfg = self.config(repo)
        esc = cfg.sections.sla.escalation
        s = self._session(repo)
        marks_out: list[tuple[float, str, str, int]] = []
        notices: list[tuple[str, int, str, float]] = []
        hooks: list[tuple[str, int, dict[str, Any]]] = []
        new_jobs: list[tuple[Any, ...]] = []
        cycles = self._sla_cycles(repo, infos) if esc.reassign else {}
        breached = reassigned = 0
        for jid, kind, lid, rep, due in jobs:
            lead = infos.get(lid)
            if lead is None:
                continue
            email = lead.email
            if kind != SLA_KIND or lead.stage != "mql" or lead.owner != rep:
                marks_out.append((now, "stale", worker, jid))
                continue
            breached += 1
            outcome = "breached"
            new_rep = None
            if esc.reassign:
                cycle = cycles.get(lid, [])
                n = sum(1 for c in cycle if c[1] == "reassigned")
                if n < esc.max_reassignments:
                    missed = frozenset(c[0] for c in cycle if c[0] is not None)
                    d = self._decide(cfg, s, repo, lead, "bdr", now, exclude=missed | {rep or ""})
                    if d.rep is not None:
                        h = cfg.accept_within_hours
                        hours = f"{h:g} business hour" + ("" if h == 1 else "s")
                        self._assign(
                            repo,
                            s,
                            cfg,
                            lid,
                            email,
                            rep,
                            d.rep,
                            "bdr",
                            d,
                            "rule:sla",
                            f"SLA breached: not accepted within {hours}"
                            + (f" by {rep}" if rep else ""),
                            now,
                        )
                        new_rep = d.rep
                        outcome = "reassigned"
                        reassigned += 1
            marks_out.append((now, outcome, worker, jid))
            if esc.notify:
                webhook_data = {
                    "lead_id": lid,
                    "email": email,
                    "owner": rep,
                    "due_at": iso(due),
                    "breached_at": iso(now),
                    "reassigned_to": new_rep,
                }
                hooks.append((NOTICE_SLA, lid, webhook_data))
                notices.append((NOTICE_SLA, lid, dumps(webhook_data), now))
            if new_rep is not None:
                # The old job is marked below; the new owner gets a fresh clock.
                new_jobs.append(
                    (SLA_KIND, lid, new_rep, self.due_at(cfg, s.reps.get(new_rep), now), now)
                )
        repo.executemany(
            "INSERT INTO sales_jobs (kind, lead_id, rep, due_at, created_at) VALUES (?,?,?,?,?)",
            new_jobs,
        )
        enqueue_webhook(repo, hooks, now)
        repo.executemany(
            "UPDATE sales_jobs SET fired_at = ?, outcome = ?, fired_by = ? WHERE id = ?",
            marks_out,
        )
        repo.executemany(
            "INSERT INTO sales_notices (kind, lead_id, payload, at) VALUES (?,?,?,?)", notices
        )
        self._flush(s, repo, now)
        return len(marks_out), breached, reassigned, len(jobs) == limit

    def _sla_cycles(
        self, repo: Repository, infos: Mapping[int, LeadInfo]
    ) -> dict[int, list[tuple[str | None, str | None]]]:
        """Per lead, its SLA jobs of the current MQL cycle (rep, outcome): one query."""
        if not infos:
            return {}
        ids = sorted(infos)
        if repo.db.is_sqlite:
            marks = ",".join("?" * len(ids))
            cur = repo.execute(
                "SELECT lead_id, rep, outcome, created_at FROM sales_jobs "
                f"WHERE lead_id IN ({marks}) AND kind = ?",
                [*ids, SLA_KIND],
            )
        else:
            cur = repo.execute(
                "SELECT lead_id, rep, outcome, created_at FROM sales_jobs "
                "WHERE lead_id = ANY(?::int[]) AND kind = ?",
                [ids, SLA_KIND],
            )
        out: dict[int, list[tuple[str | None, str | None]]] = {}
        for lid, rep, outcome, created in cur.fetchall():
            if created >= infos[lid].stage_at:
                out.setdefault(lid, []).append((rep, outcome))
        return out

    def nurture(self, lead: str | int) -> dict[str, Any]:
        """A lead's nurture enrolment and timeline (None when never enrolled)."""
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            s = self._lead(repo, lead)
            lid = s.state.id
            assert lid is not None
            return {
                "id": lid,
                "email": s.state.email,
                "stage": s.state.stage,
                "nurture": nurture.show(repo, lid),
            }

    def mail_outbox(self) -> dict[str, int]:
        """Nurture e-mail per status: pending, sent, dead, cancelled."""
        with self.engine.db.read() as conn:
            rows = (
                Repository(self.engine.db, conn)
                .execute("SELECT status, COUNT(*) FROM sales_mail_outbox GROUP BY status")
                .fetchall()
            )
        out = {"pending": 0, "sent": 0, "dead": 0, "cancelled": 0}
        out.update({r[0]: int(r[1]) for r in rows})
        return out

    def replay_mail(self, message_id: str | None = None, actor: str = "cli") -> int:
        """Queue dead nurture e-mail again (all, or one by id); see
        `nurture.replay_dead_mail`. Returns how many were queued."""
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            return nurture.replay_dead_mail(
                Repository(self.engine.db, conn), now, actor, message_id
            )

    def notices(self, pending_only: bool = True, limit: int = 1000) -> list[dict[str, Any]]:
        """Notices for the webhook engine (`lead.sla_breached`), oldest first."""
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            where = " WHERE delivered_at IS NULL" if pending_only else ""
            cur = repo.execute(
                f"SELECT id, kind, lead_id, payload, at, delivered_at FROM sales_notices{where} "
                "ORDER BY id LIMIT ?",
                [limit],
            )
            return [
                {
                    "id": r[0],
                    "kind": r[1],
                    "lead_id": r[2],
                    "payload": loads(r[3]),
                    "at": iso(r[4]),
                    "delivered_at": iso(r[5]),
                }
                for r in cur.fetchall()
            ]

    def mark_delivered(self, ids: Iterable[int]) -> None:
        """The webhook engine delivered these notices."""
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            Repository(self.engine.db, conn).executemany(
                "UPDATE sales_notices SET delivered_at = ? WHERE id = ?",
                [(now, i) for i in ids],
            )

    # -- queue ----------------------------------------------------------------------

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
        return rank(rows, now)[:limit]

    # -- helpers --------------------------------------------------------------------

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


def _amount(amount: float | str) -> float:
    try:
        amt = float(amount)
    except (TypeError, ValueError):
        raise InputError("amount", f"'{amount}' is not a number") from None
    if not math.isfinite(amt) or amt <= 0:
        raise InputError("amount", "must be a positive number")
    return amt


def _currency(currency: str) -> str:
    cur = str(currency).strip().upper()
    if not _CURRENCY.match(cur):
        raise InputError("currency", f"'{currency}' is not a 3-letter ISO 4217 code (EUR)")
    return cur


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


def _parse_until(value: str | float | date, tz: str, now: float) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=zone(tz)).timestamp()
    text = str(value).strip()
    try:
        d = date.fromisoformat(text)
        return datetime.combine(d, time(0), tzinfo=zone(tz)).timestamp()
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InputError("until", f"'{value}' is not a date (YYYY-MM-DD or ISO 8601)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    return dt.timestamp()
