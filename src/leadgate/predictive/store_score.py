"""Training from the leads in the store, and batch scoring them back into it.

``train_store`` builds the rows (:mod:`~leadgate.predictive.store_data`), trains with the
same pipeline as a CSV (:func:`~leadgate.predictive.train.train_dataset`: leak check,
time-ordered evaluation on the cut-off time, baselines, final fit, card), adds the active
playbook's score at each test lead's cut-off as one more baseline ("model vs rules"), and
saves the model in the store. ``predict_store`` scores every lead as of now and writes the
value into the lead's ``predicted`` attribute through the engine, so the lifecycle sees
it at once (an MQL rule with ``{score: predicted, op: gte, value: 0.3}`` fires then).
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadgate.predictive.dataset import DatasetError
from leadgate.predictive.models import ModelKind
from leadgate.predictive.store_data import (
    PREDICTED_ATTRIBUTE,
    StoreSpec,
    StoreTables,
    read_tables,
    scoring_frame,
    training_data,
)
from leadgate.predictive.store_models import mark_scored, save_model
from leadgate.predictive.train import TrainResult, train_dataset

#: Leads per engine transaction when the predictions are written back.
WRITE_BATCH = 5000
#: Decimals kept: finer changes are noise and would rewrite every lead on each run.
DECIMALS = 4


@dataclass
class StoreTrainResult:
    """A model trained from the store and saved in it."""

    result: TrainResult
    model_id: str
    version: int
    open_leads: int
    skipped_converted: int


def events_by_lead(engine: Any, lead_ids: Sequence[int]) -> dict[int, list[Any]]:
    """Every stored event of the given leads as ``Event`` objects (properties decoded),
    in (time, id) order."""
    from leadgate.scoring.engagement import Event
    from leadgate.store.repository import Repository, loads

    ids = [int(i) for i in lead_ids]
    out: dict[int, list[Any]] = {i: [] for i in ids}
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        for k in range(0, len(ids), 900):
            chunk = ids[k : k + 900]
            rows = repo.execute(
                "SELECT id, lead_id, type, occurred_at, properties FROM events "
                f"WHERE lead_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            for r in rows:
                out[int(r[1])].append(Event(r[0], r[2], float(r[3]), loads(r[4])))
    for evs in out.values():
        evs.sort(key=lambda e: (e.at, e.id))
    return out


def playbook_scores(
    engine: Any, tables: StoreTables, lead_ids: np.ndarray, cut: np.ndarray
) -> np.ndarray:
    """The active playbook's total score (fit + engagement) of each lead as of its cut-off,
    replaying only the events up to it."""
    from leadgate.leads.record import LeadState

    proc = engine.processor()
    leads = tables.leads.set_index("id")
    out = np.zeros(len(lead_ids))
    ids = [int(i) for i in lead_ids]
    by_lead = events_by_lead(engine, ids)
    for j, (lid, c) in enumerate(zip(ids, cut, strict=True)):
        row = leads.loc[lid]
        state = LeadState(str(row["email"]), dict(row["attributes"]), float(row["created_at"]))
        state.attributes.pop(PREDICTED_ATTRIBUTE, None)
        state.engagement_state = proc.rules.replay([e for e in by_lead[lid] if e.at <= c])
        out[j] = proc.scores(state, float(c))["total"] or 0.0
    return out


def train_store(
    engine: Any,
    *,
    kind: ModelKind = "auto",
    seed: int = 0,
    cutoff: str = "mql",
    window_days: float | None = None,
    horizon_days: float = 90.0,
    include_leaky: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
    compare_playbook: bool = True,
    exclude_drifting: bool = False,
) -> StoreTrainResult:
    """Train on the store's leads with a known outcome and save the model in the store.
    The rows' time order (their cut-offs) is always known here, so evaluation is rolling
    origin and the card carries a drift report."""
    now = float(engine.clock())
    tables = read_tables(engine.db)
    data = training_data(
        engine.db,
        now,
        cutoff=cutoff,
        window_days=window_days,
        horizon_days=horizon_days,
        tables=tables,
    )
    ds = data.dataset
    unknown = [c for c in exclude if c not in ds.X.columns and c not in ds.dropped]
    if unknown:
        raise DatasetError(f"unknown column(s) to exclude: {', '.join(unknown)}")
    if exclude:
        keep = [c for c in ds.X.columns if c not in exclude]
        ds.X = ds.X[keep]
        ds.kinds = {c: k for c, k in ds.kinds.items() if c in keep}
        ds.dropped.update({c: "excluded by caller" for c in exclude})
    result = train_dataset(
        ds,
        kind=kind,
        seed=seed,
        include_leaky=include_leaky,
        time_ordered_rows=True,
        exclude_drifting=exclude_drifting,
        source=f"store {engine.db.url.split('://')[0]}: {data.spec.cutoff} cut-off, "
        f"{data.spec.horizon_days:g}-day horizon",
    )
    card = result.card
    if compare_playbook:
        started = _time.perf_counter()
        rows = result.rows
        scores = playbook_scores(engine, tables, data.lead_ids[rows], data.cutoffs[rows])
        m = result.evaluate(scores)
        m["brier"] = float("nan")  # points, not a probability
        card.baselines["playbook"] = m
        result.scores["playbook"] = scores
        result.seconds += _time.perf_counter() - started
    card.params["store"] = {
        **data.spec.to_dict(),
        "open_leads_left_out": data.open_leads,
        "customers_at_cutoff_left_out": data.skipped_converted,
    }
    if ds.time is not None and len(ds.time):
        card.data_range["cutoff_from"] = str(pd.Timestamp(ds.time.min()).date())
        card.data_range["cutoff_to"] = str(pd.Timestamp(ds.time.max()).date())
    result.model.store_spec = data.spec.to_dict()
    model_id, version = save_model(engine.db, result.model, now)
    return StoreTrainResult(result, model_id, version, data.open_leads, data.skipped_converted)


def spec_of(model: Any) -> StoreSpec:
    """The store feature spec a model was trained with (DatasetError for a CSV model)."""
    spec = getattr(model, "store_spec", None)
    if not spec:
        raise DatasetError(
            f"model {model.card.model_id} was trained from a CSV: score CSV rows with "
            "`leadgate predict --csv IN --out OUT`"
        )
    return StoreSpec(**spec)


def predict_store(engine: Any, model: Any, chunk_rows: int = 250_000) -> dict[str, Any]:
    """Score every stored lead as of now; write ``predicted`` through the engine."""
    started = _time.perf_counter()
    spec = spec_of(model)
    now = float(engine.clock())
    tables = read_tables(engine.db)
    X = scoring_frame(tables, spec, now)
    parts = [model.predict_proba(X.iloc[i : i + chunk_rows]) for i in range(0, len(X), chunk_rows)]
    p = np.round(np.concatenate(parts), DECIMALS) if parts else np.zeros(0)
    scored_s = _time.perf_counter() - started
    items = [
        (str(email), {PREDICTED_ATTRIBUTE: float(v)}, None)
        for email, v in zip(tables.leads["email"], p, strict=True)
    ]
    changed = 0
    for i in range(0, len(items), WRITE_BATCH):
        _, updated, _ = engine.upsert_leads(items[i : i + WRITE_BATCH], actor="predict")
        changed += updated
    mark_scored(engine.db, model.card.model_id, now)
    return {
        "model_id": model.card.model_id,
        "leads": len(items),
        "changed": changed,
        "mean_predicted": float(p.mean()) if len(p) else None,
        "verdict": model.card.verdict,
        "score_seconds": round(scored_s, 2),
        "seconds": round(_time.perf_counter() - started, 2),
    }
