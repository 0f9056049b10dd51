"""The set-based backtest's history on columns: every event up to the backtest's end, read
and sorted once by DuckDB for both playbooks (`EventCols`), and each lead's events per type
(`TypeCounts`), which the exact replay's pruning reads (`backtest.can_move`).

Example:
    >>> import numpy as np
    >>> seg_starts(np.array([3, 3, 5, 7, 7]))
    array([0, 0, 2, 3, 3])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from leadgate.analytics.sqldialect import dbl
from leadgate.scoring.engagement import ADJUSTMENT


def seg_starts(lead: np.ndarray) -> np.ndarray:
    """For each row (sorted by lead), the index of its lead's first row."""
    n = len(lead)
    idx = np.arange(n)
    first = np.ones(n, dtype=bool)
    if n:
        first[1:] = lead[1:] != lead[:-1]
    return np.maximum.accumulate(np.where(first, idx, 0))


@dataclass
class EventCols:
    """Every event up to `until`, sorted by (lead, time, id): the order the engine applies
    them in. `eid` stays an Arrow array: only the few rows handed to Python are turned into
    strings."""

    lead: np.ndarray
    t: np.ndarray
    type_code: np.ndarray
    types: list[str]
    eid: Any
    gs: np.ndarray  # each row's lead's first row
    moves: dict[int, list[float]]
    eids: list[str] = field(default_factory=list)  # `eid` as strings, when walked
    # `_pairs` by what decides them (the matching query and each rule's caps): two
    # playbooks that differ in points, thresholds or stages match the same pairs, and
    # the second one reads them here (half the step at 20k / 400k).
    pairs: dict[Any, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # `moments`' shared columns (`_Base`) for the last (pairs, half-life, kept leads):
    # the second of two playbooks that match, cap and decay alike reads them here.
    base: tuple[Any, Any] | None = None

    @classmethod
    def read(cls, con: Any, until: float, moves: dict[int, list[float]]) -> EventCols:
        # The position is the sort's: the pairs join on it below (`lg_evo`). One sort
        # whose Arrow result DuckDB scans in place: a temp table numbered by ROW_NUMBER
        # and read back in its order took twice the CPU (0.35 against 0.18 s at 400k).
        tab = con.sql(
            "SELECT lead_id, CAST(occurred_at AS DOUBLE) AS t, type, id FROM events "
            f"WHERE CAST(occurred_at AS DOUBLE) <= {dbl(until)} ORDER BY lead_id, t, id"
        ).to_arrow_table()
        pos = pa.array(np.arange(tab.num_rows, dtype=np.int64))
        con.register("lg_evo", tab.append_column("pos", pos))
        lead = tab.column("lead_id").to_numpy()
        typ = tab.column("type").combine_chunks().dictionary_encode()
        return cls(
            lead=lead,
            t=tab.column("t").to_numpy(),
            type_code=typ.indices.to_numpy(zero_copy_only=False),
            types=[str(x) for x in typ.dictionary.to_pylist()],
            eid=tab.column("id"),
            gs=seg_starts(lead),
            moves=moves,
        )

    def type_counts(self) -> TypeCounts:
        n = len(self.lead)
        first = np.ones(n, dtype=bool)
        if n:
            first[1:] = self.lead[1:] != self.lead[:-1]
        first_row = np.flatnonzero(first)
        lead_index = np.cumsum(first) - 1
        nt = len(self.types)
        flat = lead_index * nt + self.type_code.astype(np.int64)
        m = np.bincount(flat, minlength=len(first_row) * nt).reshape(len(first_row), nt)
        return TypeCounts(self, self.lead[first_row], first_row, m)


@dataclass
class TypeCounts:
    """Each lead's events per type (`EventCols.type_counts`): the exact replay's pruning
    (`backtest.can_move`), on columns."""

    ev: EventCols
    leads: np.ndarray  # the leads with events, ascending
    first_row: np.ndarray
    m: np.ndarray  # leads x types

    def of(self, code: int) -> np.ndarray:
        return self.m[:, code]

    def mapping(self, lid: int) -> dict[str, int]:
        i = int(np.searchsorted(self.leads, lid))
        if i >= len(self.leads) or self.leads[i] != lid:
            return {}
        row = self.m[i]
        return {self.ev.types[c]: int(row[c]) for c in np.flatnonzero(row).tolist()}

    def first_at(self, lid: int) -> float | None:
        i = int(np.searchsorted(self.leads, lid))
        if i >= len(self.leads) or self.leads[i] != lid:
            return None
        return float(self.ev.t[self.first_row[i]])

    def first_times(self, ids: list[int]) -> dict[int, float]:
        """`first_at` of many leads at once (those with no events are left out)."""
        if not ids or not len(self.leads):
            return {}
        want = np.asarray(ids, dtype=np.int64)
        i = np.minimum(np.searchsorted(self.leads, want), len(self.leads) - 1)
        ok = self.leads[i] == want
        return dict(zip(want[ok].tolist(), self.ev.t[self.first_row[i[ok]]].tolist(), strict=True))

    def index(self) -> dict[int, int]:
        return dict(zip(self.leads.tolist(), range(len(self.leads)), strict=True))

    def hand_and_bound(self, proc: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per lead (in `leads` order): whether it has a hand-raiser or a manual
        adjustment (`can_move` keeps it whatever its scores), and `engagement_bound`."""
        pb = proc.playbook
        code = {x: i for i, x in enumerate(self.ev.types)}
        hand = np.zeros(len(self.leads), dtype=bool)
        for h in sorted(proc.hand_raisers) + [ADJUSTMENT]:
            if h in code:
                hand |= self.m[:, code[h]] > 0
        # `engagement_bound`, rule by rule in its order (the same sums).
        top = np.zeros(len(self.leads))
        for r in pb.engagement.rules:
            if r.points > 0 and r.event in code:
                n = self.m[:, code[r.event]].astype(np.float64)
                if r.max_per_lead is not None:
                    n = np.minimum(n, float(r.max_per_lead))
                top = top + r.points * n
        return hand, top + 0.01 * (len(pb.engagement.rules) + 2)

    def maybe(self, proc: Any, moves: dict[int, Any]) -> set[int]:
        """A superset of the leads `can_move(proc, ...)` keeps: every lead with people's
        moves, and the leads with events but for those whose MQL rule is false at their
        `engagement_bound` whatever their fit and fields (and that have no hand-raiser)."""
        hand, bound = self.hand_and_bound(proc)
        if proc.playbook.stages.mql.when is None:
            ok = hand
        else:
            uniq, inv = np.unique(bound, return_inverse=True)
            tri = proc.mql_tri
            may = np.array([tri(None, None, float(b)) is not False for b in uniq.tolist()])
            ok = hand | may[inv] if len(uniq) else hand
        return set(self.leads[ok].tolist()) | set(moves)
