"""The set-based rescore's replay (engine/rescore_replay.py) stores what the core's
`EngagementRules.replay` stores, bit for bit: random histories (ties, caps, rolling
windows, decay or none, negative points, several rules on one type, with and without
an `if`, manual adjustments, leads with no events) under random rules, compared as the
stored state text (`dump_state`)."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgate.engine.rescore_replay import replay_page, rule_tally
from leadgate.playbook.model import EngagementRule, EngagementSection
from leadgate.scoring.engagement import DAY, EngagementRules, Event
from leadgate.store.database import Database
from leadgate.store.repository import Repository, dump_state, loads

TYPES = ("a", "b", "c")
URLS = ("/pricing", "/PRICING/x", "/blog", None)
START = 1_780_000_000.0
PREFIX = "eZ\u00e9\u20ac"  # event ids: ASCII and not


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "t.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return path


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Iterator[Any]:
    def make() -> Database:
        d = Path(tempfile.mkdtemp(dir=tmp_path))
        shutil.copyfile(template, d / "s.db")
        return Database(f"sqlite:///{d / 's.db'}")

    made: list[Database] = []

    def factory() -> Database:
        made.append(make())
        return made[-1]

    yield factory
    for db in made:
        db.dispose()


rule = st.fixed_dictionaries(
    {
        "event": st.sampled_from(TYPES),
        "points": st.sampled_from([-20.0, -0.5, 0.1, 1.0, 5.0, 7.3, 30.0]),
    },
    optional={
        "if": st.sampled_from(
            [
                {"field": "url", "op": "contains", "value": "pricing"},
                {"field": "url", "op": "eq", "value": "/blog"},
            ]
        ),
        "max_per_lead": st.integers(1, 4),
        "max_per_days": st.fixed_dictionaries(
            {"count": st.integers(1, 3), "days": st.sampled_from([0.5, 1, 7])}
        ),
    },
)
event = st.tuples(
    st.integers(0, 3),  # lead
    st.sampled_from([*TYPES, "other", "manual_adjustment"]),
    # Few distinct moments, so ties are common; some days apart so windows slide.
    st.one_of(
        st.sampled_from([0.0, 1.0, 3600.0, 0.6 * DAY, DAY, 1.5 * DAY, 8 * DAY, 40 * DAY]),
        # Irregular moments: decay factors whose last bit depends on the pow used.
        st.integers(0, int(40 * DAY * 1000)).map(lambda ms: ms / 1000),
    ),
    st.sampled_from(URLS),
    st.sampled_from([("call", 5.0, None), ("call", -2.5, None), ("demo", 12.5, "fit")]),
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rules=st.lists(rule, min_size=1, max_size=5),
    half_life=st.sampled_from([None, 0.5, 7, 30]),
    decay=st.booleans(),
    events=st.lists(event, min_size=10, max_size=150),
)
def test_the_replay_stores_what_the_core_replay_stores(
    store: Any, rules: list[dict[str, Any]], half_life: Any, decay: bool, events: list[Any]
) -> None:
    named = [{**r, "name": f"r{i}"} for i, r in enumerate(rules)]
    section = EngagementSection.model_validate(
        {"half_life_days": half_life, "rules": named, "adjustments": {"decay": decay}}
    )
    eng = EngagementRules(section)
    db = store()
    with db.write() as conn:
        repo = Repository(db, conn)
        for lid in range(1, 6):  # lead 5 has no events
            repo.execute(
                "INSERT INTO leads (id, email, attributes, created_at, stage, stage_at, "
                "updated_at, score_state, fit, engagement, score, fit_grade, "
                "engagement_grade, grade, scored_at, exit_armed) "
                "VALUES (?,?,?,?,?,?,?,?,0,0,0,'C','3','C3',?,?)",
                [lid, f"p{lid}@x.com", "{}", START, "lead", START, START, "{}", START, False],
            )
        for k, (lead, typ, at, url, (reason, pts, score)) in enumerate(events):
            if typ == "manual_adjustment":
                props: dict[str, Any] = {"points": pts, "reason": reason}
                if score:
                    props["score"] = score
            else:
                props = {} if url is None else {"url": url}
            repo.execute(
                "INSERT INTO events (id, lead_id, type, occurred_at, received_at, "
                "properties) VALUES (?,?,?,?,?,?)",
                # Ids in an order unlike time's (and not all ASCII): ties are broken by id.
                [
                    f"{PREFIX[k % 4]}{(k * 7919) % 1000:03d}",
                    lead + 1,
                    typ,
                    START + at,
                    START,
                    orjson.dumps(props).decode(),
                ],
            )
    with db.read() as conn:
        repo = Repository(db, conn)
        got = replay_page(repo, 1, 5, eng)
        rows = repo.execute("SELECT lead_id, id, type, occurred_at, properties FROM events")
        by: dict[int, list[Event]] = {}
        for lid, eid, typ, at, p in rows.fetchall():
            by.setdefault(lid, []).append(Event(eid, typ, at, loads(p)))
    for lid in range(1, 6):
        want = dump_state(eng.replay(by.get(lid, [])))
        assert dump_state(got.state(lid)) == want, lid
        assert dump_state(got.state(lid)) == want  # a fresh state each call


@pytest.mark.parametrize("seed", range(20))
def test_a_tally_is_the_core_apply_operation_for_operation(seed: int) -> None:
    """Decay (whose factor's last bit depends on the pow used: `math.exp` would differ),
    windows and a cap, against `apply` event by event, over long random histories."""
    rng = random.Random(seed)
    section = EngagementSection.model_validate(
        {
            "half_life_days": rng.choice([0.5, 1, 3]),
            "rules": [
                {"name": "x", "event": "a", "points": 3.7, "max_per_days": {"count": 2, "days": 1}},
                {"name": "y", "event": "a", "points": -1.1, "max_per_lead": 5},
                {"name": "z", "event": "a", "points": 0.3},
            ],
        }
    )
    eng = EngagementRules(section)
    ats = sorted(START + rng.uniform(0, 60 * DAY) for _ in range(rng.randint(2, 300)))
    state = eng.replay([Event(f"e{i:04d}", "a", at, {}) for i, at in enumerate(ats)])
    for r in eng.rules:
        assert rule_tally(eng, r, ats) == state.rules[r.position]


def test_a_rule_on_manual_adjustments_scores_nothing_as_in_the_core(store: Any) -> None:
    """The playbook model refuses such a rule; built around it, the replay still does
    what `apply` does (the adjustment adjusts, the rule never scores)."""
    odd = EngagementRule.model_construct(
        event="manual_adjustment",
        points=5.0,
        if_=None,
        max_per_lead=None,
        max_per_days=None,
        name="odd",
    )
    base = EngagementSection.model_validate(
        {"half_life_days": 7, "rules": [{"event": "a", "points": 1}]}
    )
    eng = EngagementRules(base.model_copy(update={"rules": [odd, *base.rules]}))
    db = store()
    events = [
        ("e1", "manual_adjustment", START + 5, '{"points":3,"reason":"call"}'),
        ("e2", "a", START + 6, "{}"),
    ]
    with db.write() as conn:
        repo = Repository(db, conn)
        repo.execute(
            "INSERT INTO leads (id, email, attributes, created_at, stage, stage_at, "
            "updated_at, score_state, fit, engagement, score, fit_grade, "
            "engagement_grade, grade, scored_at, exit_armed) "
            "VALUES (1,'p@x.com','{}',?,'lead',?,?,'{}',0,0,0,'C','3','C3',?,?)",
            [START, START, START, START, False],
        )
        for eid, typ, at, props in events:
            repo.execute(
                "INSERT INTO events (id, lead_id, type, occurred_at, received_at, "
                "properties) VALUES (?,1,?,?,?,?)",
                [eid, typ, at, START, props],
            )
        got = replay_page(repo, 1, 1, eng).state(1)
    want = eng.replay([Event(e, t, at, loads(p)) for e, t, at, p in events])
    assert dump_state(got) == dump_state(want)
    assert list(got.rules) == [1] and got.adjustments
