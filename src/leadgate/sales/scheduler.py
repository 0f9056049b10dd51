"""The scheduler's tick: the engine's timers, SLA deadlines (breach, escalation,
reassignment), MQLs waiting for a rep, retention (inactive leads, old anonymous browser
events), nurture steps, the mail outbox; and the
notices it leaves for the webhook engine. Each due job fires once however many workers
tick (SKIP LOCKED on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from leadgate.ingest.validate import iso
from leadgate.sales import nurture_mail, nurture_steps
from leadgate.sales.base import NOTICE_SLA, LeadInfo, _lead_infos
from leadgate.sales.routing import Routing
from leadgate.sales.view import SLA_KIND
from leadgate.store.repository import Repository, dumps, loads
from leadgate.webhooks import enqueue as enqueue_webhook


class _Due(NamedTuple):
    """Which of a tick's kinds of work has something due."""

    timer: bool  # a lead's timer (decay exit, cooldown end)
    jobs: bool  # an SLA deadline
    waiting: bool  # an MQL without an owner while a BDR is in
    steps: bool  # a nurture step


class Scheduler(Routing):
    """What fires when its time comes."""

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
        due = self._due(now)
        moved = self.engine.tick(now) if due.timer else 0
        fired = breached = reassigned = 0
        while due.jobs:
            with self.engine.db.write() as conn:
                repo = Repository(self.engine.db, conn)
                done, b, r, full = self._fire_due(repo, now, worker, limit)
            fired += done
            breached += b
            reassigned += r
            if not full or done == 0:
                break
        routed = 0
        if due.waiting:
            # An absence that ended or capacity that freed up may let a rep take them.
            with self.engine.db.write() as conn:
                routed = self._route_unowned(Repository(self.engine.db, conn), now)
        erased = self._retention(now)
        purged = self._purge_visitors(now)
        steps = queued = 0
        while due.steps:
            with self.engine.db.write() as conn:
                repo = Repository(self.engine.db, conn)
                cfg = self.config(repo)
                c, full = nurture_steps.fire_due(repo, cfg.tracks, now, limit)
            steps += c.steps
            queued += c.queued
            if not full or c.fired == 0:
                break
        mail = nurture_mail.MailCounts()
        if deliver:
            tracks = self.config().tracks
            mail = nurture_mail.deliver_mail(
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
            "visitor_events_purged": purged,
            "nurture_steps": steps,
            "messages_queued": queued,
            "messages_sent": mail.sent,
            "messages_failed": mail.failed + mail.dead,
        }

    def _due(self, now: float) -> _Due:
        """What this tick has to do, asked in one read transaction.

        Nothing due is the common case, and the server ticks every 15 s: a write
        transaction for nothing would still commit, and on SQLite it counts as a write
        by someone else, so the engine's next ingest reads its leads from the store
        again instead of its cache. Each question is answered in index order
        (PostgreSQL's generic plan for a bare `x <= $1 LIMIT 1` reads the whole table).
        """
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)

            def one(sql: str, params: list[Any]) -> bool:
                return repo.execute(sql, params).fetchone() is not None

            return _Due(
                timer=one(
                    "SELECT 1 FROM leads WHERE next_due_at <= ? ORDER BY next_due_at LIMIT 1",
                    [now],
                ),
                jobs=one(
                    "SELECT 1 FROM sales_jobs WHERE fired_at IS NULL AND due_at <= ? "
                    "ORDER BY due_at LIMIT 1",
                    [now],
                ),
                # Only when a BDR is in (not away): else the write would find no one.
                waiting=one(
                    "SELECT 1 FROM leads WHERE owner IS NULL AND stage = 'mql' AND EXISTS "
                    "(SELECT 1 FROM sales_reps WHERE role = 'bdr' AND active = ? AND "
                    "(away_until IS NULL OR away_until <= ?)) LIMIT 1",
                    [True, now],
                ),
                # `status = 'active'` literally, so the partial index applies.
                steps=one(
                    "SELECT 1 FROM sales_nurture_enrolments WHERE status = 'active' "
                    "AND next_due_at <= ? ORDER BY next_due_at LIMIT 1",
                    [now],
                ),
            )

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

    def _purge_visitors(self, now: float) -> int:
        """Anonymous browser events past `retention.anonymous_events_days`
        (leadgate.privacy.visitors), at most once an hour per process."""
        from leadgate.privacy.visitors import PURGE_EVERY, purge_visitor_events

        last = getattr(self, "_purged_at", None)
        if last is not None and now - last < PURGE_EVERY:
            return 0
        self._purged_at = now
        return int(purge_visitor_events(self.engine, now=now)["events"])

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
