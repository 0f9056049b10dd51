"""Property: events late only for what time did are placed exactly as a derivation would.

History posted at today's clock (a backfill through the API, replayed batches) fires each
batch's timers at "now": the decay exit, a cooldown's end. The next batch's events come
after every event and every person's move of the lead, but before those timers' moves,
so they are late; the engine then undoes the moves time made after them and scores them
in order (`history.rewound`) instead of deriving the whole history again.

Two stores take the same batches at the same clock: one as served, the other with that
shortcut switched off (every late event derives the lead's history again). After every
delivery the stores must hold the same leads (every column: stage, its moment and
reason, scores, grades, timers and the engine's bookkeeping), the same stage history
row for row (from, to, at, actor, reason, the rows corrections void), and the same
webhooks.
"""

from __future__ import annotations

import collections
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from conftest import FakeClock
from leadgate.engine import history
from leadgate.engine.engine import Engine
from leadgate.engine.errors import NotFound
from leadgate.ingest.validate import EventIn
from leadgate.leads import derivation
from leadgate.lifecycle.stages import IllegalTransition
from leadgate.store.database import Database
from leadgate.store.repository import Repository, dumps
from leadgate.webhooks import OutboxWriter

DAY = 86400.0
T0 = 1_790_000_000.0
TYPES = ["webinar_attended", "page_view", "whitepaper_download", "unsubscribe", "demo_request"]


@st.composite
def playbooks(draw: st.DrawFn) -> str:
    """Short half-lives and cooldowns, so timers fire between batches."""
    rules = []
    for n, typ in enumerate(draw(st.lists(st.sampled_from(TYPES[:4]), min_size=1, max_size=4))):
        points = draw(st.sampled_from([5, 10, 20, 12.5, 7.33]))
        rule: dict[str, Any] = {
            "name": f"r{n}",
            "event": typ,
            "points": -points if typ == "unsubscribe" else points,
        }
        if draw(st.booleans()):
            rule["max_per_lead"] = draw(st.integers(1, 3))
        rules.append(rule)
    recycle: dict[str, Any] = {"cooldown_days": draw(st.sampled_from([0.5, 2, 10]))}
    exit_line = draw(st.sampled_from([None, 5, 12]))
    if exit_line is not None:
        recycle["mql_exit_engagement"] = exit_line
    # Engagement alone, or with the fit every lead here has (20: an acme.com address),
    # so that a cooldown's end re-qualifies a lead whose engagement has decayed.
    engagement = {"score": "engagement", "op": "gte", "value": draw(st.sampled_from([15, 25]))}
    when = draw(
        st.sampled_from(
            [
                engagement,
                {"all": [{"score": "fit", "op": "gte", "value": 10}, engagement]},
                {"score": "total", "op": "gte", "value": 25},
                {"score": "fit", "op": "gte", "value": 10},
            ]
        )
    )
    doc = {
        "name": "rewind",
        "fit": {
            "rules": [
                {
                    "name": "acme",
                    "if": {"field": "email_domain", "op": "eq", "value": "acme.com"},
                    "points": 20,
                },
                {
                    "name": "vp",
                    "if": {"field": "job_title", "op": "contains", "value": "VP"},
                    "points": 10,
                },
            ],
            "grades": {"A": 50, "B": 30, "C": 10},
        },
        "engagement": {
            "half_life_days": draw(st.sampled_from([1, 3, 10])),
            "rules": rules,
            "grades": {"1": 60, "2": 30, "3": 10},
        },
        "stages": {
            "mql": {"when": when, "hand_raisers": draw(st.sampled_from([[], ["demo_request"]]))},
            "recycle": recycle,
        },
    }
    return yaml.safe_dump(doc)


# A batch: its events (minutes after the previous one, type), how far back before the
# lead's last event it starts (0: after it, in order), and when it is posted (minutes
# after its last event); then what else happens before the next one.
BATCHES = st.lists(
    st.tuples(
        st.lists(
            st.tuples(st.sampled_from([0, 1, 60, 1440, 4320]), st.sampled_from(TYPES)),
            min_size=1,
            max_size=4,
        ),
        st.sampled_from([0] * 6 + [60, 4 * 1440]),
        st.sampled_from([0, 60, 1440, 12 * 1440, 40 * 1440, 40 * 1440, 90 * 1440, 90 * 1440]),
        st.sampled_from([None] * 8 + ["tick", "tick", "sal", "nurture", "vp", "predicted"]),
    ),
    min_size=1,
    max_size=6,
)
LEADS = ["ann@acme.com", "bo@acme.com"]


