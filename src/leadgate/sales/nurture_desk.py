"""Nurture as sales ops drive it: enrol the leads already in nurture into a track, a
lead's nurture timeline, the mail outbox and replaying dead mail (the tracks themselves
are leadgate.sales.nurture).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadgate.sales import nurture, nurture_mail, view
from leadgate.sales.base import SalesBase
from leadgate.store.repository import Repository


class NurtureDesk(SalesBase):
    """Nurture enrolment, timeline and outbox."""

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
                "nurture": view.nurture(repo, lid),
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
        `nurture_mail.replay_dead_mail`. Returns how many were queued."""
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            return nurture_mail.replay_dead_mail(
                Repository(self.engine.db, conn), now, actor, message_id
            )
