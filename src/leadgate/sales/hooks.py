"""What the sales workflow does inside the engine's own transactions, so every path that
moves a lead (ingest, a manual move, the tick, a playbook change) gets the same treatment:

- a listener assigns new MQLs and starts their acceptance SLA, hands SQLs to an AE,
  closes opportunities, wakes nurture;
- a stage guard refuses SAL → SQL until the qualification policy passes, and SQO
  without an opportunity;
- a show extra adds owner, SLA, qualification and opportunity to `lead show`.
"""

from __future__ import annotations

from typing import Any

from leadgate.engine.engine import LeadChange, NotFound
from leadgate.lifecycle.stages import IllegalTransition, allowed_targets
from leadgate.routing.core import Decision
from leadgate.sales import nurture, view
from leadgate.sales.base import _PENDING_AE, _PENDING_OPP, _lead_infos
from leadgate.sales.config import SalesConfig
from leadgate.sales.opportunities import Opportunities
from leadgate.sales.qualification import Qualifying
from leadgate.sales.routing import Routing
from leadgate.store.repository import Repository, StoredLead


class EngineHooks(Routing, Qualifying, Opportunities):
    """The engine's listener, stage guard and show extra."""

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
            named = _PENDING_AE.get()
            ae: Decision | None = None
            if named:
                rep: str | None = s.reps[named].name
                why: str | None = f"handed to {rep}, named by hand"
            else:
                ae = self._decide(cfg, s, repo, infos[c.lead_id], "ae", now)
                rep = ae.rep if ae.rep else c.owner
                why = None if ae.rep else ae.explanation + "; stays with " + str(c.owner)
            notes = self._handoff_notes(repo, cfg, c.lead_id)
            self._assign(
                repo,
                s,
                cfg,
                c.lead_id,
                c.email,
                c.owner,
                rep,
                "ae",
                ae,
                "rule:handoff",
                None,
                now,
                notes,
                explanation=why,
            )
            c.owner = rep
        self._flush(s, repo, now)

    def _handoff_notes(self, repo: Repository, cfg: SalesConfig, lead_id: int) -> str:
        ans = view.answers(repo, lead_id, cfg.framework.name)
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
        cfg = self.config(repo)
        view.show_extra(repo, out, cfg.framework, cfg.policy, self.engine.clock())
