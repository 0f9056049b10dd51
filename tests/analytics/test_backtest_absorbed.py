"""Backtests replay absorbed moves as the facts they are, on SQLite and PostgreSQL stores.

A rep marks a lead `mql` in the very second its demo request (a hand-raiser) made it one:
the store keeps the rep's move as a fact absorbed by the history (a row from == to that
no reader shows, `leads.derivation.is_absorbed`). Under a candidate playbook where the
request raises no hand, that move is a real one again; a backtest must replay it, and
reports must still not count it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from leadgate.analytics import backtest as bt
from leadgate.analytics import service
from leadgate.analytics.backtest import _run_range, read_range, replay_lead, run_backtest
from leadgate.analytics.batch import connect, export_store
from leadgate.analytics.setbased import run_setbased
from leadgate.engine.engine import Engine
from leadgate.ingest.validate import EventIn
from leadgate.leads import LeadProcessor, LeadState
from leadgate.lifecycle.stages import Transition
from leadgate.playbook.loader import bundled_playbook, load_playbook
from leadgate.store.repository import Repository
from leadgate.store.schema import EFFECTIVE_TRANSITIONS

DAY = 86400.0
HANDS = "hand_raisers: [demo_request, contact_sales]"


def _ev(eid: str, email: str, typ: str, at: float) -> EventIn:
    return EventIn(eid, email, typ, at, {}, "{}")


def _texts() -> tuple[str, str]:
    """The bundled playbook, and a candidate where a demo request raises no hand."""
    _, text = bundled_playbook()
    assert HANDS in text
    return text, text.replace(HANDS, "hand_raisers: [contact_sales]")


def _store(engine: Engine, clock: Any) -> dict[str, Any]:
    """bea: Pat marks her `mql`, her demo request of that very second arrives after it
    (absorbed). ali: a demo request alone makes her an MQL (lost by the candidate).
    Neither has the fit the MQL rule needs, so only hands and people move them."""
    t0 = clock()
    engine.upsert_leads([("bea@x.com", {}, t0), ("ali@x.com", {}, t0)])
    clock.advance(DAY)
    at = clock()
    engine.set_stage("bea@x.com", "mql", None, "user:pat")
    engine.ingest([_ev("b1", "bea@x.com", "demo_request", at)])
    clock.advance(DAY)
    engine.ingest([_ev("a1", "ali@x.com", "demo_request", clock())])
    clock.advance(DAY)
    engine.tick()
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        ids = dict(repo.execute("SELECT email, id FROM leads").fetchall())
        raw = repo.execute(
            "SELECT lead_id, from_stage, to_stage, at, actor FROM transitions "
            "WHERE voids IS NULL AND from_stage = to_stage"
        ).fetchall()
    # The premise: the store holds the rep's move as an absorbed fact.
    assert [tuple(r) for r in raw] == [(ids["bea@x.com"], "mql", "mql", at, "user:pat")]
    return {"at": at, "ids": ids, "now": clock()}


def _stored_mqls(engine: Engine) -> dict[int, list[float]]:
    """Each lead's MQL entries in the history as it stands."""
    with engine.db.read() as conn:
        rows = (
            Repository(engine.db, conn)
            .execute(
                f"SELECT lead_id, at FROM {EFFECTIVE_TRANSITIONS} WHERE to_stage = 'mql' "
                "ORDER BY lead_id, at"
            )
            .fetchall()
        )
    out: dict[int, list[float]] = {}
    for lid, at in rows:
        out.setdefault(lid, []).append(at)
    return out


def _paths(engine: Engine, tmp: Path) -> tuple[Path, Path, Path]:
    exp = export_store(engine.db, tmp)
    return exp.leads, exp.events, exp.transitions