def _store(tmp: str, name: str) -> Database:
    url = f"sqlite:///{Path(tmp) / name}"
    db = Database(url)
    db.migrate()
    return db


def _subscribe(db: Database, now: float) -> None:
    with db.write() as conn:
        Repository(db, conn).execute(
            "INSERT INTO webhook_subscriptions (url, events, secret, active, created_at, "
            "created_by) VALUES (?,?,?,?,?,?)",
            [
                "http://127.0.0.1:9/hook",
                "lead.created,lead.stage_changed,lead.stage_corrected,lead.score_changed",
                "whsec_" + "x" * 20,
                True,
                now,
                "test",
            ],
        )


def _held(db: Database) -> dict[str, Any]:
    """Everything the store holds of the leads, their histories and their webhooks."""
    with db.read() as conn:
        repo = Repository(db, conn)

        def q(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in repo.execute(sql).fetchall()]

        told = []
        for typ, lead_id, payload in q(
            "SELECT event_type, lead_id, payload FROM webhook_outbox ORDER BY created_at, rowid"
        ):
            body = orjson.loads(payload)
            told.append((typ, lead_id, body["created_at"], body["data"]))
        return {
            "leads": q("SELECT * FROM leads ORDER BY id"),
            "transitions": q(
                "SELECT id, lead_id, from_stage, to_stage, at, actor, reason, "
                "playbook_version, voids FROM transitions ORDER BY id"
            ),
            "webhooks": told,
        }


def _ev(eid: str, email: str, typ: str, at: float) -> EventIn:
    props = {"url": "/pricing"}
    return EventIn(eid, email, typ, at, props, dumps(props))


Batch = tuple[list[tuple[int, str]], int, int, str | None]


def _deliver(engines: list[Engine], clock: FakeClock, batches: list[Batch]) -> Iterator[None]:
    """The batches to every engine, the same facts at the same clock; yields after each."""
    last = {email: T0 for email in LEADS}
    now = T0
    for n, (items, back, lag, then) in enumerate(batches):
        email = LEADS[1 if n % 3 == 2 else 0]  # mostly one lead, now and then the other
        t = last[email] - back * 60
        evs = []
        for k, (gap, typ) in enumerate(items):
            t += gap * 60 + 0.001 * k
            evs.append((f"{email}-{n}-{k}", typ, t))
        last[email] = max(last[email], t)
        now = max(now, t + lag * 60)
        clock.now = now
        for eng in engines:
            eng.ingest([_ev(i, email, typ, at) for i, typ, at in evs], now)
        yield
        if then is None:
            continue
        now += 3600
        clock.now = now
        for eng in engines:
            if then == "tick":
                eng.tick(now)
            elif then in ("vp", "predicted"):
                value: Any = "VP Sales" if then == "vp" else 0.7
                eng.upsert_leads(
                    [(email, {"job_title" if then == "vp" else "predicted": value}, None)]
                )
            else:
                with contextlib.suppress(IllegalTransition):
                    eng.set_stage(email, then, "not now" if then == "nurture" else None, "user:pat")
        yield


