"""What moves a lead besides its events: a person's move (`set_stage`) and the passing
of time (`tick`: decay exits, cooldown ends), each in one write transaction.

Example: `set_stage(engine, "ann@acme.com", "sal", None, "user:bo")` moves Ann's MQL
to SAL (or raises IllegalTransition with the allowed targets); `tick(engine, now)`
fires every timer due by `now` and returns how many moves it made.

The `Engine` methods of the same names call these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadgate.engine import history
from leadgate.leads.derivation import Move
from leadgate.lifecycle.stages import Transition
from leadgate.store.repository import Repository

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine


def set_stage(engine: Engine, email: str, to: str, reason: str | None, actor: str) -> Transition:
    """A person moves a lead (see `Engine.set_stage`); `email` is checked already."""
    now = engine.clock()
    with engine._write() as txn:
        repo, proc, s = engine._one_lead(txn, email)
        moves = history.refresh_if_stale(engine, repo, proc, s, now)
        moves += proc.advance(s.state, now, rescore=False)
        for guard in engine.stage_guards:
            guard(repo, s, to, now)
        t = proc.set_stage(s.state, to, actor, reason, now)
        moves.append(t)
        if s.state.engagement_state.last_at > now:
            # Events dated after this moment (within the clock skew) were scored
            # already: the move goes before them, so the history is derived again.
            fact = Move(to, now, actor, reason)
            moves = history.rederive(
                engine, repo, proc, s, now, "a move before stored events", [fact]
            )
        engine._commit(txn, proc, [(s, moves, False)], now, attributes=False)
    return t


def tick(engine: Engine, now: float, limit: int) -> int:
    """Fire due timers (see `Engine.tick`). Cost follows what is due, not the store."""
    moved = 0
    while True:
        # The driver's connection: a one-shot CLI read on an SQLite file (`lead list`)
        # then never imports SQLAlchemy when nothing is due.
        with engine.db.read_raw() as raw:
            # Nothing due is the common case: answer it without taking the write lock.
            # In index order: PostgreSQL's generic plan for a bare `LIMIT 1` reads
            # every lead (215 ms at 1M leads; with the ORDER BY, 0.03 ms).
            due = Repository(engine.db, None, raw).execute(
                "SELECT 1 FROM leads WHERE next_due_at <= ? ORDER BY next_due_at LIMIT 1",
                [now],
            )
            if due.fetchone() is None:
                return moved
        with engine._write() as txn:
            repo = txn.repo
            proc = engine._active(repo, txn)
            cur = repo.execute(
                "SELECT email FROM leads WHERE next_due_at <= ? ORDER BY next_due_at LIMIT ?",
                [now, limit],
            )
            emails = [r[0] for r in cur.fetchall()]
            if not emails:
                return moved
            stored = engine._leads(txn, emails)
            items = []
            for s in stored.values():
                ts = history.refresh_if_stale(engine, repo, proc, s, now)
                ts += proc.advance(s.state, now, rescore=True)
                items.append((s, ts, False))
                moved += len(ts)
            engine._commit(txn, proc, items, now, attributes=False)
        if len(emails) < limit:
            return moved
