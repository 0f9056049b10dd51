"""Stage history rows: appended, never updated or deleted; a re-derivation voids a row
by appending a correction that names it, and a person's move absorbed by the lifecycle
(from == to, see `leads.derivation`) is kept as a fact no reader shows.

Example:
    with db.read() as conn:
        history, corrections = Repository(db, conn).history_with_corrections(lead_id)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadgate.lifecycle.stages import Transition
from leadgate.store.statements import Statements


class HistoryRows(Statements):
    """The transitions table (and the playbook eras a re-derivation reads with it)."""

    def insert_transitions(
        self, items: Sequence[tuple[int, Transition]], playbook_version: int | None
    ) -> None:
        """Append stage changes (never updated, never deleted)."""
        self.executemany(
            "INSERT INTO transitions (lead_id, from_stage, to_stage, at, actor, reason, "
            "playbook_version) VALUES (?,?,?,?,?,?,?)",
            [
                (lid, t.from_stage, t.to_stage, t.at, t.actor, t.reason, playbook_version)
                for lid, t in items
            ],
        )

    def history(self, lead_id: int) -> list[tuple[Any, ...]]:
        """A lead's stage history as it stands (from, to, at, actor, reason,
        playbook_version), oldest first: voided rows, corrections and absorbed moves
        (from == to, see `leads.derivation`) left out."""
        return [r[1:] for r in self.history_rows(lead_id) if r[1] != r[2]]

    def history_rows(self, lead_id: int) -> list[tuple[Any, ...]]:
        """The rows of `history` and the absorbed moves (the facts a re-derivation reads),
        each led by its id."""
        cur = self.execute(
            "SELECT id, from_stage, to_stage, at, actor, reason, playbook_version "
            "FROM transitions WHERE lead_id = ? AND voids IS NULL AND id NOT IN "
            "(SELECT voids FROM transitions WHERE lead_id = ? AND voids IS NOT NULL) "
            "ORDER BY at, id",
            [lead_id, lead_id],
        )
        return [tuple(r) for r in cur.fetchall()]

    def history_with_corrections(
        self, lead_id: int
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """`history` and `corrections` in one read of the lead's rows (what `lead show`
        asks on every call): the history rows, and (voided id, from, to, at, actor,
        reason, correction time) per correction."""
        cur = self.execute(
            "SELECT id, from_stage, to_stage, at, actor, reason, playbook_version, voids "
            "FROM transitions WHERE lead_id = ? ORDER BY at, id",
            [lead_id],
        )
        rows = cur.fetchall()
        fixes = [r for r in rows if r[7] is not None]
        # Absorbed moves (from == to) are facts no reader shows, nor their voiding.
        if not fixes:
            return [tuple(r[1:7]) for r in rows if r[1] != r[2]], []
        by_id = {r[0]: r for r in rows}
        voided = {r[7] for r in fixes}
        history = [
            tuple(r[1:7]) for r in rows if r[7] is None and r[0] not in voided and r[1] != r[2]
        ]
        fixes.sort(key=lambda r: r[0])
        corr = [
            (f[7], by_id[f[7]][1], by_id[f[7]][2], by_id[f[7]][3], f[4], f[5], f[3])
            for f in fixes
            if f[7] in by_id and by_id[f[7]][1] != by_id[f[7]][2]
        ]
        return history, corr

    def corrections(self, lead_id: int) -> list[tuple[Any, ...]]:
        """A lead's correction rows, oldest first: (voided id, the voided row's from, to
        and at, the correction's actor, reason and time)."""
        cur = self.execute(
            "SELECT c.voids, v.from_stage, v.to_stage, v.at, c.actor, c.reason, c.at "
            "FROM transitions c JOIN transitions v ON v.id = c.voids "
            "WHERE c.lead_id = ? AND c.voids IS NOT NULL ORDER BY c.id",
            [lead_id],
        )
        return [tuple(r) for r in cur.fetchall()]

    def void_transitions(
        self,
        lead_id: int,
        rows: Sequence[tuple[Any, ...]],
        at: float,
        reason: str,
        playbook_version: int | None,
    ) -> None:
        """Append one correction row per voided row ((id, from, to, ...) as from
        `history_rows`): the voided row stays, and readers of the history skip it."""
        self.executemany(
            "INSERT INTO transitions (lead_id, from_stage, to_stage, at, actor, reason, "
            "playbook_version, voids) VALUES (?,?,?,?,?,?,?,?)",
            [
                (lead_id, r[1], r[2], at, "rule:rederive", reason, playbook_version, r[0])
                for r in rows
            ],
        )

    def eras(self) -> list[tuple[int, float]]:
        """(version, activated_at) of every version ever active, oldest first."""
        cur = self.execute("SELECT version, activated_at FROM playbooks ORDER BY version")
        return [(int(v), float(a)) for v, a in cur.fetchall()]
