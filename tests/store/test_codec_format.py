"""The engagement state a lead row holds keeps its stored form: the bytes `dump_state`
writes, and what `load_lead_state` reads back from rows written before (the array form
with integers, the keyed form, the empty `{}`)."""

from __future__ import annotations

import math

from leadgate.scoring.engagement import EngagementState, Tally
from leadgate.store.codec import dump_state, load_lead_state

STATE = EngagementState(
    1775066357.0,
    "ev-7-143961",
    {3: Tally(3, 10.889721070638066, 1771369423.0, [1771369423.0]), 0: Tally(1, 10.0, 17.5, [])},
    {"manual": [2.5, 1.0, 1.0]},
    {"b": 1.0, "a": -2.0},
)
STORED = (
    '[1775066357.0,"ev-7-143961",[[3,3,10.889721070638066,1771369423.0,[1771369423.0]],'
    '[0,1,10.0,17.5,[]]],{"manual":[2.5,1.0,1.0]},{"a":-2.0,"b":1.0}]'
)


def test_dump_state_writes_the_stored_form() -> None:
    assert dump_state(STATE) == STORED
    assert dump_state(STATE, 12.5) == STORED[:-1] + ",12.5]"
    assert dump_state(EngagementState()) == '[null,"",[],{},{}]'


def test_load_lead_state_reads_every_stored_form() -> None:
    assert load_lead_state(STORED) == (STATE, -math.inf)
    assert load_lead_state(STORED[:-1] + ",12.5]") == (STATE, 12.5)
    # Integers where floats are read as floats (a value or an anchor written as 10).
    state, _ = load_lead_state('[5,"e",[[1,2,10,17,[]]],{},{}]')
    tally = state.rules[1]
    assert (state.last_at, tally.value, tally.anchor) == (5.0, 10.0, 17.0)
    assert type(state.last_at) is type(tally.value) is type(tally.anchor) is float
    assert load_lead_state("{}") == (EngagementState(), -math.inf)
    assert load_lead_state(None) == (EngagementState(), -math.inf)
    keyed = '{"t": 5.0, "i": "e", "r": {"1": [2, 10.0, 17.0, []]}, "a": {}, "f": {}}'
    assert load_lead_state(keyed)[0].rules[1] == Tally(2, 10.0, 17.0, [])
