"""Activating a playbook, and saying what it changed.

An identical text is not a new version: `playbook activate` answers
"unchanged (same as v2)" and rescoring nothing. A new text is stored as the next
version, every lead is rescored, and the answer counts the leads whose score and
whose stage changed, e.g.

    activated 'acme-2026' as version 3; rescored 5,000 leads: 812 changed score,
    41 changed stage (lead → mql 37, mql → nurture 4)

The counts come from the engine's listener hook (the `LeadChange`s the rescore
commits), so they cost no second pass over the store.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadgate.engine import identity, rescore
from leadgate.engine.changes import activation_hooks
from leadgate.leads.identity import has_rules
from leadgate.leads.processor import LeadProcessor
from leadgate.playbook.errors import PlaybookError
from leadgate.playbook.model import Playbook
from leadgate.store.repository import Repository

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine, LeadChange


@dataclass
class Activation:
    """What `activate` did: the version now active and what the rescore changed."""

    version: int
    playbook: Playbook
    rescored: int
    unchanged: bool = False
    score_changed: int = 0
    stage_changed: int = 0
    moves: dict[str, int] = field(default_factory=dict)
    # What plug-ins did on activation, e.g. {"nurture_enrolled": {"win-back": 12}}.
    extras: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON keys `playbook activate --json` and `PUT /playbook` add."""
        return {
            "version": self.version,
            "name": self.playbook.name,
            "rescored": self.rescored,
            "unchanged": self.unchanged,
            "same_as": self.version if self.unchanged else None,
            "score_changed": self.score_changed,
            "stage_changed": self.stage_changed,
            "moves": self.moves,
            "warnings": self.playbook.warnings(),
            **self.extras,
        }

    def summary(self) -> str:
        """One line for people."""
        if self.unchanged:
            return (
                f"unchanged (same as v{self.version}): '{self.playbook.name}' is already "
                "active; no new version, nothing rescored"
            )
        moves = ", ".join(f"{k} {v:,}" for k, v in self.moves.items())
        enrolled = "".join(
            f"; enrolled {n:,} leads already in nurture in track '{t}' (retroactive)"
            for t, n in self.extras.get("nurture_enrolled", {}).items()
        )
        check = self.extras.get("rescore") or {}
        verified = (
            f"; {check['set_based']:,} set-based, {check['verified']:,} of them checked "
            f"against the per-lead path: {check['disagreements']:,} disagreements"
            if check.get("set_based")
            else ""
        )
        return (
            f"activated '{self.playbook.name}' as version {self.version}; rescored "
            f"{self.rescored:,} leads: {self.score_changed:,} changed score, "
            f"{self.stage_changed:,} changed stage"
            + (f" ({moves})" if moves else "")
            + enrolled
            + verified
        )


class _ChangeCounter:
    """A listener counting the rescore's changes (only the activating thread's: an API
    process may commit other requests' changes meanwhile)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.score = 0
        self.stage = 0
        self.moves: Counter[str] = Counter()

    def __call__(self, repo: Repository, changes: list[LeadChange], now: float) -> None:
        if threading.get_ident() != self.thread:
            return
        for c in changes:
            if c.score_before is None or round(c.score_before, 2) != round(c.score_after, 2):
                self.score += 1
            if c.transitions:
                self.stage += 1
                first, last = c.transitions[0], c.transitions[-1]
                if first.from_stage != last.to_stage:
                    self.moves[f"{first.from_stage} → {last.to_stage}"] += 1


def activate(
    engine: Engine,
    text: str,
    source: str,
    actor: str = "cli",
    progress: Callable[[int], None] | None = None,
) -> Activation:
    """Validate; keep the active version if `text` is identical, else store the next
    version and rescore every lead, counting what changed."""
    # The loader (and its YAML parser) only here, when a playbook is activated (issue 17).
    from leadgate.playbook.loader import load_playbook

    pb = load_playbook(text, source)
    LeadProcessor(pb, 0)  # compiles every rule: fail here, before anything is stored
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        # Before reading the active version: a concurrent activation commits first.
        repo.lock_playbooks()
        active = repo.active_playbook()
        if active is not None and active[1] == text:
            return Activation(active[0], pb, 0, unchanged=True)
        version = repo.add_playbook(pb.name, text, actor, engine.clock(), pb)
    # The rescore's transactions chain on the lead cache, and a chained transaction
    # trusts the active version the engine remembers: forget it, or what comes in next
    # through this engine counts under the version before.
    engine._active_version = None
    counter = _ChangeCounter()
    engine.listeners.append(counter)
    try:
        n = engine.rescore_all(progress)
    except Exception:
        # All or nothing: a version whose rescore failed is not left active.
        withdraw(engine, version, active)
        raise
    finally:
        engine.listeners.remove(counter)
    extras: dict[str, Any] = {}
    report = rescore.last_report(engine)
    extras["rescore"] = report.as_dict() if report is not None else {"method": "per-lead"}
    try:
        old_rules = load_playbook(active[1], "active").identity if active is not None else None
    except PlaybookError:
        old_rules = None  # stored before today's checks: take the rules as new
    if has_rules(pb.identity) and pb.identity != old_rules:
        # New identity rules: existing leads get their keys now, so a later spelling
        # finds them (two that already share a key stay two leads: merge them).
        extras["identity_keys"] = identity.backfill_keys(engine, pb.identity)
    for hook in activation_hooks(engine):
        extras.update(hook())
    return Activation(
        version,
        pb,
        n,
        score_changed=counter.score,
        stage_changed=counter.stage,
        moves=dict(counter.moves.most_common()),
        extras=extras,
    )


def withdraw(engine: Engine, version: int, previous: tuple[int, str] | None) -> None:
    """Make `version`, whose rescore failed, inactive again.

    The rescore commits in batches, so a failure may come after some leads were
    saved under `version`. If none were (the usual case: a bad playbook fails on
    its first lead), the version's row is deleted and nothing happened. Otherwise
    the previous playbook is activated again as a new version (versions are
    history) and every lead is rescored under it.
    """
    from leadgate.playbook.loader import load_playbook

    engine._active_version = None
    engine._processors.pop(version, None)
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        used = repo.execute(
            "SELECT 1 FROM leads WHERE playbook_version = ? UNION ALL "
            "SELECT 1 FROM transitions WHERE playbook_version = ? LIMIT 1",
            [version, version],
        ).fetchone()
        if used is None:
            repo.execute("DELETE FROM playbooks WHERE version = ?", [version])
            return
        if previous is None:
            return  # nothing to go back to: the store had no playbook before
        try:
            old = load_playbook(previous[1], f"playbook v{previous[0]}")
        except PlaybookError:
            return  # stored before today's checks: going back to it would fail too
        repo.add_playbook(
            old.name, previous[1], f"leadgate: rollback of v{version}", engine.clock(), old
        )
    engine._active_version = None
    # The path with nothing to verify: a rollback must not fail the way the set-based
    # rescore it may be undoing did.
    engine.rescore_all(method="per-lead")
