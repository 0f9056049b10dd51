"""`leadgate demo` plays its story as it would happen live, on SQLite and PostgreSQL.

Leads, events and the reps' moves are one timeline played with the clock moving
forward: every lead's stage history is in time order, each rep's move is dated when the
script made it (the engine had no need to push it after a later MQL), every MQL is the
playbook's own, made at the moment of one of the lead's events (or a cooldown end), and
a rep only ever moves a lead the playbook had made an MQL before.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from leadgate.cli.demo import load_demo
from leadgate.demo.generator import generate
from leadgate.demo.timeline import CREATE, EVENT, MOVE, timeline
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_time

LEADS, EVENTS, SEED, DAYS = 600, 12_000, 5, 90


def test_timeline_is_one_time_order_with_reactions_after_what_they_react_to() -> None:
    data = generate(n_leads=40, n_events=800, seed=2, days=30)
    moments = list(timeline(data))
    assert len(moments) == len(data.leads) + len(data.events) + len(data.actions)
    assert [(m.at, m.kind) for m in moments] == sorted((m.at, m.kind) for m in moments)
    assert {m.kind for m in moments} == {CREATE, EVENT, MOVE}
    seen: set[str] = set()
    for m in moments:  # a lead exists before anything happens to it
        if m.kind == CREATE:
            seen.add(m.row["email"])
        else:
            assert m.row["email"] in seen


def test_demo_history_is_in_time_order_and_moves_follow_what_they_depend_on(
    engine: Engine,
) -> None:
    now = engine.clock()
    stats = load_demo(engine, n_leads=LEADS, n_events=EVENTS, seed=SEED, days=DAYS)
    # The data the loader played (the window ends ten minutes before its clock).
    start = datetime.fromtimestamp(now, UTC) - timedelta(days=DAYS, minutes=10)
    data = generate(n_leads=LEADS, n_events=EVENTS, seed=SEED, start=start, days=DAYS)
    scripted = {
        (a["email"], a["to"], parse_time(a["at"], "at", now))
        for a in data.actions
        if not a["actor"].startswith("rule:")
    }
    assert stats["sales_actions"] > 10, stats  # else the checks below prove nothing

    with engine.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT l.email, t.from_stage, t.to_stage, t.at, t.actor, t.reason "
            "FROM transitions t JOIN leads l ON l.id = t.lead_id ORDER BY t.id"
        ).fetchall()
        event_times: dict[str, set[float]] = defaultdict(set)
        for email, at in conn.exec_driver_sql(
            "SELECT l.email, e.occurred_at FROM events e JOIN leads l ON l.id = e.lead_id"
        ):
            event_times[email].add(at)
        created = dict(conn.exec_driver_sql("SELECT email, created_at FROM leads").fetchall())

    history: dict[str, list[tuple]] = defaultdict(list)  # type: ignore[type-arg]
    for email, frm, to, at, actor, reason in rows:
        history[email].append((frm, to, at, actor, reason))
    people = 0
    for email, hist in history.items():
        times = [h[2] for h in hist]
        # Appended in the order they happened: no row is dated before an earlier one.
        assert times == sorted(times), (email, hist)
        assert times[0] >= created[email]
        assert times[-1] <= now
        mql_at = None
        for frm, to, at, actor, reason in hist:
            if actor in ("rule:mql", "rule:hand_raiser"):
                # The playbook's MQL, at one of the lead's events (never the script's guess).
                assert at in event_times[email], (email, at, reason)
            if to == "mql":
                mql_at = at
            if not actor.startswith("rule:"):
                people += 1
                # A rep moves only a lead the playbook made an MQL, after that MQL,
                # at the moment the script dated the move.
                assert mql_at is not None and mql_at <= at, (email, hist)
                assert (email, to, at) in scripted, (email, to, at, actor)
    assert people == stats["sales_actions"]
