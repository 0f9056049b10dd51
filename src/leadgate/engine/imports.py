"""What a CRM import brings besides fields: stages from the other system, record ids.

A stage read from an export (HubSpot's `Lifecycle Stage = Customer`) is a person's move
made elsewhere: it enters the lead's history as a move (`record_move`, a fact that later
derivations keep), with actor `import:FILE` and reason `imported`, dated at the import.
It must be legal per the stage graph as an import sees it (`check_import`: forward by
any number of steps, or a person's move with the reason `imported`); an illegal one is
not made and is reported. The sales workflow's stage guards (a qualification framework
before `sql`, an opportunity before `sqo`) are asked and their objections reported, not
enforced: the other system already made the move.

Record ids are kept per source system (`lead_external_ids`), so a second import of the
same export finds its leads by id even when an email changed there.

Example: `import_stages(engine, [("ann@acme.com", "customer", 4)], "import:hs.csv")`
moves a new lead `lead → customer` and returns (1, []).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from leadgate.engine import history
from leadgate.leads.derivation import Move
from leadgate.lifecycle.stages import IMPORTED, IllegalTransition, check_import
from leadgate.store.repository import Repository

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine


def import_stages(
    engine: Engine, moves: Sequence[tuple[str, str, int]], actor: str
) -> tuple[int, list[str]]:
    """Move leads (email, stage, line) to the stages another system had them in, in one
    transaction. Returns (moves made, notes: illegal moves not made, guards' objections)."""
    notes: list[str] = []
    made = 0
    if not moves:
        return 0, notes
    now = engine.clock()
    with engine._write() as txn:
        repo = txn.repo
        proc = engine._active(repo, txn)
        stored = engine._leads(txn, list(dict.fromkeys(m[0] for m in moves)))
        items = []
        for email, to, line in moves:
            s = stored.get(email)
            if s is None:
                continue
            ts = history.refresh_if_stale(engine, repo, proc, s, now)
            ts += proc.advance(s.state, now, rescore=False)
            if s.state.stage == to:
                if ts:
                    items.append((s, ts, False))
                continue
            try:
                check_import(s.state.stage, to, proc.playbook)
            except IllegalTransition as exc:
                notes.append(f"line {line}: stage not imported for {email}: {exc}")
                if ts:
                    items.append((s, ts, False))
                continue
            for guard in engine.stage_guards:
                try:
                    guard(repo, s, to, now)
                except (ValueError, LookupError) as exc:
                    notes.append(f"line {line}: {email} moved to {to} although: {exc}")
            fact = Move(to, now, actor, IMPORTED)
            if s.state.engagement_state.last_at > now:
                # Events dated after this moment (within the clock skew) were scored
                # already: the move goes before them, so the history is derived again.
                ts = history.rederive(engine, repo, proc, s, now, "an imported stage", [fact])
            else:
                ts.append(proc.record_move(s.state, fact))
                proc.rescore(s.state, now)
            made += 1
            items.append((s, ts, False))
        engine._commit(txn, proc, items, now, attributes=False)
    return made, notes


def leads_by_external_id(engine: Engine, system: str, ids: Sequence[str]) -> dict[str, str]:
    """{external id: email} for the ids of `system` already bound to a lead."""
    with engine.db.read() as conn:
        return _bound(Repository(engine.db, conn), system, ids)


def _bound(repo: Repository, system: str, ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    unique = list(dict.fromkeys(ids))
    for i in range(0, len(unique), 500):
        chunk = unique[i : i + 500]
        marks = ",".join("?" * len(chunk))
        cur = repo.execute(
            "SELECT x.external_id, l.email FROM lead_external_ids x JOIN leads l "
            f"ON l.id = x.lead_id WHERE x.system = ? AND x.external_id IN ({marks})",
            [system, *chunk],
        )
        out.update({str(r[0]): str(r[1]) for r in cur.fetchall()})
    return out


def bind_external_ids(engine: Engine, system: str, pairs: Sequence[tuple[str, str]]) -> int:
    """Remember (external id, email) pairs of `system`; an id bound already keeps its
    lead. Returns how many were new."""
    if not pairs:
        return 0
    now = engine.clock()
    new = 0
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        known = set(_bound(repo, system, [p[0] for p in pairs]))
        for ext, email in pairs:
            if ext in known:
                continue
            row = repo.execute("SELECT id FROM leads WHERE email = ?", [email]).fetchone()
            if row is None:
                continue
            repo.execute(
                # Another import binding the same id meanwhile keeps its row.
                "INSERT INTO lead_external_ids (system, external_id, lead_id, bound_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (system, external_id) DO NOTHING",
                [system, ext, int(row[0]), now],
            )
            known.add(ext)
            new += 1
    return new


def rename_lead(engine: Engine, old: str, new: str) -> bool:
    """Give the lead `old` the email `new` (its key), as when a CRM record's address
    changed; False when another lead has `new` already (or `old` is gone). Its history is
    derived again: the domain is a field the fit may read."""
    now = engine.clock()
    with engine._write() as txn:
        repo = txn.repo
        proc = engine._active(repo, txn)
        if repo.lead_by_email(new) is not None:
            return False
        s = engine._leads(txn, [old]).get(old)
        if s is None:
            return False
        repo.execute("UPDATE leads SET email = ? WHERE id = ?", [new, s.state.id])
        txn.evict.append(old)
        lead = s.state
        lead.email = new
        lead.fit_cache = lead.fields_cache = lead.fit_lines_cache = None
        # No separate catch-up for a lead under an older version: the derivation
        # takes the versions in force (see `history.rederive`).
        ts = history.rederive(engine, repo, proc, s, now, "email changed")
        engine._commit(txn, proc, [(s, ts, False)], now)
    return True
