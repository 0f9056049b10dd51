"""Who each address arriving in a batch is: the one step every way in goes through.

Events (`Engine.ingest`) and lead records (`Engine.upsert_leads`) bring addresses. Inside
the batch's write transaction, `arrivals(engine, txn, addresses)` answers for each one,
in this order:

1. its own lead (read from the lead cache or the store, locked);
2. else another spelling of a lead (`identity.resolve`): the alias a merge left, a key
   of the playbook's `identity:` rules, or an earlier new spelling in the same batch;
3. refused, if the person asked to be erased (`privacy.suppression`: the address or its
   canonical key is on the list) and it is not the address of a lead of its own:
   nothing of theirs is stored, so they do not come back under another spelling either;
4. else new: `Arrivals.create` makes the lead.

Steps 1 and 2 are `known`; erasure asks them too (`person_of`), so erasing an address
erases the lead the engine would file its events under, and no other.

Then, for events, `Arrivals.visitors` names the anonymous visitors the batch identifies
(a `visitor_id` on an event), whose events `stitch.claim` brings onto the lead.

Example: with `other@acme.com` merged into `keep@acme.com` and `gone@acme.com` erased,
`arrivals(engine, txn, ["other@acme.com", "gone@acme.com", "new@acme.com"])` answers
`same == {"other@acme.com": "keep@acme.com"}` (with keep@acme.com's lead in `stored`),
`refused == {"gone@acme.com"}` and `new == ["new@acme.com"]`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from leadgate.engine import identity
from leadgate.engine.stitch import visitor_of
from leadgate.ingest.validate import EventIn
from leadgate.leads.identity import canonical_email, has_rules
from leadgate.leads.record import LeadState
from leadgate.playbook.identity_sections import IdentitySection
from leadgate.privacy import suppression
from leadgate.store.repository import Repository, StoredLead

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine
    from leadgate.engine.txn import _Txn

V = TypeVar("V")


class Arrivals:
    """The answer for one batch's addresses (see the module)."""

    __slots__ = ("_keys", "_rules", "new", "refused", "same", "stored")

    def __init__(
        self,
        stored: dict[str, StoredLead],
        same: dict[str, str],
        refused: set[str],
        new: list[str],
        rules: IdentitySection,
        keys: dict[str, str] | None = None,
    ):
        # The leads that exist, by their address (`create` adds the new ones).
        self.stored = stored
        # Incoming addresses that are another spelling of a lead: → the lead's address.
        self.same = same
        # Lead addresses of erased people: nothing of theirs is stored.
        self.refused = refused
        # Lead addresses to create, in arrival order.
        self.new = new
        self._rules = rules
        # Canonical keys computed while resolving the addresses (`identity.resolve`).
        self._keys = keys

    def gather(self, per_address: dict[str, V], join: Callable[[V, V], None]) -> dict[str, V]:
        """Items keyed by incoming address, keyed by lead address instead, in arrival
        order: the items of two spellings of one lead are `join`ed (the second into the
        first), and those of refused addresses dropped."""
        if not self.same and not self.refused:
            return per_address
        out: dict[str, V] = {}
        for address, item in per_address.items():
            target = self.same.get(address, address)
            if target in self.refused:
                continue
            have = out.get(target)
            if have is None:
                out[target] = item
            else:
                join(have, item)
        return out

    def create(self, txn: _Txn, first_seen: Callable[[str], float], now: float) -> list[LeadState]:
        """Store the new leads (created at `first_seen(address)`) and their identity keys;
        they join `stored`. Returns those this transaction made: on PostgreSQL another
        writer may have made one meanwhile (its row is then the lead, in `stored`), and
        that writer is the one that created it (201, `lead.created`), not this one."""
        fresh = [LeadState(e, {}, first_seen(e)) for e in self.new]
        made = txn.repo.insert_leads(fresh, now)
        if fresh:
            identity.record_keys(txn.repo, fresh, self._rules, now, self._keys)
        for lead in fresh:
            # A row made here holds known columns (saving writes only what scoring
            # changes); one another writer made meanwhile is written whole.
            s = txn.repo.inserted(lead, now) if lead.email in made else StoredLead(lead, None, now)
            self.stored[lead.email] = s
        return [lead for lead in fresh if lead.email in made]

    def visitors(self, per_lead: Mapping[str, Sequence[EventIn]]) -> dict[str, int]:
        """The anonymous visitors these events identify: visitor id → lead id (when the
        events of two leads name one visitor, the lead later in the batch's order)."""
        out: dict[str, int] = {}
        for email, evs in per_lead.items():
            for ev in evs:
                props = ev.properties
                if props and "visitor_id" in props:
                    lead_id = self.stored[email].state.id
                    vid = visitor_of(props)
                    if vid is not None and lead_id is not None:
                        out[vid] = lead_id
        return out


