"""People's moves at one instant are replayed in the order they were made (issue 17).

Two moves of one lead in the same second (a rep marks the lead an MQL and a colleague
disqualifies it) carry nothing but their order: the store's ids. The export writes the
transitions in id order and both backtests read a lead's moves by (time, the file's row
order). DuckDB's sort is not stable, so ordering by (lead, time) alone swapped such
pairs: "mql then disqualified" (an MQL) became "disqualified then mql" (refused: no MQL).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from test_setbased import DAY, T0, _write

from leadgate.analytics.backtest import run_backtest, run_ids
from leadgate.analytics.setbased import run_setbased

N = 400
AT = T0 + 5 * DAY


def _case(tmp: Path) -> tuple[tuple[Path, Path, Path], str]:
    leads = [(i, f"p{i}@acme.io", "{}", T0, None, None, None, None, None) for i in range(1, N + 1)]
    # In id order, as the store holds them: across leads, not grouped by lead (every
    # lead's first move, then every second one, leads in a shuffled order).
    order = random.Random(7).sample(range(1, N + 1), N)
    moves = []
    for k in range(2):
        for i in order:
            # Even leads: MQL first (kept), odd: disqualified first (the MQL is refused).
            pair = ["mql", "disqualified"] if i % 2 == 0 else ["disqualified", "mql"]
            moves.append((i, "x", pair[k], AT, f"rep{k}@x.io"))
    pb = {
        "name": "t",
        "engagement": {"rules": [{"event": "download", "points": 10}]},
        "stages": {"mql": {"when": {"score": "engagement", "op": "gte", "value": 1000}}},
    }
    return _write(tmp, leads, [], moves), json.dumps(pb)


def test_moves_at_one_instant_keep_their_order(tmp_path: Path) -> None:
    paths, pb = _case(tmp_path)
    end = T0 + 30 * DAY
    got = run_ids(tuple(str(p) for p in paths), pb, pb, list(range(1, N + 1)), end)
    want = {i: ([AT], [AT]) for i in range(2, N + 1, 2)}
    assert {lid: (r[0], r[1]) for lid, r in got.items()} == want
    for res in (
        run_backtest(paths, pb, pb, None, end, workers=1),
        run_setbased(paths, pb, pb, None, end, verify=N),
    ):
        assert res.totals["mql_leads_old"] == res.totals["mql_leads_new"] == N // 2
        assert res.meta.get("disagreements", 0) == 0
