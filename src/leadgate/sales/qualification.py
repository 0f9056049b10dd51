"""Qualification (BANT or the playbook's framework): answers recorded as versions, the
policy's verdict (leadgate.qualification.frameworks decides), the SAL → SQL guard's input.

    sales.qualify("ana@acme.io", {"budget": "met", "authority": "unknown"}, actor="ana")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadgate.qualification.frameworks import (
    Evaluation,
    QualificationError,
    evaluate,
    parse_status,
)
from leadgate.sales import view
from leadgate.sales.base import SalesBase
from leadgate.sales.config import SalesConfig
from leadgate.store.repository import Repository


class Qualifying(SalesBase):
    """A lead's qualification answers and verdict."""

    def _evaluation(self, repo: Repository, cfg: SalesConfig, lead_id: int) -> Evaluation:
        ans = view.answers(repo, lead_id, cfg.framework.name)
        return evaluate(cfg.framework, cfg.policy, {k: v["status"] for k, v in ans.items()})

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
            if any(note.strip() for note in notes.values()):
                from leadgate.sales.activity import erased_lead

                erased = erased_lead(lead_row.state.email, lid)
                if erased is not None:
                    # Answers alone (met, not met) say nothing about the person.
                    raise QualificationError("notes", f"{erased} (answers without notes are)")
            clean: dict[str, tuple[str, str | None]] = {}
            current = view.answers(repo, lid, fw.name)
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
            return view.qualification(repo, fw, cfg.policy, lid, history=False)

    def qualification(self, lead: str | int) -> dict[str, Any]:
        """The lead's current answers, the policy verdict, and every version."""
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            cfg = self.config(repo)
            s = self._lead(repo, lead)
            return view.qualification(repo, cfg.framework, cfg.policy, s.state.id, history=True)  # type: ignore[arg-type]
