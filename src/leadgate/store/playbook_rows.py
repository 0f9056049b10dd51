"""Playbook versions: every version ever activated is kept; the latest is active.

Example:
    with db.write() as conn:
        version = Repository(db, conn).add_playbook("default", text, "user:ann", now)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadgate.store.statements import Statements

if TYPE_CHECKING:
    from leadgate.playbook.model import Playbook


_fingerprint: list[str] = []


def schema_fingerprint() -> str:
    """A digest of the code that validates playbooks (the source of
    leadgate.playbook.plain.SCHEMA_MODULES), leadgate's and pydantic's versions: the
    plain form of a version is used only by the code that made it (a new default, a
    validator that normalises differently would make other objects)."""
    if not _fingerprint:
        from pydantic.version import VERSION

        from leadgate import __version__
        from leadgate.playbook.plain import FORMAT, SCHEMA_MODULES

        root = Path(__file__).resolve().parent.parent
        # The release too: an install without the .py sources hashes only "missing".
        digest = hashlib.sha256(f"{FORMAT}:{VERSION}:{__version__}".encode())
        for rel in SCHEMA_MODULES:
            try:
                digest.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
            except OSError:
                digest.update(rel.encode() + b"\0missing\0")
        _fingerprint.append(digest.hexdigest())
    return _fingerprint[0]


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

    def stored_playbook(self, version: int) -> Playbook | None:
        """One stored version as the validated `Playbook` (None: no such version).

        From its plain form when it has a current one (leadgate.playbook.plain: no YAML
        parser, no validator built), else by validating its YAML (PlaybookError).
        """
        row = self.execute(
            "SELECT yaml, plain FROM playbooks WHERE version = ?", [version]
        ).fetchone()
        if row is None:
            return None
        from leadgate.playbook import plain

        pb = plain.loads(row[1], row[0], schema_fingerprint())
        if pb is None:
            from leadgate.playbook.loader import load_playbook

            pb = load_playbook(row[0], f"playbook v{version}")
        return pb

    def refresh_plain(self, version: int) -> bool:
        """Write the plain form of `version` again when it has none or one made by other
        code (an upgrade): reads then skip validating its YAML. True when written."""
        row = self.execute(
            "SELECT yaml, plain FROM playbooks WHERE version = ?", [version]
        ).fetchone()
        from leadgate.playbook import plain

        if row is None or plain.is_current(row[1], row[0], schema_fingerprint()):
            return False
        from leadgate.playbook.errors import PlaybookError
        from leadgate.playbook.loader import load_playbook

        try:
            form = plain.dumps(
                load_playbook(row[0], f"playbook v{version}"), row[0], schema_fingerprint()
            )
        except (PlaybookError, plain.Unplain):
            return False  # read by validating its YAML, as before
        self.execute("UPDATE playbooks SET plain = ? WHERE version = ?", [form, version])
        return True

    def lock_playbooks(self) -> None:
        """Until this transaction ends, no other may add a version (PostgreSQL: two
        activations at once both read the same highest version and one failed on the
        key). Reads are not blocked. SQLite has one writer at a time anyway."""
        if not self.db.is_sqlite:
            self.execute("LOCK TABLE playbooks IN SHARE ROW EXCLUSIVE MODE")

    def add_playbook(
        self, name: str, text: str, actor: str, now: float, playbook: Playbook | None = None
    ) -> int:
        """Store a new active version and return its number.

        `playbook`: what validating `text` made, kept in its plain form for the reads.
        """
        from leadgate.playbook import plain

        form = None
        if playbook is not None:
            try:
                form = plain.dumps(playbook, text, schema_fingerprint())
            except plain.Unplain:
                form = None  # read by validating the YAML
        self.lock_playbooks()
        row = self.execute("SELECT COALESCE(MAX(version), 0) FROM playbooks").fetchone()
        version = int(row[0]) + 1
        self.execute(
            "INSERT INTO playbooks (version, name, yaml, sha256, activated_at, activated_by, "
            "plain) VALUES (?,?,?,?,?,?,?)",
            [version, name, text, hashlib.sha256(text.encode()).hexdigest(), now, actor, form],
        )
        return version

    def playbook_versions(self) -> list[tuple[Any, ...]]:
        """Every version ever active: (version, name, sha256, activated_at, activated_by)."""
        cur = self.execute(
            "SELECT version, name, sha256, activated_at, activated_by FROM playbooks "
            "ORDER BY version"
        )
        return [tuple(r) for r in cur.fetchall()]
