"""`leadgate demo` plays its story as it would happen live, on SQLite and PostgreSQL.

Leads, events and the reps' moves are one timeline played with the clock moving
forward: every lead's stage history is in time order; every MQL is the playbook's own,
made at the moment of one of the lead's events (or a cooldown end); a rep only ever
moves a lead the playbook had made an MQL before, and each move is dated at the
script's delay after that MQL (the engine never had to push it later).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from leadgate.cli.demo import load_demo
from leadgate.demo.generator import generate
from leadgate.demo.timeline import CREATE, EVENT, MOVE, anchor, timeline
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


def test_anchor_starts_each_walk_at_the_playbooks_mql_with_the_scripts_delays() -> None:
    def move(email: str, to: str, at: str, **extra: object) -> dict[str, object]:
        return {"email": email, "to": to, "at": at, "actor": "bdr:x", "reason": "r", **extra}

    opp = {"amount": 1000.0, "currency": "EUR", "close_date": "2026-03-01"}
    actions = [
        {**move("a@x.io", "mql", "2026-01-01T10:00:00Z"), "actor": "rule:mql"},
        {**move("b@x.io", "mql", "2026-01-01T11:00:00Z"), "actor": "rule:mql"},
        move("a@x.io", "sal", "2026-01-01T12:00:00Z"),
        move("b@x.io", "sal", "2026-01-01T13:00:00Z"),
        move("a@x.io", "sqo", "2026-01-03T10:00:00Z", opportunity=opp),
    ]
    t = lambda text: datetime.fromisoformat(text).timestamp()  # noqa: E731
    # The playbook makes a@ an MQL a day after the script's guess, and b@ never.
    got = anchor(actions, {"a@x.io": t("2026-01-02T10:00:00Z")}, t("2026-01-03T12:00:00Z"))
    assert [(a["email"], a["to"], a["at"]) for a in got] == [
        ("a@x.io", "mql", "2026-01-02T10:00:00Z"),
        ("a@x.io", "sal", "2026-01-02T12:00:00Z"),
    ]  # the SQO would come after the end of the window: still open
    got = anchor(actions, {"a@x.io": t("2026-01-02T10:00:00Z")}, t("2026-02-01T00:00:00Z"))
    assert got[-1]["at"] == "2026-01-04T10:00:00Z"
    assert got[-1]["opportunity"]["close_date"] == "2026-03-02"
    assert actions[-1]["opportunity"]["close_date"] == "2026-03-01"  # not changed in place


def test_demo_history_is_in_time_order_and_moves_follow_what_they_depend_on(
    engine: Engine,
) -> None:
    now = engine.clock()
    stats = load_demo(engine, n_leads=LEADS, n_events=EVENTS, seed=SEED, days=DAYS)
    # The data the loader played (the window ends ten minutes before its clock).
    start = datetime.fromtimestamp(now, UTC) - timedelta(days=DAYS, minutes=10)
    data = generate(n_leads=LEADS, n_events=EVENTS, seed=SEED, start=start, days=DAYS)
    # The script's walks (and the team's reactions to the other leads): each step's delay
    # after the walk's own MQL.
    walks = data.actions + data.reactions
    walk_start = {a["email"]: a["at"] for a in reversed(walks) if a["to"] == "mql"}
    delay = {
        (a["email"], a["to"]): parse_time(a["at"], "at", now)
        - parse_time(walk_start[a["email"]], "at", now)
        for a in walks
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
        mql_at = first_mql = None
        for _frm, to, at, actor, reason in hist:
            if actor in ("rule:mql", "rule:hand_raiser"):
                # The playbook's MQL, at one of the lead's events (never the script's guess).
                assert at in event_times[email], (email, at, reason)
            if to == "mql":
                mql_at = at
                first_mql = at if first_mql is None else first_mql
            if not actor.startswith("rule:"):
                people += 1
                # A rep moves only a lead the playbook made an MQL, after that MQL, at
                # the script's delay after the playbook's first MQL of the lead (the
                # engine never had to date it later than the rep made it).
                assert mql_at is not None and mql_at <= at, (email, hist)
                assert first_mql is not None
                assert at == first_mql + delay[(email, to)], (email, to, at, actor)
    assert people == stats["sales_actions"]
