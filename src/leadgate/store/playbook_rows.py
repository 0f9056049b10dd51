"""Playbook versions: every version ever activated is kept; the latest is active.

Example:
    with db.write() as conn:
        version = Repository(db, conn).add_playbook("default", text, "user:ann", now)
"""

from __future__ import annotations

import hashlib
from typing import Any

from leadgate.store.statements import Statements


class PlaybookRows(Statements):
    """The playbooks table."""

    def active_playbook(self) -> tuple[int, str] | None:
        """(version, yaml) of the active playbook: the latest activated."""
        row = self.execute(
            "SELECT version, yaml FROM playbooks ORDER BY version DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else None

    def playbook_version(self, version: int) -> str | None:
        """The YAML of one stored version."""
        row = self.execute("SELECT yaml FROM playbooks WHERE version = ?", [version]).fetchone()
        return row[0] if row else None

    def add_playbook(self, name: str, text: str, actor: str, now: float) -> int:
        """Store a new active version and return its number."""
        row = self.execute("SELECT COALESCE(MAX(version), 0) FROM playbooks").fetchone()
        version = int(row[0]) + 1
        self.execute(
            "INSERT INTO playbooks (version, name, yaml, sha256, activated_at, activated_by) "
            "VALUES (?,?,?,?,?,?)",
            [version, name, text, hashlib.sha256(text.encode()).hexdigest(), now, actor],
        )
        return version

    def playbook_versions(self) -> list[tuple[Any, ...]]:
        """Every version ever active: (version, name, sha256, activated_at, activated_by)."""
        cur = self.execute(
            "SELECT version, name, sha256, activated_at, activated_by FROM playbooks "
            "ORDER BY version"
        )
        return [tuple(r) for r in cur.fetchall()]
