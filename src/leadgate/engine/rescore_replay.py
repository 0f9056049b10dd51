"""The set-based rescore's replay: every lead's engagement state under new rules, from
the few event columns a replay needs, one rule at a time (issue 17).

`EngagementRules.replay` builds a lead's state event by event, each event tested
against every rule of its type; at 20k leads / 400k events that was three quarters of
a half-life change's rescore. Here the store sends only the events some rule scores
(type, and for rules with an `if`, properties whose text passed the test once per
distinct text), without their ids, and each (lead, rule)'s times go through the very
arithmetic of `EngagementRules.apply` in a tight loop: the same float operations in the
same order (`value * 2.0 ** (-dt / half_life) + points`, Python's own `**`), the same
caps and window. So the state is the core's bit for bit; tests/engine/test_rescore_replay.py
checks it against `EngagementRules.replay` over random histories (Hypothesis), and the
rescore's run-time sample replays its leads through the core again.

What the tight loop cannot order without event ids goes through the core: a lead where
two rules' first scored events share a moment (the state lists its rules in the order
they first matched, which at a tie is the events' id order) is `ambiguous`, and its
events are read in full and replayed by `EngagementRules.replay`. Manual adjustments are
few: they are read with their ids and applied by the core (`EngagementRules.apply`).

Example:
    >>> from leadgate.playbook.loader import bundled_playbook, load_playbook
    >>> rules = EngagementRules(load_playbook(bundled_playbook()[1], "p").engagement)
    >>> t = rule_tally(rules, rules.rules[2], [0.0, 86400.0 * 30])  # two webinars
    >>> (t.count, t.value, t.anchor)
    (2, 30.0, 2592000.0)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from leadgate.scoring.engagement import (
    ADJUSTMENT,
    EngagementRules,
    EngagementState,
    Event,
    Tally,
    _Rule,
)
from leadgate.store.repository import Repository, loads

# Above this many distinct property texts (of the types whose rules all have an `if`)
# the store sends every such event with its text instead of only the passing ones.
DISTINCT_LIMIT = 2_000

# (position, count, value, anchor, window) of one rule's tally, in the state's order.
Compact = tuple[int, int, float, float, list[float]]


def rule_tally(rules: EngagementRules, rule: _Rule, ats: list[float]) -> Tally:
    """One rule's tally after its matching events at `ats`: what `EngagementRules.apply`
    leaves, operation for operation (`rule_tallies` for one group)."""
    _, t, _ = next(rule_tallies(rules, rule, {0: ats}))
    return Tally(t[1], t[2], t[3], t[4])


def rule_tallies(
    rules: EngagementRules, rule: _Rule, groups: Mapping[int, list[float]]
) -> Iterator[tuple[int, Compact, float]]:
    """(lead, tally, first match) for each lead's matching times of one rule (sorted
    here, in place): `EngagementRules.apply`'s arithmetic with the rule's constants
    bound once, not an object and a call per event."""
    hl = rules.half_life
    mpl, wc, ws, pts = rule.max_per_lead, rule.window_count, rule.window_seconds, rule.points
    pos = rule.position
    plain = mpl is None and wc is None
    for lid, ats in groups.items():
        ats.sort()
        value = 0.0
        anchor = first = ats[0]  # the tally is made at the first matching event
        w: list[float] = []
        if plain:
            # No cap: every event scores.
            for at in ats:
                dt = at - anchor
                # `EngagementRules.decay`, inlined: 1.0, or Python's float pow (libm).
                value = value * (1.0 if hl is None or dt <= 0 else 2.0 ** (-dt / hl)) + pts
                anchor = at
            count = len(ats)
        else:
            count = 0
            for at in ats:
                if mpl is not None and count >= mpl:
                    break  # capped for good: apply changes nothing from here on
                if wc is not None:
                    start = at - ws
                    while w and w[0] <= start:
                        w.pop(0)
                    if len(w) >= wc:
                        continue
                    w.append(at)
                count += 1
                dt = at - anchor
                value = value * (1.0 if hl is None or dt <= 0 else 2.0 ** (-dt / hl)) + pts
                anchor = at
        yield lid, (pos, count, value, anchor, w), first


class Replayed:
    """The page's replayed states: `state(lid)` gives a fresh `EngagementState` each call
    (the lifecycle may change the one it is handed)."""

    def __init__(
        self,
        tallies: dict[int, list[Compact]],
        last: dict[int, tuple[float, str]],
        adjustments: dict[int, list[Event]],
        rules: EngagementRules,
        exact: dict[int, list[Event]],
    ):
        self.tallies = tallies
        self.last = last
        self.adjustments = adjustments
        self.rules = rules
        # Leads replayed by the core (ambiguous order): their events, all of them.
        self.exact = exact

    def state(self, lid: int) -> EngagementState:
        if lid in self.exact:
            return self.rules.replay(self.exact[lid])
        st = EngagementState()
        for ev in self.adjustments.get(lid, ()):
            self.rules.apply(st, ev)
        last = self.last.get(lid)
        if last is not None:
            st.last_at, st.last_id = last
        st.rules = {
            pos: Tally(count, value, anchor, list(w))
            for pos, count, value, anchor, w in self.tallies.get(lid, ())
        }
        return st


def replay_page(
    repo: Repository, lo: int, hi: int, rules: EngagementRules, scan: bool = False
) -> Replayed:
    """Every lead lo..hi's state under `rules` after all its events (module docstring).
    `scan`: SQLite reads the whole events table rather than through its lead index."""
    events = "events NOT INDEXED" if scan else "events"
    # A rule may not score manual adjustments (the playbook model refuses it; `apply`
    # adjusts before it looks at rules): should one get here, it scores nothing.
    by_type = {t: rs for t, rs in rules.by_type.items() if t != ADJUSTMENT}
    if_only = sorted(t for t, rs in by_type.items() if all(r.test is not None for r in rs))
    text_types = sorted({t for t, rs in by_type.items() if any(r.test is not None for r in rs)})
    plain = sorted((set(by_type) - set(if_only)) | {ADJUSTMENT})
    # Which rules each distinct property text passes, per type (None: not looked at yet).
    passes: dict[tuple[str, str], tuple[int, ...]] = {}
    where = [f"type IN ({_marks(plain)})"]
    params: list[Any] = list(plain)
    if if_only:
        texts = repo.execute(
            f"SELECT DISTINCT type, properties FROM {events} WHERE lead_id BETWEEN ? AND ? "
            f"AND type IN ({_marks(if_only)})",
            [lo, hi, *if_only],
        ).fetchall()
        if len(texts) <= DISTINCT_LIMIT:
            ok = []
            for typ, text in texts:
                hit = _passing(by_type[typ], text)
                passes[typ, text] = hit
                if hit:
                    ok.append(text)
            if ok:
                where.append(f"(type IN ({_marks(if_only)}) AND properties IN ({_marks(ok)}))")
                params += [*if_only, *ok]
        else:
            where.append(f"type IN ({_marks(if_only)})")
            params += if_only
    with_text = [*text_types, ADJUSTMENT]
    # The type as a small number (no string made per row); the adjustments last.
    types = sorted(by_type)
    adj = len(types)
    positions = [tuple(r.position for r in by_type[t]) for t in types]
    # No rule on an event type (only manual adjustments count): a CASE needs a WHEN.
    kind = (
        f"CASE type {' '.join(f'WHEN ? THEN {i}' for i in range(adj))} ELSE {adj} END"
        if types
        else str(adj)
    )
    cur = repo.execute(
        f"SELECT lead_id, {kind}, occurred_at, CASE WHEN type IN ({_marks(with_text)}) THEN "
        f"properties END, CASE WHEN type = ? THEN id END FROM {events} "
        f"WHERE lead_id BETWEEN ? AND ? AND ({' OR '.join(where)})",
        [*types, *with_text, ADJUSTMENT, lo, hi, *params],
    )
    # rule position -> lead -> matching times.
    times: list[dict[int, list[float]]] = [defaultdict(list) for _ in rules.rules]
    # Where a kind's events go (the maps of its rules' times), and for the types read
    # with their text, where each distinct text's go: no lookup by position per row.
    plain_to = [tuple(times[p] for p in ps) for ps in positions]
    text_to: list[dict[str, tuple[dict[int, list[float]], ...]]] = [{} for _ in types]
    adjustments: dict[int, list[Event]] = defaultdict(list)
    for lid, c, at, text, eid in cur.fetchall():
        if text is None:
            to = plain_to[c]
        elif c == adj:
            adjustments[lid].append(Event(eid, ADJUSTMENT, at, loads(text)))
            continue
        else:
            to = text_to[c].get(text)
            if to is None:
                typ = types[c]
                known = passes.get((typ, text))
                if known is None:
                    known = passes[typ, text] = _passing(by_type[typ], text)
                to = text_to[c][text] = tuple(times[p] for p in known)
        for d in to:
            d[lid].append(at)
    # Each lead's tallies with their first match, to put them in the state's order.
    tallies: dict[int, list[tuple[float, int, Compact]]] = defaultdict(list)
    for rule in rules.rules:
        for lid, t, first in rule_tallies(rules, rule, times[rule.position]):
            tallies[lid].append((first, rule.position, t))
    ordered: dict[int, list[Compact]] = {}
    ambiguous: list[int] = []
    for lid, ts in tallies.items():
        if len(ts) > 1:
            ts.sort()
        if len(ts) > 1 and any(a[0] == b[0] for a, b in zip(ts, ts[1:], strict=False)):
            # Two rules first matched at one moment: by one event (position order) or
            # by two (their ids' order) is not known here.
            ambiguous.append(lid)
        ordered[lid] = [c for _, _, c in ts]
    for evs in adjustments.values():
        evs.sort(key=lambda e: (e.at, e.id))
    return Replayed(
        ordered,
        _last_events(repo, lo, hi),
        adjustments,
        rules,
        events_of(repo, ambiguous, rules.property_types) if ambiguous else {},
    )


def _passing(rules: Sequence[_Rule], text: str) -> tuple[int, ...]:
    """The positions of the rules (of one type) an event with these properties matches."""
    props = loads(text)
    return tuple(r.position for r in rules if r.test is None or r.test(props))


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _last_events(repo: Repository, lo: int, hi: int) -> dict[int, tuple[float, str]]:
    """Each lead's last event (time, id), the order `replay` applies them in."""
    out: dict[int, tuple[float, str]] = {}
    if repo.db.is_sqlite:
        # One index seek a lead, ties on the time broken by the id (BINARY collation:
        # UTF-8 byte order, which is Python's order of the strings): 25% less than the
        # join below.
        cur = repo.execute(
            "SELECT l.id, e.occurred_at, e.id FROM leads l JOIN events e ON e.rowid = "
            "(SELECT rowid FROM events x WHERE x.lead_id = l.id "
            "ORDER BY occurred_at DESC, id DESC LIMIT 1) WHERE l.id BETWEEN ? AND ?",
            [lo, hi],
        )
        return {lid: (at, eid) for lid, at, eid in cur.fetchall()}
    cur = repo.execute(
        "SELECT e.lead_id, e.occurred_at, e.id FROM events e JOIN (SELECT lead_id, "
        "MAX(occurred_at) AS t FROM events WHERE lead_id BETWEEN ? AND ? GROUP BY lead_id) "
        "m ON e.lead_id = m.lead_id AND e.occurred_at = m.t",
        [lo, hi],
    )
    for lid, at, eid in cur.fetchall():
        k = out.get(lid)
        # Python's order of the ids, not the database's collation.
        if k is None or eid > k[1]:
            out[lid] = (at, eid)
    return out


def events_of(
    repo: Repository, ids: Sequence[int], property_types: frozenset[str]
) -> dict[int, list[Event]]:
    """Every event of these leads, as `rescore.events_by_lead` reads them (one query
    per 500 leads, not one per lead: on PostgreSQL each is a round trip)."""
    from leadgate.engine.rescore import add_events

    out: dict[int, list[Event]] = defaultdict(list)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        cur = repo.execute(
            "SELECT lead_id, id, type, occurred_at, properties FROM events "
            f"WHERE lead_id IN ({_marks(chunk)})",
            chunk,
        )
        add_events(out, cur.fetchall(), property_types)
    return out