def _compare(pb: str, batches: list[Batch]) -> None:
    """Both stores, batch by batch: the served one must hold what the derived one holds."""
    clock = FakeClock(T0)
    with tempfile.TemporaryDirectory() as tmp:
        dbs = [_store(tmp, "served.db"), _store(tmp, "derived.db")]
        try:
            engines = [Engine(db, clock=clock) for db in dbs]
            for eng, db in zip(engines, dbs, strict=True):
                eng.listeners.append(OutboxWriter())
                _subscribe(db, T0)
                eng.activate_playbook(pb, "rewind.yaml", "test")
            served, derived = engines
            rewound: collections.Counter[str] = collections.Counter()
            real, ingest = history.rewound, Engine.ingest
            serving = [True]

            def shortcut(*args: Any, **kwargs: Any) -> Any:
                if not serving[0]:
                    return None  # the derived store: every late event derives again
                got = real(*args, **kwargs)
                rewound["rewound" if got is not None else "derived"] += 1
                return got

            def routed(self: Engine, *args: Any, **kwargs: Any) -> Any:
                serving[0] = self is served
                return ingest(self, *args, **kwargs)

            with (
                mock.patch.object(history, "rewound", shortcut),
                mock.patch.object(Engine, "ingest", routed),
            ):
                for n, _ in enumerate(_deliver(engines, clock, batches)):
                    a, b = _held(dbs[0]), _held(dbs[1])
                    assert a["leads"] == b["leads"], f"step {n}: leads differ"
                    assert a["transitions"] == b["transitions"], f"step {n}: histories differ"
                    assert a["webhooks"] == b["webhooks"], f"step {n}: webhooks differ"
                    for email in LEADS:
                        try:
                            shown = served.show(email), derived.show(email)
                        except NotFound:  # not created yet
                            continue
                        assert shown[0] == shown[1], f"step {n}: {email} shown differently"
            for k, v in rewound.items():
                event(f"{k} {min(v, 3)}+")
        finally:
            for db in dbs:
                db.dispose()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(pb=playbooks(), batches=BATCHES)
def test_events_late_only_for_timers_give_what_a_derivation_gives(
    pb: str, batches: list[Batch]
) -> None:
    _compare(pb, batches)


BACKFILL = """
name: backfill
fit: {rules: [], grades: {A: 50, B: 30, C: 10}}
engagement:
  half_life_days: 3
  rules: [{event: webinar_attended, points: 20}]
  grades: {"1": 60, "2": 30, "3": 10}
stages:
  mql: {when: {score: engagement, op: gte, value: 25}, hand_raisers: [demo_request]}
  recycle: {cooldown_days: 10, mql_exit_engagement: 12}
"""


def test_a_backfill_batch_before_a_decay_exit_is_placed_without_reading_the_history(
    sqlite_url: str,
) -> None:
    # Day 1: a webinar (+20) and a demo request (an MQL, armed for the exit), posted on
    # day 20: the exit fires at "now", at its moment on day 3. The next batch holds a
    # webinar of day 2 - after every event, before that exit: the MQL lasts longer.
    clock = FakeClock(T0)
    eng = Engine(Database(sqlite_url), clock=clock)
    eng.activate_playbook(BACKFILL, "backfill.yaml", "test")
    a, b = "a@acme.com", "b@acme.com"
    day1 = [("webinar_attended", T0 + DAY), ("demo_request", T0 + DAY + 60)]
    day2 = [("webinar_attended", T0 + 2 * DAY)]
    eng.ingest([_ev(f"{a}-{i}", a, typ, at) for i, (typ, at) in enumerate(day1)], T0 + 20 * DAY)
    [_, exit_row] = eng.show(a)["history"]
    read: list[int] = []
    real = Repository.events_of

    def events_of(self: Repository, lead_id: int) -> Any:
        read.append(lead_id)
        return real(self, lead_id)

    with mock.patch.object(Repository, "events_of", events_of):
        eng.ingest([_ev(f"{a}-2", a, "webinar_attended", T0 + 2 * DAY)], T0 + 21 * DAY)
    assert read == []  # placed without reading the lead's events again
    # The same facts in time order, in one batch, give the same history.
    both = [_ev(f"{b}-{i}", b, typ, at) for i, (typ, at) in enumerate(day1 + day2)]
    eng.ingest(both, T0 + 21 * DAY)
    shown, in_order = eng.show(a), eng.show(b)

    def rows(s: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(h["from"], h["to"], h["at"], h["actor"]) for h in s["history"]]

    assert rows(shown) == rows(in_order)
    assert rows(shown)[1][2] > exit_row["at"]  # the exit moved later
    [c] = shown["corrections"]
    assert (c["voided"]["to"], c["voided"]["at"]) == ("nurture", exit_row["at"])
    for key in ("stage", "stage_since", "stage_reason", "engagement", "next_due_at"):
        assert shown[key] == in_order[key], key


