"""How rows hold JSON documents and a lead's engagement state.

`dumps`/`loads` are the store's JSON (sorted keys, so equal documents compare equal);
`dump_state`/`load_lead_state` the compact array a lead row keeps its engagement state in.

Example:
    >>> dumps({"b": 1, "a": [1, 2]})
    '{"a":[1,2],"b":1}'
    >>> load_state(dump_state(load_state("{}"))).rules
    {}
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from leadgate.scoring.engagement import EngagementState, Tally


def dumps(obj: Any) -> str:
    """Compact JSON text (orjson) with sorted keys, so equal documents compare equal."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def loads(text: str | bytes | None) -> Any:
    """Inverse of `dumps`; None and empty give {}."""
    return orjson.loads(text) if text else {}


_NEVER = -math.inf
_SORTED = orjson.OPT_SORT_KEYS


def dump_state(st: EngagementState, settled_at: float = _NEVER) -> str:
    """A lead's engagement state as stored: a JSON array, cheaper both ways than the
    keyed form of `EngagementState.to_json` (which `load_state` still reads). The
    lead's `settled_at` rides along as a sixth item when it is set."""
    last = st.last_at
    # A loop, not a list comprehension: cheaper for the rule or two a lead has.
    rules: list[list[Any]] = []
    for k, t in st.rules.items():
        rules.append([k, t.count, t.value, t.anchor, t.window])
    data = [None if last == _NEVER else last, st.last_id, rules, st.adjustments, st.fit_adjustments]
    if settled_at != _NEVER:
        data.append(settled_at)
    return orjson.dumps(data, option=_SORTED).decode()


def load_state(text: str | bytes | None) -> EngagementState:
    """Inverse of `dump_state`; also reads the keyed form and the empty `{}`."""
    return load_lead_state(text)[0]


def load_lead_state(text: str | bytes | None) -> tuple[EngagementState, float]:
    """(engagement state, settled_at) as `dump_state` wrote them."""
    data = orjson.loads(text) if text else None
    if not isinstance(data, list):
        return EngagementState.from_json(data), -math.inf
    t, last_id, rules, adjustments, fit_adjustments = data[:5]
    # A loop, not a dict comprehension: a lead has a rule or two, and the comprehension's
    # own call cost more than its loop (~1,000 instructions a lead read).
    tallies: dict[int, Tally] = {}
    for k, c, v, a, w in rules:
        tallies[k] = Tally(c, float(v), float(a), w)
    state = EngagementState(
        -math.inf if t is None else float(t), last_id, tallies, adjustments, fit_adjustments
    )
    return state, float(data[5]) if len(data) > 5 else -math.inf
