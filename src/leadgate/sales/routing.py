"""Who gets a lead: the account owner or the routing rules' pool (leadgate.routing.core
decides; this reads reps, loads and pool rotation states and writes the audited
assignment), and the acceptance SLA an MQL's owner starts with.

Writes are batched per transaction in a `_Session` and written by `_flush`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leadgate.engine.engine import NotFound
from leadgate.ingest.validate import InputError, iso
from leadgate.routing.core import AccountMatch, Candidate, Decision, PoolState, company_domain
from leadgate.routing.core import decide as route_decide
from leadgate.sales.base import LeadInfo, Rep, SalesBase, _lead_infos, _loads
from leadgate.sales.config import SalesConfig
from leadgate.sales.playbook_sections import Pool
from leadgate.sales.view import SLA_KIND
from leadgate.sla.calendar import CalendarError, add_business_hours
from leadgate.store.repository import Repository, dumps, loads
from leadgate.webhooks import enqueue as enqueue_webhook


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


class Routing(SalesBase):
    """Assignment (by the rules, by hand, of MQLs left unowned) and the acceptance SLA."""

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

    def due_at(self, cfg: SalesConfig, rep: Rep | None, start: float) -> float:
        """When an MQL given at `start` must be accepted or rejected."""
        hours = cfg.accept_within_hours
        if not cfg.sections.sla.business_hours:
            return start + hours * 3600.0
        cal = cfg.calendar(
            rep.timezone if rep else None, rep.hours if rep else None, rep.days if rep else None
        )
        try:
            return add_business_hours(start, hours, cal)
        except CalendarError:
            # The calendar holds less working time than the SLA within three years (a
            # rep who works a few minutes a week, holidays all year): the deadline is
            # counted in plain hours rather than failing the event that made the MQL.
            return start + hours * 3600.0

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
