"""Honest evaluation splits.

Lead data drifts (campaigns, seasons, collection windows), so when rows have a time — or
are known to be in time order — the model is trained on the past and tested on a later
slice. Otherwise stratified K-fold gives out-of-fold predictions for every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

SplitKind = Literal["time", "stratified_kfold", "stratified_holdout"]


@dataclass
class Split:
    """One train/test partition of row positions."""

    train: np.ndarray
    test: np.ndarray


@dataclass
class Plan:
    """How a data set is evaluated: the kind of split and its partitions."""

    kind: SplitKind
    splits: list[Split]
    description: str


def time_order(time: pd.Series | np.ndarray | None, n: int) -> np.ndarray:
    """Row positions sorted by time (missing times first, ties by row); row order if no time."""
    if time is None:
        return np.arange(n)
    t = pd.Series(time).reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(t):
        key = t.astype("int64").to_numpy(dtype=float)
        key[t.isna().to_numpy()] = -np.inf
    else:
        key = pd.to_numeric(t, errors="coerce").to_numpy(dtype=float)
        key[np.isnan(key)] = -np.inf
    return np.argsort(key, kind="stable")


def time_split(time: pd.Series | np.ndarray | None, n: int, test_fraction: float = 0.25) -> Split:
    """Train on the earliest rows, test on the latest ``test_fraction`` (row order when
    ``time`` is None, i.e. rows already in time order). ``train`` lists its rows in time
    order, so a model can validate on the latest part of its own training rows."""
    order = time_order(time, n)
    cut = round(n * (1 - test_fraction))
    return Split(train=order[:cut], test=np.sort(order[cut:]))


def stratified_holdout(y: np.ndarray, test_fraction: float = 0.25, seed: int = 0) -> Split:
    """A random stratified train/test split."""
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    return Split(train=np.sort(tr), test=np.sort(te))


def stratified_kfold(y: np.ndarray, folds: int = 5, seed: int = 0) -> list[Split]:
    """Stratified, shuffled K-fold partitions (fewer folds when the minority class is tiny)."""
    y = np.asarray(y, dtype=int)
    minority = int(min(y.sum(), len(y) - y.sum()))
    k = max(2, min(folds, minority))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [Split(tr, te) for tr, te in cv.split(np.zeros(len(y)), y)]


#: Above this many rows without time, one stratified hold-out instead of K folds.
HOLDOUT_ROWS = 50_000


def plan(
    y: np.ndarray,
    *,
    time: pd.Series | np.ndarray | None = None,
    time_ordered_rows: bool = False,
    folds: int | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> Plan:
    """The evaluation plan: a time split when there is a time column (or the rows are in
    time order), otherwise stratified K-fold (5 folds up to 20k rows, 3 above, a single
    stratified hold-out above 50k rows to bound the cost: 25% of 50k+ rows is a big
    enough test slice)."""
    n = len(y)
    if time is not None or time_ordered_rows:
        s = time_split(time, n, test_fraction)
        what = "time column" if time is not None else "row order"
        return Plan(
            "time",
            [s],
            f"time-ordered split by {what}: train on the earliest {len(s.train):,} rows, "
            f"test on the latest {len(s.test):,}",
        )
    if n > HOLDOUT_ROWS:
        s = stratified_holdout(y, test_fraction, seed)
        return Plan(
            "stratified_holdout",
            [s],
            f"stratified hold-out: {len(s.train):,} train / {len(s.test):,} test rows",
        )
    k = folds or (5 if n <= 20_000 else 3)
    splits = stratified_kfold(y, k, seed)
    return Plan(
        "stratified_kfold",
        splits,
        f"stratified {len(splits)}-fold cross-validation (out-of-fold predictions, {n:,} rows)",
    )


def out_of_sample(
    fit_predict: Callable[[np.ndarray, np.ndarray], Any], the_plan: Plan, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``fit_predict(train_rows, test_rows) -> scores`` over a plan.

    Returns ``(rows, scores)``: the evaluated row positions and their out-of-sample scores.
    """
    rows: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for s in the_plan.splits:
        rows.append(s.test)
        scores.append(np.asarray(fit_predict(s.train, s.test), dtype=float))
    r = np.concatenate(rows)
    p = np.concatenate(scores)
    order = np.argsort(r, kind="stable")
    return r[order], p[order]
