"""The set-based rescore's common case straight from the lead's row, with no lead object.

Most leads of a rescore settle (`rescore_set.settle`: their stage cannot move when the
new version takes over), and for those the take-over only rewrites the engagement state,
the scores and the grades. Building a `LeadState` (its attributes decoded, a `Tally` per
rule), carrying the state over, scoring it and encoding it again was ~35 µs of Python a
lead against the write-back floor's 15 µs (docs/benchmarks.md). Here a row whose lead
settles with the fit it has stored is handled as data: the stored state's JSON array is
rewritten for the new rules (carried over: each rule's value times new/old points; or the
page's replayed tallies, `rescore_replay.Replayed`), the engagement is summed with
`EngagementRules.total`'s own operations in its order, the grades come from the core's
`grade_fit` / `grade_engagement`, and the MQL rule is the core's three-valued one
(`LeadProcessor.mql_tri`) fed the lead's fields only if the rule reads them
(`LazyFields`). Anything else (a changed fit section, a stored keyed state, a replayed
lead with manual adjustments or an ambiguous order, a lead the rule may move) answers
None and goes the object path (`rescore_set.settle`, then the lifecycle).

The stored results are those of the per-lead path bit for bit: the run-time sample
compares them (`rescore_set._verify`), and tests/engine/test_rescore_paths.py and
tests/engine/test_rescore_rows.py compare whole stores and single rows.

Example (`RowSettler(vs, now).settle(row, events)` for a row read with `ROW_COLS`):
    >>> total_of([[0, 2, 30.0, 0.0, []], [1, 0, 0.0, 0.0, []]], {}, None, 86400.0)
    30.0
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

import orjson

from leadgate.engine.rescore import Events, Versions
from leadgate.engine.rescore_replay import Replayed
from leadgate.leads.processor import LeadProcessor
from leadgate.leads.record import LeadState
from leadgate.scoring.grades import grade_engagement, grade_fit
from leadgate.store.repository import _LEAD_COLS, loads

# What the rescore reads of a lead: the repository's row (`_row_to_lead` reads its first
# 17 columns) and the stored grades, to write only the rows whose score or grades moved.
ROW_COLS = f"{_LEAD_COLS}, fit_grade, engagement_grade"
# Row positions (ROW_COLS).
ID, EMAIL, ATTRS, CREATED, STAGE, STAGE_AT, REASON, ARMED, STATE, VERSION = range(10)
SPENT, DUE, OWNER, UPDATED, SCORE, GRADE, FIT, FIT_GRADE, ENG_GRADE = range(10, 19)

_NEG_INF = -math.inf
_FIRST = itemgetter(0)
# At most this many MQL verdicts (and grades) remembered (`RowSettler.mql`).
_VERDICTS = 100_000
# A rule's tally in the stored state's array: [position, count, value, anchor, window].
Rule = Sequence[Any]


class LazyFields(Mapping[str, Any]):
    """The lead's fields as `LeadProcessor.fields` makes them, decoded from the row only
    when a condition reads one (an MQL rule on scores alone never does)."""

    __slots__ = ("_fields", "_proc", "_row")

    def __init__(self, proc: LeadProcessor, row: Sequence[Any]):
        self._proc = proc
        self._row = row
        self._fields: Mapping[str, Any] | None = None

    def _load(self) -> Mapping[str, Any]:
        if self._fields is None:
            row = self._row
            lead = LeadState(email=row[EMAIL], attributes=loads(row[ATTRS]), created_at=0.0)
            self._fields = self._proc.fields(lead)
        return self._fields

    def unread(self) -> bool:
        """Whether no field was asked for yet."""
        return self._fields is None

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._load().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def total_of(
    rules: Sequence[Rule], adjustments: Mapping[str, Any], hl: float | None, at: float
) -> float:
    """`EngagementRules.total` over a state's stored arrays: each rule's value decayed to
    `at` (Python's float `**`) and rounded to cents, in the state's order, then the
    adjustments, then the sum rounded; the very operations, so the very float."""
    out = 0.0
    for _, count, value, anchor, _w in rules:
        if count:
            v = value
            if hl is not None and at > anchor:
                v *= 2.0 ** (-(at - anchor) / hl)
            out += round(v, 2)
    if adjustments:
        for value, anchor, decays in adjustments.values():
            if decays and hl is not None and at > anchor:
                value *= 2.0 ** (-(at - anchor) / hl)
            out += round(value, 2)
    return round(out, 2)


class RowSettler:
    """Settles rows under the active version (module docstring). `settle` answers the
    values `rescore_set.stored_values` would give for the settled lead, or None."""

    def __init__(self, vs: Versions, now: float):
        self.vs = vs
        self.now = now
        proc = vs.proc
        self.proc = proc
        self.since = vs.since
        self.hl = proc.rules.half_life
        self.fit_grades = proc.playbook.fit.grades
        self.eng_grades = proc.playbook.engagement.grades
        self.tri = proc.mql_tri
        self.exit_at = proc.exit_at
        self.version = proc.version
        # (fit, engagement bound) -> the MQL rule's verdict, for the verdicts reached
        # without reading a field (`mql`).
        self.verdicts: dict[tuple[float, float], bool | None] = {}
        self._inverse: dict[int, dict[int, tuple[int, float]] | None] = {}

    def inverse(self, v: int) -> dict[int, tuple[int, float]] | None:
        """Version `v`'s carry-over (`EngagementRules.carry_over`) from its side: old
        position -> (new position, factor); None when its leads are replayed."""
        if v not in self._inverse:
            if v not in self.vs.carry:
                return None  # not learned yet (`Versions.learn_versions`): nothing kept
            mapping = self.vs.carry[v]
            self._inverse[v] = (
                None
                if mapping is None
                else {pos: (new, factor) for new, (pos, factor) in mapping.items()}
            )
        return self._inverse[v]

    def mql(self, row: Sequence[Any], fit: float, bound: float) -> bool | None:
        """`LeadProcessor.mql_tri` on the row's lead (its fields decoded only if the
        rule reads one), remembered by (fit, bound) when it read no field.

        The rule is a function of (fields, fit, bound) and nothing else: a call that
        reads no field follows a path that only fit and bound chose, so any fields give
        the same verdict there. (A rule that reads one reads it on every call with that
        fit and bound, and is never remembered.)
        """
        key = (fit, bound)
        verdicts = self.verdicts
        if key in verdicts:
            return verdicts[key]
        assert self.tri is not None
        fields = LazyFields(self.proc, row)
        verdict = self.tri(fields, fit, bound)
        if fields.unread() and len(verdicts) < _VERDICTS:
            verdicts[key] = verdict
        return verdict

    def settle(self, row: Sequence[Any], events: Events) -> tuple[Any, ...] | None:
        """The settled lead's stored values (`rescore_set.stored_values`' order), or None
        when the row is not this path's case or the lead's stage may move."""
        vs, since = self.vs, self.since
        v = row[VERSION]
        stage = row[STAGE]
        fit = row[FIT]
        if (
            v is None
            or v == self.version
            or row[DUE] is not None
            or not row[STAGE_AT]  # a LeadState starts such a lead at its creation
            or row[STAGE_AT] > since
            or stage == "nurture"
            or (stage == "mql" and row[ARMED] and self.exit_at is not None)
            or fit is None
            or not vs.same_fit.get(v, False)
        ):
            return None
        data = orjson.loads(row[STATE]) if row[STATE] else None
        if not isinstance(data, list):
            return None  # the keyed form of older stores: the object path reads it
        t = data[0]
        last_at = _NEG_INF if t is None else float(t)
        settled_at = float(data[5]) if len(data) > 5 else _NEG_INF
        if last_at > since or settled_at > since:
            return None
        inverse = self.inverse(v)
        rules: Sequence[Rule]
        if inverse is not None:
            # `EngagementRules.carried` on `load_lead_state`'s floats: the old tallies the
            # new rules map, in the new rules' order (the windows are this row's own
            # lists, written out below and never changed: no copies).
            carried = []
            for pos, count, value, anchor, window in data[2]:
                to = inverse.get(pos)
                if to is not None:
                    carried.append([to[0], count, float(value) * to[1], float(anchor), window])
            carried.sort(key=_FIRST)
            rules = carried
            last_id, adjustments, fit_adjustments = data[1], data[3], data[4]
        elif isinstance(events, Replayed):
            lid = row[ID]
            if lid in events.exact or lid in events.adjustments:
                return None
            # The page's tallies as they are (orjson writes a tuple as an array).
            rules = events.tallies.get(lid, [])
            last = events.last.get(lid)
            last_at, last_id = last if last is not None else (_NEG_INF, "")
            adjustments, fit_adjustments = {}, {}
        else:
            return None
        hl = self.hl
        # `rescore_set.settle`'s test: the MQL rule surely false at the activation.
        if (
            stage == "lead"
            and self.tri is not None
            and self.mql(row, fit, math.inf) is not False
            and (
                not math.isfinite(eng := total_of(rules, adjustments, hl, since))
                or self.mql(row, fit, eng + 0.01) is not False
            )
        ):
            return None
        now = self.now
        eng = total_of(rules, adjustments, hl, now)
        settled = max(settled_at, since)
        state = [None if last_at == _NEG_INF else last_at, last_id, rules, adjustments]
        state.append(fit_adjustments)
        if settled != _NEG_INF:
            state.append(settled)
        return (
            fit,
            eng,
            round(fit + eng, 2),
            grade_fit(fit, self.fit_grades),
            grade_engagement(eng, self.eng_grades),
            now,
            self.version,
            orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode(),
            bool(row[ARMED]),
            row[SPENT],
            stage,
            row[STAGE_AT],
            row[REASON],
            None,
        )