def known(
    lookup: Callable[[Sequence[str]], dict[str, StoredLead]],
    repo: Repository,
    addresses: Sequence[str],
    rules: IdentitySection,
    keys: dict[str, str] | None = None,
) -> tuple[dict[str, StoredLead], dict[str, str]]:
    """Steps 1 and 2: the leads of their own (`lookup` reads them, locked), and for the
    other addresses, the address of the lead they are another spelling of. Suppression
    (step 3) is not asked here: erasure asks this too, to find whom an address is."""
    stored = lookup(addresses)
    same: dict[str, str] = {}
    if len(stored) < len(addresses):
        # Addresses with no lead of their own may be another spelling of one.
        same = identity.resolve(repo, [e for e in addresses if e not in stored], rules, keys)
        if same:
            # The leads they are, unless read already or new in this batch.
            incoming = set(addresses)
            wanted = sorted({p for p in same.values() if p not in stored and p not in incoming})
            stored.update(lookup(wanted))
    return stored, same


def person_of(
    repo: Repository, address: str, rules: IdentitySection
) -> tuple[StoredLead | None, str | None]:
    """The lead the engine files `address`'s events under (steps 1 and 2 of `arrivals`,
    whether or not the address is suppressed), and how: "own lead", "alias" (a merge
    left it), "identity key" (the `identity:` rules fold it, or a key recorded for the
    lead), or (None, None) when the engine would make a new lead for it.

    Example: with other@acme.com merged into keep@acme.com,
    `person_of(repo, "other@acme.com", rules)` is (keep@acme.com's lead, "alias").
    """
    stored, same = known(
        lambda emails: repo.leads_by_email(emails, lock=True), repo, [address], rules
    )
    own = stored.get(address)
    if own is not None:
        return own, "own lead"
    target = same.get(address)
    lead = stored.get(target) if target is not None else None
    if lead is None:
        return None, None
    row = repo.execute(
        "SELECT kind FROM lead_identities WHERE address = ? AND lead_id = ?",
        [address, lead.state.id],
    ).fetchone()
    return lead, "alias" if row is not None and row[0] == "alias" else "identity key"


def arrivals(
    engine: Engine, txn: _Txn, addresses: Sequence[str], rules: IdentitySection
) -> Arrivals:
    """Who each of a batch's (distinct, normalised) addresses is (see the module)."""
    keys: dict[str, str] = {}
    stored, same = known(
        lambda emails: engine._leads(txn, emails), txn.repo, addresses, rules, keys
    )
    leads: Sequence[str] = addresses
    if same:
        leads = list(dict.fromkeys(same.get(e, e) for e in addresses))
    missing = [e for e in leads if e not in stored]
    # Erased people stay erased: checked for the leads a batch would create and for the
    # other spellings that would land on a lead, by address and by canonical key (an
    # address with a lead of its own was not suppressed when the lead was made).
    canonical = (lambda e: canonical_email(e, rules)) if has_rules(rules) else None
    refused = suppression.refused(txn.repo, [*missing, *same], canonical)
    if refused:
        for address in [a for a in same if a in refused]:
            del same[address]  # its items keep its address and are dropped with it
        new = [e for e in missing if e not in refused]
    else:
        new = missing
    return Arrivals(stored, same, refused, new, rules, keys)
