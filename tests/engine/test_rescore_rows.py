"""The set-based rescore's row path (engine/rescore_rows.py) gives what the object path
gives, lead by lead: for every row it settles, `rescore_set.settle` on the lead read from
that row settles it too with the same stored values; its engagement sum is the core's
`EngagementRules.total` to the last bit; an MQL rule that reads a field is never decided
for one lead from another's verdict.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FakeClock
from leadgate.engine.engine import Engine
from leadgate.engine.rescore import Events, versions
from leadgate.engine.rescore_replay import replay_page
from leadgate.engine.rescore_rows import ROW_COLS, VERSION, LazyFields, RowSettler, total_of
from leadgate.engine.rescore_set import settle, stored_values
from leadgate.playbook.loader import load_playbook
from leadgate.scoring.engagement import ADJUSTMENT, EngagementRules, Event
from leadgate.store.repository import Repository, _row_to_lead, dump_state, load_state
from tests.engine.test_rescore_paths import BASE, build, changed, same_on_both_paths, template

__all__ = ["template"]  # the module-scoped store template fixture, used below

DAY = 86400.0
ROW_CHANGES = {
    "points": {"webinar": 25},
    "half-life": {"half_life": 21},
    "fit gate": {"mql_fit": 15},
    "cap and negative points": {"whitepaper_cap": 1, "unsubscribe": -5},
}
# The MQL rule reads a field: its verdict depends on more than fit and engagement.
ON_A_FIELD = BASE.replace(
    "when: {all: [{score: fit, op: gte, value: 30}, {score: engagement, op: gte, value: 30}]}",
    "when: {all: [{field: country, op: in, value: [US]}, {score: engagement, op: gte, value: 12}]}",
)


def _compare(engine: Engine, text: str) -> tuple[int, RowSettler]:
    """Activate `text` without rescoring, then hold each row's row-path result against
    the object path's. Returns how many rows the row path settled, and its settler."""
    with engine.db.write() as conn:
        Repository(engine.db, conn).add_playbook("x", text, "ana", engine.clock())
    engine._active_version = None
    vs = versions(engine)
    now = engine.clock()
    settler = RowSettler(vs, now)
    n = 0
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        rows = repo.execute(f"SELECT {ROW_COLS} FROM leads ORDER BY id").fetchall()
        vs.learn_versions(engine, {r[VERSION] for r in rows})
        events: Events = (
            replay_page(repo, rows[0][0], rows[-1][0], vs.proc.rules)
            if any(vs.replays(r[VERSION]) for r in rows)
            else {}
        )
        for r in rows:
            values = settler.settle(r, events)
            s = _row_to_lead(r)
            ok = settle(vs, s, events, now)
            if values is not None:
                n += 1
                assert ok, r[0]
                assert values == stored_values(s), r[0]
    return n, settler


def reordered(text: str = BASE) -> str:
    """The engagement rules in another order, webinars worth 25: carried over with a
    mapping that is not the identity (the state's tallies change places)."""
    a = "    - {event: whitepaper_download, points: 10, max_per_lead: 3}\n"
    b = "    - {event: webinar_attended, points: 20}\n"
    c = "    - {event: email_click, points: 2, max_per_days: {count: 3, days: 7}}\n"
    assert a in text and b in text and c in text
    text = text.replace(a, "").replace(b, "").replace(c, "")
    return text.replace(
        "    - {event: unsubscribe, points: -20}\n",
        f"    - {{event: unsubscribe, points: -20}}\n{c}{b.replace('20', '25')}{a}",
    )


@pytest.mark.parametrize("change", list(ROW_CHANGES))
def test_the_row_path_settles_with_the_object_paths_values(
    engine: Engine, clock: FakeClock, change: str
) -> None:
    build(engine, clock, seed=11, n_leads=30, n_events=260)
    clock.advance(3 * DAY)
    n, _ = _compare(engine, changed(**ROW_CHANGES[change]))
    assert n > 0  # the row path ran