def test_the_candidates_exact_replay_makes_the_reps_move(
    engine: Engine, clock: Any, tmp_path: Path
) -> None:
    s = _store(engine, clock)
    old, new = _texts()
    paths = _paths(engine, tmp_path)
    bea, ali = s["ids"]["bea@x.com"], s["ids"]["ali@x.com"]
    # The replay itself: under the candidate, bea is a `lead` when Pat moves her.
    h = read_range(tuple(str(p) for p in paths), bea, bea + 1, s["now"])
    proc = LeadProcessor(load_playbook(new, "new"))
    email, attrs, created = h.leads[0][1:]
    lead = LeadState(email, orjson.loads(attrs) if attrs else {}, created, id=bea)
    a, b = h.spans[bea]
    moves = [(t, to, actor, bt._reason(proc, lead, to)) for t, to, actor, _ in h.moves.get(bea, [])]
    out = replay_lead(proc, lead, h.events(a, b, frozenset()), moves, s["now"])
    assert [(x.from_stage, x.to_stage, x.at, x.actor) for x in out] == [
        ("lead", "mql", s["at"], "user:pat")
    ]
    assert isinstance(out[0], Transition)

    res = run_backtest(paths, old, new, end=s["now"], workers=1)
    assert (res.totals["mqls_old"], res.totals["mqls_new"]) == (2, 1)
    # bea is an MQL at the same moment either way (by hand, by Pat); only ali is lost.
    assert [(r["lead_id"], r["change"]) for r in res.changed] == [(ali, "lost")]


def test_the_candidates_set_based_run_makes_the_reps_move(
    engine: Engine, clock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _store(engine, clock)
    old, new = _texts()
    paths = _paths(engine, tmp_path)
    seen: dict[int, Any] = {}
    compare = bt._compare

    def spy(results: dict[int, Any], *args: Any) -> Any:
        seen.update(results)
        return compare(results, *args)

    monkeypatch.setattr(bt, "_compare", spy)
    res = run_setbased(paths, old, new, end=s["now"], verify=10, seed=1)
    bea, ali = s["ids"]["bea@x.com"], s["ids"]["ali@x.com"]
    assert seen[bea][:2] == ([s["at"]], [s["at"]])
    assert seen[ali][1] == []
    assert [(r["lead_id"], r["change"]) for r in res.changed] == [(ali, "lost")]
    assert res.meta["verified_leads"] == 2 and res.meta["disagreements"] == 0


def test_the_current_playbook_against_itself_gives_the_stored_history(
    engine: Engine, clock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _store(engine, clock)
    old, _ = _texts()
    paths = _paths(engine, tmp_path)
    stored = _stored_mqls(engine)
    at, ids = s["at"], s["ids"]
    assert stored == {ids["bea@x.com"]: [at], ids["ali@x.com"]: [at + DAY]}
    got = _run_range((tuple(str(p) for p in paths), old, old, 0, 10**9, s["now"]))
    assert {lid: o for lid, (o, _, _) in got.items()} == stored
    assert all(o == n for o, n, _ in got.values())

    seen: dict[int, Any] = {}
    compare = bt._compare

    def spy(results: dict[int, Any], *args: Any) -> Any:
        seen.update(results)
        return compare(results, *args)

    monkeypatch.setattr(bt, "_compare", spy)
    res = run_setbased(paths, old, old, end=s["now"], verify=10, seed=1)
    assert {lid: o for lid, (o, _, _) in seen.items()} == stored
    assert res.changed == [] and res.meta["disagreements"] == 0


def test_reports_do_not_count_absorbed_moves(engine: Engine, clock: Any, tmp_path: Path) -> None:
    """The export keeps absorbed moves (the backtest's facts); the view reports read
    leaves them out, so an absorbed `mql` is not a second MQL case."""
    _store(engine, clock)
    sla = service.report(engine, "sla")
    assert sum(r["mqls"] for r in sla.records()) == 2
    vel = {r["stage"]: r for r in service.report(engine, "velocity").records()}
    assert vel["mql"]["completed"] + vel["mql"]["open"] == 2
    exp = export_store(engine.db, tmp_path)
    con = connect(exp.leads, exp.events, exp.transitions)
    assert con.execute(
        "SELECT COUNT(*) FROM transitions WHERE from_stage = to_stage"
    ).fetchone() == (0,)
    assert con.execute("SELECT COUNT(*) FROM transitions WHERE to_stage = 'mql'").fetchone() == (2,)
    con.close()