def _stage_at_first(lead: Any, rows: Any, first: Any, cooldown: float) -> Any:
    back = real_rewind_timers(lead, rows, first, cooldown)
    if back is not None and back[1]:
        lead.stage_at = first.at
    return back


def _stage_kept(lead: Any, rows: Any, first: Any, cooldown: float) -> Any:
    stage = lead.stage
    back = real_rewind_timers(lead, rows, first, cooldown)
    lead.stage = stage
    return back


def _no_corrections(
    repo: Any, proc: Any, s: Any, events: Any, now: float, why: str, stored: Any
) -> Any:
    first = min(events, key=lambda e: (e.at, e.id))
    back = real_rewind_timers(s.state, [r[1:6] for r in stored], first, proc.cooldown)
    if back is None:
        return None
    return proc.apply_events(s.state, events, now) or None


real_rewind_timers = derivation.rewind_timers


@pytest.mark.parametrize("mutant", ["stage_at_first", "stage_kept", "no_corrections"])
def test_the_property_catches_a_broken_rewind(mutant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if mutant == "no_corrections":
        monkeypatch.setattr(history, "rewound", _no_corrections)
    else:
        broken = _stage_at_first if mutant == "stage_at_first" else _stage_kept
        monkeypatch.setattr(history, "rewind_timers", broken)
    inner = settings(
        max_examples=300,
        deadline=None,
        database=None,
        derandomize=True,  # whether a mutant is caught must not be luck
        phases=[Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )(given(pb=playbooks(), batches=BATCHES)(_compare))
    with pytest.raises(AssertionError):
        inner()


REASONED = """
name: reasoned
fit:
  rules:
    - {name: acme, if: {field: email_domain, op: eq, value: acme.com}, points: 20}
    - {name: vp, if: {field: job_title, op: contains, value: VP}, points: 10}
  grades: {A: 50, B: 30, C: 10}
engagement:
  half_life_days: 10
  rules: [{event: webinar_attended, points: 20}]
  grades: {"1": 60, "2": 30, "3": 10}
stages:
  mql: {when: {all: [{score: fit, op: gte, value: 10}, {score: engagement, op: gte, value: 15}]}}
  recycle: {cooldown_days: 10, mql_exit_engagement: 12}
"""


def test_an_mql_restored_by_a_rewind_says_what_the_rules_say_of_it_today(
    sqlite_url: str,
) -> None:
    # The MQL's stored row says "fit 20": the job title that makes the fit 30 came later,
    # and the re-derivation it caused kept the row (same moment, same rule). The decay
    # exit fired at a tick; a webinar dated before the exit arrives and keeps the MQL
    # above the line: no move follows, so the stage's reason is the one the rules give
    # the MQL today, as when the facts come in time order - not the stored row's words.
    clock = FakeClock(T0 + DAY)
    eng = Engine(Database(sqlite_url), clock=clock)
    eng.activate_playbook(REASONED, "reasoned.yaml", "test")
    a, b = "a@acme.com", "b@acme.com"
    eng.ingest([_ev(f"{a}-1", a, "webinar_attended", T0 + DAY)])
    clock.now = T0 + DAY + 3600
    eng.upsert_leads([(a, {"job_title": "VP Sales"}, None)])
    clock.now = T0 + 9 * DAY
    eng.tick()
    assert eng.show(a)["stage"] == "nurture"
    eng.ingest([_ev(f"{a}-2", a, "webinar_attended", T0 + 8 * DAY)])
    eng.upsert_leads([(b, {"job_title": "VP Sales"}, T0)])
    eng.ingest(
        [
            _ev(f"{b}-1", b, "webinar_attended", T0 + DAY),
            _ev(f"{b}-2", b, "webinar_attended", T0 + 8 * DAY),
        ]
    )
    shown, in_order = eng.show(a), eng.show(b)
    assert shown["stage"] == in_order["stage"] == "mql"
    assert shown["stage_reason"] == in_order["stage_reason"]
    assert "fit 30" in shown["stage_reason"]
