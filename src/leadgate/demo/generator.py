"""Seeded synthetic CRM data: leads, their marketing events and sales outcomes.

The data imitates the inbound funnel of a mid-market B2B SaaS vendor selling to
Europe and North America. It is random but *shaped*: every distribution below is
there because real marketing data has it, and scoring, routing and funnel reports
only get exercised by data that has it.

Determinism: everything is drawn from `random.Random` instances seeded with strings
derived from `seed` (string seeds are hashed with SHA-512, so they do not depend on
PYTHONHASHSEED or on the platform). Leads, events and actions use three separate
streams, so `iter_leads` need not simulate events and `iter_events` need not build
lead dicts, yet both give exactly what `generate` gives for the same arguments.
No numpy: the stdlib `random` stream is stable across Python releases for the
calls used here (`random`, `gauss`, `expovariate`, `randint`), numpy's legacy
global state is not a contract we want to lean on.

The parts, one module per concept: `names` (the vocabularies), `people` (leads and their
companies), `events` (hidden intent and the event streams), `script` (the sales team and
its moves), and `timeline` / `loader` (one time-ordered story played into a store, as it
would happen live, by `leadgate demo`).

Example: `generate(n_leads=50, n_events=1000, seed=1)` gives 50 leads, 1,000 events
and the sales moves on the leads that became MQLs; `iter_events(50, 1000, 1)` streams
the same 1,000 events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from leadgate.demo.base import DEFAULT_START, Row, check_counts, resolve
from leadgate.demo.events import Events
from leadgate.demo.people import Hidden, lead_stream
from leadgate.demo.script import TEAM, actions, reactions

__all__ = ["DEFAULT_START", "DemoData", "generate", "iter_events", "iter_leads"]


@dataclass
class DemoData:
    """A generated data set: leads (by created_at), events (by occurred_at), actions (by at)."""

    leads: list[Row]
    events: list[Row]
    actions: list[Row]
    #: The sales team the actions' actors belong to: `Sales.add_rep` keyword arguments.
    reps: list[Row] = field(default_factory=lambda: [dict(r) for r in TEAM])
    #: For every lead without a walk in `actions`: the walk the team would take if a
    #: playbook made it an MQL, dated from an MQL at 1970-01-01T00:00:00Z (see
    #: `script.reactions`; `leadgate demo` anchors it at the playbook's MQL).
    reactions: list[Row] = field(default_factory=list)


def iter_leads(
    n_leads: int = 5000, seed: int = 42, start: datetime | None = None, days: int = 180
) -> Iterator[Row]:
    """Stream the leads of `generate(n_leads, ..., seed, start, days)`, in created_at order.

    Lead dicts: email, first_name, last_name, company, job_title, company_size (int),
    industry, country (ISO 3166-1 alpha-2), source, campaign (None for organic, referral
    and direct), created_at (ISO 8601 UTC, "Z"). Memory: the account table and the set of
    emails (for uniqueness), not the leads.
    """
    check_counts(n_leads, 0)
    start_ts = resolve(start, days)
    for lead, _ in lead_stream(n_leads, seed, start_ts, days):
        yield lead


def iter_events(
    n_leads: int = 5000,
    n_events: int = 100_000,
    seed: int = 42,
    start: datetime | None = None,
    days: int = 180,
) -> Iterator[Row]:
    """Stream the events of `generate(...)` with the same arguments, in occurred_at order.

    Event dicts: id ("ev-<seed>-<n>"), email, type, occurred_at (ISO 8601 UTC, "Z"),
    properties (a fresh dict per event). Memory: a few numbers per lead plus one hour of
    events, so 1M+ events stream in constant memory per hour.
    """
    check_counts(n_leads, n_events)
    start_ts = resolve(start, days)
    people = [h for _, h in lead_stream(n_leads, seed, start_ts, days)]
    for batch in Events(people, n_events, seed, start_ts, days).batches():
        yield from batch


def generate(
    n_leads: int = 5000,
    n_events: int = 100_000,
    seed: int = 42,
    start: datetime | None = None,
    days: int = 180,
) -> DemoData:
    """Leads, events and ground-truth sales actions for one seed (see the module docstring).

    `start` (default `DEFAULT_START`; naive means UTC) opens a window of `days` days;
    every timestamp lies inside it. Exactly `n_leads` leads and `n_events` events.
    Actions are dicts {email, to, at, actor, reason}, per lead a walk mql → sal → sql →
    sqo → customer that may leave to nurture or disqualified, sorted by `at`; `sql` and
    SAL-exit actions add `qualification` ({criterion: met|not_met}), `sqo` actions
    `opportunity` ({amount, currency, close_date}).
    """
    check_counts(n_leads, n_events)
    start_ts = resolve(start, days)
    leads: list[Row] = []
    people: list[Hidden] = []
    for lead, hidden in lead_stream(n_leads, seed, start_ts, days):
        leads.append(lead)
        people.append(hidden)
    sim = Events(people, n_events, seed, start_ts, days)
    events: list[Row] = []
    for batch in sim.batches():
        events.extend(batch)
    walks = actions(sim, seed)
    others = reactions(sim, seed, {a["email"] for a in walks})
    return DemoData(leads=leads, events=events, actions=walks, reactions=others)