def test_reordered_rules_carry_over_in_the_new_order(engine: Engine, clock: FakeClock) -> None:
    build(engine, clock, seed=14, n_leads=30, n_events=260)
    clock.advance(3 * DAY)
    n, settler = _compare(engine, reordered())
    assert n > 0
    (inverse,) = [m for m in settler._inverse.values() if m is not None]
    assert any(old != new for old, (new, _) in inverse.items())  # not the identity


def test_reordered_rules_rescore_the_same_on_both_paths(template: Path, tmp_path: Path) -> None:
    same_on_both_paths(template, tmp_path, 8, reordered(), n_leads=8, n_events=80)


def test_a_rule_on_a_field_reads_the_fields_and_is_never_remembered(
    engine: Engine, clock: FakeClock
) -> None:
    build(engine, clock, seed=12, n_leads=30, n_events=260)
    clock.advance(3 * DAY)
    _, settler = _compare(engine, ON_A_FIELD.replace("points: 20}", "points: 21}", 1))
    assert settler.verdicts == {}
    with pytest.raises(orjson.JSONDecodeError):  # this rule reads the attributes
        settler.mql((1, "a@b.com", "{not json"), 41.37, math.inf)


def test_a_rule_on_scores_alone_decodes_no_attributes(engine: Engine, clock: FakeClock) -> None:
    build(engine, clock, seed=13, n_leads=10, n_events=60)
    clock.advance(3 * DAY)
    _, settler = _compare(engine, changed(webinar=25))
    assert settler.verdicts  # remembered: no field was read
    # Attributes that are not JSON: decoding them would raise.
    assert (41.37, math.inf) not in settler.verdicts
    assert settler.mql((1, "a@b.com", "{not json"), 41.37, math.inf) is None
    assert settler.verdicts[41.37, math.inf] is None
    fields = LazyFields(settler.proc, (1, "a@b.com", '{"country": "US"}'))
    assert fields.unread()
    assert dict(fields) == {"country": "US", "email": "a@b.com", "email_domain": "b.com"}


def test_a_rule_on_a_field_rescores_the_same_on_both_paths(template: Path, tmp_path: Path) -> None:
    """Leads with one fit and different countries: a verdict taken from another lead
    would settle a lead the rule moves to MQL (the stores would differ)."""
    text = ON_A_FIELD.replace("half_life_days: 30", "half_life_days: 21")
    load_playbook(text, "new.yaml")
    same_on_both_paths(template, tmp_path, 5, text, n_leads=8, n_events=60)
    same_on_both_paths(
        template,
        tmp_path,
        6,
        ON_A_FIELD.replace(
            "{event: webinar_attended, points: 20}", "{event: webinar_attended, points: 9}"
        ),
        n_leads=8,
        n_events=60,
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    half_life=st.sampled_from([None, 1, 7, 30]),
    decay=st.booleans(),
    later=st.floats(0, 200 * DAY),
)
def test_the_row_paths_sum_is_the_cores_total(
    seed: int, half_life: int | None, decay: bool, later: float
) -> None:
    text = BASE.replace(
        "adjustments: {decay: false}", f"adjustments: {{decay: {str(decay).lower()}}}"
    )
    text = text.replace(
        "half_life_days: 30",
        f"half_life_days: {half_life}" if half_life else "half_life_days: null",
    )
    rules = EngagementRules(load_playbook(text, "p").engagement)
    rng = random.Random(seed)
    types = [*rules.by_type, ADJUSTMENT, "email_open"]
    evs = []
    for i in range(rng.randint(0, 40)):
        typ = rng.choice(types)
        props: dict[str, Any] = {"url": "/pricing"} if typ == "page_view" else {}
        if typ == ADJUSTMENT:
            props = {"points": rng.choice([-7.5, 3.333, 12.0]), "reason": rng.choice("ab")}
        evs.append(Event(f"e{i}", typ, rng.uniform(0, 90 * DAY), props))
    state = rules.replay(evs)
    data = orjson.loads(dump_state(state))
    for at in (0.0, 45 * DAY, 90 * DAY + later):
        core = rules.total(load_state(dump_state(state)), at)
        assert total_of(data[2], data[3], rules.half_life, at) == core
