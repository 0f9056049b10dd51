"""The backtest's reading of the exported history (Parquet, `batch.export_store`).

`read_range(paths, lo, hi, until)` reads the leads with lo <= id < hi, their events (as
columns, in (time, id) order per lead) and people's stage moves (`read_moves`: by time,
then in the file's row order, which is the store's id order). Split out of `backtest`
(its names are still importable there).

Example:
    >>> h = RangeHistory([], [], [], [], [], {}, {})
    >>> h.events(0, 0, frozenset())
    []
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from leadgate.scoring.engagement import Event

_EMPTY: dict[str, Any] = {}


@dataclass(slots=True)
class RangeHistory:
    """The history of the leads with lo <= id < hi, as a replay reads it: leads in id
    order, their events as columns (in time order per lead, `spans[lead_id]` giving a
    lead's rows), and people's stage moves."""

    leads: list[tuple[Any, ...]]
    ids: list[str]
    types: list[str]
    ats: list[float]
    props: list[str | None]
    spans: dict[int, tuple[int, int]]
    moves: dict[int, list[tuple[float, str, str, str | None]]]
    # Property documents repeat (same page, same form): each text is parsed once. The
    # engine only reads them.
    parsed: dict[str, Any] = field(default_factory=dict)

    def events(self, a: int, b: int, property_types: frozenset[str]) -> list[Event]:
        """Rows a..b as events, properties decoded only for the types scoring reads."""
        ids, types, ats, props, parsed = self.ids, self.types, self.ats, self.props, self.parsed
        out = []
        for j in range(a, b):
            t, text = types[j], props[j]
            doc: Any = _EMPTY
            if text and t in property_types:
                doc = parsed.get(text)
                if doc is None:
                    doc = parsed[text] = orjson.loads(text)
            out.append(Event(ids[j], t, ats[j], doc))
        return out


def read_moves(
    con: Any, path: str | Path, until: float, where: str = "TRUE", args: list[Any] | None = None
) -> dict[int, list[tuple[float, str, str, str | None]]]:
    """People's stage moves up to `until` per lead, in the order they were made: by time,
    then by the file's row order (the export writes them in id order). Two moves at one
    instant carry nothing else that orders them, and DuckDB's sort is not stable: by
    (lead, time) alone it swapped them ("mql then disqualified" became a refused MQL)."""
    rows = con.execute(
        'SELECT lead_id, "at", to_stage, actor '
        f"FROM read_parquet('{path}', file_row_number = true) "
        f"WHERE {where} AND actor NOT LIKE 'rule:%' AND \"at\" <= ? "
        'ORDER BY lead_id, "at", file_row_number',
        [*(args or []), until],
    ).fetchall()
    moves: dict[int, list[tuple[float, str, str, str | None]]] = {}
    for lid, at, to, actor in rows:
        # The historical reason passed the playbook's list when it was made; replay it
        # as a listed one so the move is judged on the stage graph alone.
        moves.setdefault(lid, []).append((at, to, actor, None))
    return moves


def read_range(
    paths: tuple[str, ...], lo: int, hi: int, until: float, ids: list[int] | None = None
) -> RangeHistory:
    """Read one lead-id range of the exported history (events up to `until`); with `ids`,
    only those leads (lo and hi are then ignored)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 1")
    args: list[Any]
    if ids is None:
        cond, args = "{c} >= ? AND {c} < ?", [lo, hi]
    else:
        cond, args = "{c} IN (SELECT unnest(?::BIGINT[]))", [ids]
    leads = con.execute(
        f"SELECT id, email, attributes, created_at FROM read_parquet('{paths[0]}') "
        f"WHERE {cond.format(c='id')} ORDER BY id",
        args,
    ).fetchall()
    ev = con.sql(
        f"SELECT lead_id, id, type, occurred_at, properties FROM read_parquet('{paths[1]}') "
        f"WHERE {cond.format(c='lead_id')} AND occurred_at <= ? "
        "ORDER BY lead_id, occurred_at, id",
        params=[*args, until],
    ).to_arrow_table()
    moves = read_moves(con, paths[2], until, cond.format(c="lead_id"), args)
    con.close()
    lids = ev.column("lead_id").to_numpy()
    spans: dict[int, tuple[int, int]] = {}
    if len(lids):
        import numpy as np

        cuts = np.flatnonzero(np.diff(lids)) + 1
        bounds = np.concatenate(([0], cuts, [len(lids)]))
        at = bounds.tolist()  # Python ints: a loop over numpy scalars is ~5x slower
        firsts = lids[bounds[:-1]].tolist()
        spans = dict(zip(firsts, zip(at[:-1], at[1:], strict=True), strict=True))
    return RangeHistory(
        leads,
        ev.column("id").to_pylist(),
        ev.column("type").to_pylist(),
        ev.column("occurred_at").to_pylist(),
        ev.column("properties").to_pylist(),
        spans,
        moves,
    )
