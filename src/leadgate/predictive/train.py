"""Training end to end: leak check, honest evaluation against the baselines, final fit, card.

``train_dataset`` is the entry point for anything that already has a
:class:`~leadgate.predictive.dataset.Dataset` (the store side builds one with
``load_frame``); ``train_csv`` reads a CSV first.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadgate.predictive import metrics as mx
from leadgate.predictive.card import ModelCard, verdict
from leadgate.predictive.dataset import ColumnKind, Dataset, DatasetError, coerce_features, load_csv
from leadgate.predictive.drift import drift_report, rows_look_time_ordered
from leadgate.predictive.leakage import LeakageReport, detect_leakage
from leadgate.predictive.models import ModelKind, make_model
from leadgate.predictive.naive_bayes import OdooNaiveBayes
from leadgate.predictive.select import CANDIDATES
from leadgate.predictive.select import compare as compare_models
from leadgate.predictive.validation import Plan, out_of_sample, plan, time_order

FORMAT_VERSION = 1


@dataclass
class LeadModel:
    """A trained model with everything needed to score new rows and to explain it."""

    kind: str
    estimator: Any
    kinds: dict[str, ColumnKind]
    target: str
    positive_label: str
    id_column: str | None = None
    time_column: str | None = None
    card: ModelCard = field(default_factory=ModelCard)
    format_version: int = FORMAT_VERSION
    #: How store rows become features (a ``StoreSpec`` as a dict); None for CSV models.
    store_spec: dict[str, Any] | None = None

    @property
    def features(self) -> list[str]:
        """The feature columns the model reads."""
        return list(self.kinds)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability (0-1) of the positive outcome for each row of ``frame``. Extra columns
        (the target, ids...) are ignored; missing feature columns count as empty."""
        return np.asarray(self.estimator.predict_proba(coerce_features(frame, self.kinds)))


@dataclass
class TrainResult:
    """What training produced: the model (with its card), the leak report and the
    out-of-sample predictions behind the card's metrics."""

    model: LeadModel
    leakage: LeakageReport
    plan: Plan
    rows: np.ndarray
    y: np.ndarray
    scores: dict[str, np.ndarray]
    seconds: float
    #: The evaluation fold of each of ``rows``; with time order every metric is the mean
    #: over folds (see :func:`~leadgate.predictive.metrics.evaluate_by_fold`).
    folds: np.ndarray | None = None
    per_fold: bool = False

    def evaluate(self, p: np.ndarray) -> dict[str, float]:
        """Metrics of out-of-sample scores ``p`` (aligned with ``rows``), computed as the
        card's are."""
        out: dict[str, float] = _evaluator(self.y, self.folds, self.per_fold)(p)
        return out

    @property
    def card(self) -> ModelCard:
        """The model card."""
        return self.model.card


def _evaluator(y: np.ndarray, folds: np.ndarray | None, per_fold: bool) -> Any:
    if per_fold and folds is not None:
        return lambda p: mx.evaluate_by_fold(y, p, folds)
    return lambda p: mx.evaluate(y, p)


def baseline_models(kinds: dict[str, ColumnKind]) -> dict[str, OdooNaiveBayes]:
    """The two Odoo naive Bayes variants compared against every model."""
    return {
        "odoo_nb_skip_empty": OdooNaiveBayes(kinds, empty="skip"),
        "odoo_nb_empty_as_value": OdooNaiveBayes(kinds, empty="value"),
    }


