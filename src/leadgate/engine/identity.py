"""Which lead an address belongs to, beyond its own: aliases and the identity rules.

A lead is stored under the first address it was seen with. Other spellings resolve to
it through `lead_identities`: the address of a lead merged into it (`alias`, see
`leadgate.identity.merge`) and a lead's canonical key under the playbook's `identity:`
rules when it differs from its address (`canonical`). The engine asks only about
addresses with no lead of their own, so the usual batch (known leads) costs nothing.

Example: with `ignore_dots: [gmail.com]`, the lead `j.doe@gmail.com` gets the key
`jdoe@gmail.com`; an event for `jd.oe@gmail.com` (no lead of its own, same key) lands
on `j.doe@gmail.com`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from leadgate.leads.identity import canonical_email
from leadgate.leads.record import LeadState
from leadgate.playbook.identity_sections import IdentitySection
from leadgate.store.repository import Repository
from leadgate.store.statements import in_list

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine

_CHUNK = 500


def _in(repo: Repository, sql: str, values: Sequence[str]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for i in range(0, len(values), _CHUNK):
        # Padded to a few lengths (`in_list`): the statement is prepared once per length.
        marks, params = in_list(values[i : i + _CHUNK], _CHUNK)
        out += [tuple(r) for r in repo.execute(sql.format(marks), params).fetchall()]
    return out


def resolve(
    repo: Repository,
    emails: Sequence[str],
    rules: IdentitySection,
    keys: dict[str, str] | None = None,
) -> dict[str, str]:
    """For addresses with no lead of their own: the address of the lead each one is.

    Looked up in order: the address itself as an alias or key, its canonical key as a
    key, a lead whose address is that key; and, among `emails` themselves, the first
    one with the same key (two new spellings in one batch make one lead). An address
    not in the answer is a new person. `keys`, when given, receives each address's
    canonical key (`record_keys` of the leads then made need not compute it again).
    """
    if keys is None:
        keys = {}
    for e in emails:
        keys[e] = canonical_email(e, rules)
    wanted = sorted(set(emails) | set(keys.values()))
    by_key = {
        str(a): int(lid)  # type: ignore[call-overload]
        for a, lid in _in(
            repo, "SELECT address, lead_id FROM lead_identities WHERE address IN ({})", wanted
        )
    }
    # `emails` have no lead of their own: only a key that differs may be a lead's address
    # (none do without identity rules, so the usual new lead costs one lookup, not two).
    other_keys = sorted({k for e, k in keys.items() if k != e})
    primary = {
        str(e): int(lid)  # type: ignore[call-overload]
        for lid, e in _in(repo, "SELECT id, email FROM leads WHERE email IN ({})", other_keys)
    }
    lead_of: dict[str, int] = {}
    for e in emails:
        k = keys[e]
        lid = by_key.get(e, by_key.get(k, primary.get(k)))
        if lid is not None:
            lead_of[e] = lid
    out: dict[str, str] = {}
    if lead_of:
        ids = sorted({str(v) for v in lead_of.values()})
        email_of = {
            int(lid): str(e)  # type: ignore[call-overload]
            for lid, e in _in(repo, "SELECT id, email FROM leads WHERE id IN ({})", ids)
        }
        out = {e: email_of[lid] for e, lid in lead_of.items() if lid in email_of}
    first: dict[str, str] = {}
    for e in emails:
        if e in out:
            continue
        k = keys[e]
        if k in first:
            out[e] = first[k]
        else:
            first[k] = e
    return out


def record_keys(
    repo: Repository,
    leads: Iterable[LeadState],
    rules: IdentitySection,
    now: float,
    keys: Mapping[str, str] | None = None,
) -> None:
    """Store the canonical key of new leads whose address differs from it (`keys`: those
    already known, by address, as `resolve` gives them)."""
    rows = []
    for lead in leads:
        k = keys.get(lead.email) if keys else None
        if k is None:
            k = canonical_email(lead.email, rules)
        if k != lead.email and lead.id is not None:
            rows.append((k, lead.id, "canonical", now))
    if rows:
        repo.executemany(
            "INSERT INTO lead_identities (address, lead_id, kind, at) VALUES (?,?,?,?) "
            "ON CONFLICT (address) DO NOTHING",
            rows,
        )


def backfill_keys(engine: Engine, rules: IdentitySection, batch: int = 5000) -> int:
    """Store the canonical key of every existing lead whose address differs from it
    (after the identity rules changed). A key another lead holds already stays with it.
    Returns how many keys were added."""
    added = after = 0
    while True:
        with engine.db.write() as conn:
            repo = Repository(engine.db, conn)
            cur = repo.execute(
                "SELECT id, email FROM leads WHERE id > ? ORDER BY id LIMIT ?", [after, batch]
            )
            rows = [(int(r[0]), str(r[1])) for r in cur.fetchall()]
            if not rows:
                return added
            after = rows[-1][0]
            keyed = [(canonical_email(e, rules), lid) for lid, e in rows]
            keyed = [(k, lid) for (k, lid), (_, e) in zip(keyed, rows, strict=True) if k != e]
            if keyed:
                taken = {
                    str(r[0])
                    for r in _in(
                        repo,
                        "SELECT address FROM lead_identities WHERE address IN ({})",
                        sorted({k for k, _ in keyed}),
                    )
                }
                fresh: dict[str, int] = {}
                for k, lid in keyed:
                    if k not in taken and k not in fresh:
                        fresh[k] = lid
                repo.executemany(
                    "INSERT INTO lead_identities (address, lead_id, kind, at) VALUES (?,?,?,?) "
                    "ON CONFLICT (address) DO NOTHING",
                    [(k, lid, "canonical", engine.clock()) for k, lid in fresh.items()],
                )
                added += len(fresh)
