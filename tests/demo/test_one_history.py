"""One history for one set of facts (issue 12, item 7).

The demo store once gave three answers for one history: `report funnel` counted 562 MQL
leads, a backtest of the active playbook on the same store 335, and the same events
replayed in time order into a fresh store 308 (138 when the contact list came first with
today's creation time). Here the demo store, a backtest of its active playbook, and two
fresh stores fed its facts in time order (the contacts before their history, and after
it) must give the same MQLs per month and the same stage history for every lead.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from conftest import FakeClock
from leadgate.analytics.backtest import month_of
from leadgate.analytics.service import active_text, backtest
from leadgate.demo.loader import load_demo
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import EventIn
from leadgate.leads.derivation import Move
from leadgate.store.database import Database
from leadgate.store.repository import Repository, dumps, loads
from leadgate.store.schema import EFFECTIVE_TRANSITIONS

NOW = 1_790_000_000.0


def _histories(eng: Engine) -> dict[str, list[tuple[str, str, float, str]]]:
    with eng.db.read() as conn:
        rows = (
            Repository(eng.db, conn)
            .execute(
                "SELECT l.email, transitions.from_stage, transitions.to_stage, transitions.at, "
                f"transitions.actor FROM {EFFECTIVE_TRANSITIONS} "
                "JOIN leads l ON l.id = transitions.lead_id "
                "ORDER BY l.email, transitions.at, transitions.id"
            )
            .fetchall()
        )
    out: dict[str, list[tuple[str, str, float, str]]] = {}
    for email, f, to, at, actor in rows:
        out.setdefault(email, []).append((f, to, at, actor))
    return out


def _mql_months(hist: dict[str, list[tuple[str, str, float, str]]]) -> Counter[str]:
    return Counter(month_of(at) for rows in hist.values() for _, to, at, _ in rows if to == "mql")


def _facts(eng: Engine) -> tuple[list[Any], list[Any], list[Any]]:
    with eng.db.read() as conn:
        repo = Repository(eng.db, conn)
        emails: dict[int, str] = {}
        leads = []
        for lid, email, attrs, created in repo.execute(
            "SELECT id, email, attributes, created_at FROM leads"
        ).fetchall():
            emails[lid] = email
            leads.append((email, loads(attrs), created))
        events = [
            (emails[lid], eid, typ, at, loads(props))
            for lid, eid, typ, at, props in repo.execute(
                "SELECT lead_id, id, type, occurred_at, properties FROM events"
            ).fetchall()
        ]
        moves = [
            (emails[lid], Move(to, at, actor, reason))
            for lid, to, at, actor, reason in repo.execute(
                f"SELECT lead_id, to_stage, at, actor, reason FROM {EFFECTIVE_TRANSITIONS} "
                "WHERE actor NOT LIKE 'rule:%' ORDER BY at, id"
            ).fetchall()
        ]
    return leads, events, moves


def _replay(
    tmp: Path, text: str, facts: tuple[list[Any], list[Any], list[Any]], contacts_first: bool
) -> Engine:
    """A fresh store fed the facts in time order, as they would have arrived live."""
    leads, events, moves = facts
    url = f"sqlite:///{tmp / ('first.db' if contacts_first else 'after.db')}"
    Database(url).migrate()
    clock = FakeClock(min(e[3] for e in events) - 86400)
    eng = Engine(Database(url), clock=clock)
    eng.activate_playbook(text, "active.yaml", "test")
    if contacts_first:
        eng.upsert_leads(leads)
    timeline = sorted(
        [(e[3], 0, e[1], e) for e in events] + [(m.at, 1, "", (email, m)) for email, m in moves],
        key=lambda x: (x[0], x[1], x[2]),
    )
    batch: list[EventIn] = []

    def flush() -> None:
        if batch:
            clock.now = max(clock.now, batch[-1].at)
            eng.ingest(batch, now=clock.now)
            batch.clear()

    for at, kind, _, item in timeline:
        if kind == 0:
            email, eid, typ, t, props = item
            batch.append(EventIn(eid, email, typ, t, props, dumps(props)))
            continue
        flush()
        email, move = item
        clock.now = at
        if contacts_first:
            # Live, as the rep did it: the stage graph must allow it at that moment.
            eng.set_stage(email, move.to, move.reason, move.actor)
        else:
            # Without the contact's attributes no MQL was made yet: the move is a fact
            # from the CRM, recorded as it was made.
            eng.record_moves(email, [move])
    flush()
    if not contacts_first:
        eng.upsert_leads(leads)
    clock.now = NOW
    eng.tick(NOW)
    return eng


def test_the_demo_store_its_backtest_and_its_facts_replayed_agree(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    Database(url).migrate()
    eng = Engine(Database(url), clock=FakeClock(NOW))
    eng.ensure_playbook()
    out = load_demo(eng, n_leads=800, n_events=16_000, seed=5)
    assert out["sales_actions"] > 50
    eng.tick(NOW)
    store = _histories(eng)
    text = active_text(eng)
    bt = backtest(eng, text, workers=1)
    facts = _facts(eng)
    first = _histories(_replay(tmp_path, text, facts, contacts_first=True))
    after = _histories(_replay(tmp_path, text, facts, contacts_first=False))

    months = _mql_months(store)
    assert sum(months.values()) > 20
    assert Counter({m["month"]: m["mqls_old"] for m in bt.months if m.get("mqls_old")}) == months
    assert _mql_months(first) == months
    assert _mql_months(after) == months
    # Not just the counts: every lead's history, move by move.
    assert first == store
    assert after == store
    reached = eng.funnel()["reached"]["mql"]
    assert reached == sum(1 for rows in store.values() if any(r[1] == "mql" for r in rows))