def oos_scores(
    ds: Dataset, kinds: dict[str, ColumnKind], the_plan: Plan, factory: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-sample scores of ``factory()`` models over ``the_plan``."""
    X = coerce_features(ds.X, kinds)

    def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        m = factory()
        m.fit(X.iloc[tr].reset_index(drop=True), ds.y[tr])
        return np.asarray(m.predict_proba(X.iloc[te].reset_index(drop=True)))

    return out_of_sample(fit_predict, the_plan, len(ds.y))


def train_dataset(
    ds: Dataset,
    *,
    kind: ModelKind = "auto",
    seed: int = 0,
    include_leaky: list[str] | tuple[str, ...] = (),
    leak_threshold: float = 0.95,
    time_ordered_rows: bool = False,
    compare: bool = True,
    source: str = "",
    exclude_drifting: bool = False,
) -> TrainResult:
    """Train a model on closed leads and describe it in a card.

    1. flag leaky columns (:func:`~leadgate.predictive.leakage.detect_leakage`) and drop
       them unless named in ``include_leaky``;
    2. with time order (``ds.time`` or ``time_ordered_rows``): the drift report
       (:mod:`~leadgate.predictive.drift`); ``exclude_drifting`` drops its flagged features;
    3. evaluate out of sample: rolling origin with time order, stratified K-fold otherwise;
       the candidates (logistic, GBM, blend) on the same folds, ``auto`` choosing the
       simplest within the noise of the best on time-ordered folds, the best otherwise
       (:mod:`~leadgate.predictive.select`); with
       ``compare`` the Odoo naive Bayes baselines (both empty variants) on the same folds;
    4. fit the final model (the chosen one for ``auto``) on every row;
    5. fill the card: data range, features, exclusions with reasons, the chosen model's
       own out-of-sample metrics, AUC bootstrap CI, per-fold AUCs, calibration and gains,
       drift, and a verdict that follows from those numbers.

    Raises :class:`~leadgate.predictive.dataset.DatasetError` for unusable input.
    """
    started = _time.perf_counter()
    if ds.n_rows < 20 or min(ds.y.sum(), ds.n_rows - ds.y.sum()) < 5:
        raise DatasetError(
            f"too few closed leads to train: {ds.n_rows} rows, {int(ds.y.sum())} positive "
            "(need at least 20 rows and 5 of each outcome)"
        )
    known = set(ds.X.columns) | set(ds.dropped)
    unknown = [c for c in include_leaky if c not in known]
    if unknown:
        raise DatasetError(f"unknown column(s) in --include-leaky: {', '.join(unknown)}")
    leakage = detect_leakage(
        ds.X, ds.y, ds.kinds, include=include_leaky, threshold=leak_threshold, seed=seed
    )
    kinds = {c: k for c, k in ds.kinds.items() if c not in leakage.excluded}
    if not kinds:
        raise DatasetError("no usable feature column left after excluding leaky/id/constant ones")
    looks_ordered = None
    if ds.time is None and not time_ordered_rows:
        # Rows exported in time order are common (CRM exports by creation): a random K-fold
        # on them trains on the future. When the first and last rows differ that clearly,
        # evaluate as time-ordered and say so.
        looks_ordered = rows_look_time_ordered(ds.X, kinds, seed)
    the_plan = plan(
        ds.y, time=ds.time, time_ordered_rows=time_ordered_rows or bool(looks_ordered), seed=seed
    )
    if looks_ordered:
        the_plan.description += (
            f" (no time column given, but the first and last rows differ clearly: adversarial"
            f" ROC AUC {looks_ordered:.2f}, so the rows are taken to be in time order)"
        )
    ordered = the_plan.kind == "time"
    order = time_order(ds.time, ds.n_rows) if ordered else np.arange(ds.n_rows)
    drift: dict[str, Any] = {}
    excluded_drifting: dict[str, list[str]] = {}
    kinds_with = kinds
    if ordered:
        drift = drift_report(ds.X, ds.y, kinds, order)
    if exclude_drifting:
        if not ordered:
            raise DatasetError(
                "--exclude-drifting needs time order: a --time column or --rows-in-time-order"
            )
        excluded_drifting = {c: drift["features"][c]["reasons"] for c in drift["flagged"]}
        kinds = {c: k for c, k in kinds.items() if c not in excluded_drifting}
        if not kinds:
            raise DatasetError("every feature drifts: nothing left with --exclude-drifting")

    X_all = coerce_features(ds.X, kinds)
    candidates = CANDIDATES if (kind == "auto" or compare) else (kind,)
    cmp = compare_models(X_all, ds.y, kinds, the_plan, seed=seed, candidates=candidates)
    main = cmp.chosen if kind == "auto" else kind
    if kind != "auto":
        cmp.chosen = main  # a fixed kind is not a choice: the card reports that kind
    scores: dict[str, np.ndarray] = {kind: cmp.scores[main]}
    scores.update({k: v for k, v in cmp.scores.items() if k != kind})
    rows, y_eval = cmp.rows, cmp.y
    # With time order a lead competes with the leads of its own period: metrics per fold,
    # averaged (the choice uses the same per-fold AUCs).
    evaluate = _evaluator(y_eval, cmp.folds, ordered)
    if compare:
        for name, proto in baseline_models(kinds).items():
            _, scores[name] = oos_scores(
                ds, kinds, the_plan, lambda p=proto: OdooNaiveBayes(kinds, empty=p.empty)
            )
    if drift and drift["flagged"]:
        drift["auc_lost_without_flagged"] = _drift_cost(
            ds, kinds_with if exclude_drifting else kinds, drift["flagged"], main, the_plan, seed,
            removed=exclude_drifting, auc=evaluate(scores[kind])["roc_auc"], per_fold=ordered,
        )  # fmt: skip

    # The final model sees every row, in time order when there is one.
    final = make_model(kind, kinds, seed, time_ordered=ordered)
    if kind == "auto":
        final.pick = main  # chosen on the evaluation folds above: the card's model
        final.blend_weight = cmp.blend_weight
    elif kind == "blend":
        final.weight = cmp.blend_weight  # the weight of the card's blend row
    final.fit(X_all.iloc[order].reset_index(drop=True), ds.y[order])

    p = scores[kind]
    metrics = evaluate(p)
    ci = (
        mx.bootstrap_fold_auc_ci(y_eval, p, cmp.folds, seed=seed)
        if ordered
        else mx.bootstrap_auc_ci(y_eval, p, seed=seed)
    )
    v, statement = verdict(metrics["roc_auc"], ci, cmp.folds_of(main))
    if not ordered:
        statement += (
            " Evaluated on random folds (no time order known): the estimate may be optimistic"
            " if leads drift over time; give a time column or --rows-in-time-order."
        )
    card = ModelCard(
        kind=kind,
        seed=seed,
        leadgate_version=_version(),
        source=source,
        target=ds.target,
        positive_label=ds.positive_label,
        id_column=ds.id_column,
        time_column=ds.time_column,
        rows=ds.n_rows,
        positive_rate=ds.positive_rate,
        data_range=_data_range(ds, time_ordered_rows or bool(looks_ordered)),
        features=dict(kinds),
        excluded_leaky={c: leakage.flags[c] for c in leakage.excluded},
        included_leaky={c: leakage.flags[c] for c in leakage.included},
        dropped=dict(ds.dropped),
        validation=the_plan.description,
        metrics=metrics,
        auc_ci=ci,
        baselines={name: evaluate(s) for name, s in scores.items() if name.startswith("odoo_nb")},
        calibration=mx.calibration_table(y_eval, p).to_dict("records"),
        gains=mx.gains_table(y_eval, p).to_dict("records"),
        params={
            **getattr(final, "params", {}),
            "chosen": main,
            "alternatives": {
                name: evaluate(s)
                for name, s in scores.items()
                if name != kind and not name.startswith("odoo_nb")
            },
            "leak_threshold": leak_threshold,
        },
        verdict=v,
        statement=statement,
        choice=cmp.summary(),
        drift=drift,
        excluded_drifting=excluded_drifting,
    )
    model = LeadModel(
        kind=kind,
        estimator=final,
        kinds=kinds,
        target=ds.target,
        positive_label=ds.positive_label,
        id_column=ds.id_column,
        time_column=ds.time_column,
        card=card,
    )
    return TrainResult(
        model=model,
        leakage=leakage,
        plan=the_plan,
        rows=rows,
        y=y_eval,
        scores=scores,
        seconds=_time.perf_counter() - started,
        folds=cmp.folds,
        per_fold=ordered,
    )


def _drift_cost(
    ds: Dataset,
    kinds: dict[str, ColumnKind],
    flagged: list[str],
    main: str,
    the_plan: Plan,
    seed: int,
    *,
    removed: bool,
    auc: float,
    per_fold: bool,
) -> dict[str, Any]:
    """The chosen model's out-of-sample AUC with and without the flagged features, on the
    same folds (one more evaluation: with them when they were removed, else without)."""
    if removed:
        other_kinds, auc_without = kinds, auc
    else:
        other_kinds = {c: k for c, k in kinds.items() if c not in flagged}
        auc_without = float("nan")
    if not other_kinds:
        return {"auc_with": auc, "auc_without": None, "lost": None}
    X = coerce_features(ds.X, other_kinds)
    other = compare_models(X, ds.y, other_kinds, the_plan, seed=seed, candidates=(main,))
    other_auc = _evaluator(other.y, other.folds, per_fold)(other.scores[main])["roc_auc"]
    auc_with, auc_without = (other_auc, auc) if removed else (auc, other_auc)
    return {
        "model": main,
        "auc_with": round(auc_with, 4),
        "auc_without": round(auc_without, 4),
        "lost": round(auc_with - auc_without, 4),
    }


def train_csv(
    path: str | Path,
    target: str,
    *,
    id_column: str | None = None,
    time_column: str | None = None,
    positive: str | None = None,
    exclude: list[str] | tuple[str, ...] = (),
    include_leaky: list[str] | tuple[str, ...] = (),
    kind: ModelKind = "auto",
    seed: int = 0,
    compare: bool = True,
    time_ordered_rows: bool = False,
    exclude_drifting: bool = False,
) -> TrainResult:
    """Read a CSV of closed leads and :func:`train_dataset` on it."""
    ds = load_csv(
        path,
        target,
        id_column=id_column,
        time_column=time_column,
        positive=positive,
        exclude=exclude,
    )
    return train_dataset(
        ds,
        kind=kind,
        seed=seed,
        include_leaky=include_leaky,
        compare=compare,
        source=str(path),
        time_ordered_rows=time_ordered_rows,
        exclude_drifting=exclude_drifting,
    )


def _data_range(ds: Dataset, time_ordered_rows: bool) -> dict[str, str]:
    out = {"rows": f"{ds.n_rows:,}"}
    if ds.time is not None and pd.api.types.is_datetime64_any_dtype(ds.time):
        t = ds.time.dropna()
        if not t.empty:
            out["from"] = str(t.min().date())
            out["to"] = str(t.max().date())
    elif time_ordered_rows:
        out["order"] = "rows are in time order"
    return out


def _version() -> str:
    try:
        from leadgate import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return ""
