"""Honest evaluation splits.

Lead data drifts (campaigns, seasons, collection windows), so when rows have a time — or
are known to be in time order — the model is evaluated the way it is used: *rolling
origin*, several folds each trained on every earlier row and tested on the next slice.
Otherwise stratified K-fold gives out-of-fold predictions for every row (and the card
says that estimate may be optimistic under drift).

Example::

    p = plan(y, time_ordered_rows=True)      # 4 folds: train on the past, test on the next slice
    rows, scores = out_of_sample(fit_predict, p, len(y))
    folds = fold_labels(p, rows)             # which fold each evaluated row came from
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


#: Rolling origin: folds, and the share of the oldest rows only ever used for training.
ROLLING_FOLDS = 4
ROLLING_FIRST_TRAIN = 0.4


def rolling_origin(
    time: pd.Series | np.ndarray | None,
    n: int,
    folds: int = ROLLING_FOLDS,
    first_train: float = ROLLING_FIRST_TRAIN,
) -> list[Split]:
    """Rolling-origin folds: the oldest ``first_train`` share of rows trains the first fold,
    the rest is cut into ``folds`` consecutive slices; fold i trains on every row before
    slice i (in time order) and tests on slice i. Each test row is later than its training
    rows, as a model trained today meets next month's leads."""
    order = time_order(time, n)
    start = round(n * first_train)
    edges = np.linspace(start, n, folds + 1).round().astype(int)
    return [
        Split(train=order[: edges[i]], test=np.sort(order[edges[i] : edges[i + 1]]))
        for i in range(folds)
        if edges[i + 1] > edges[i]
    ]


def fold_labels(the_plan: Plan, rows: np.ndarray, chunks: int = 5, seed: int = 0) -> np.ndarray:
    """The fold each of ``rows`` (as returned by :func:`out_of_sample`) was tested in. A
    single hold-out is cut into ``chunks`` random groups, so its noise can still be read
    from the spread between groups."""
    label = np.full(int(rows.max()) + 1 if len(rows) else 0, -1)
    for i, s in enumerate(the_plan.splits):
        label[s.test] = i
    out: np.ndarray = label[rows]
    if len(the_plan.splits) == 1:
        out = np.random.default_rng(seed).permutation(len(rows)) % chunks
    return out


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
    """The evaluation plan: rolling origin when there is a time column (or the rows are in
    time order), otherwise stratified K-fold (5 folds up to 20k rows, 3 above, a single
    stratified hold-out above 50k rows to bound the cost: 25% of 50k+ rows is a big
    enough test slice)."""
    n = len(y)
    if time is not None or time_ordered_rows:
        splits = rolling_origin(time, n)
        what = "time column" if time is not None else "row order"
        tested = sum(len(s.test) for s in splits)
        return Plan(
            "time",
            splits,
            f"time-ordered rolling-origin evaluation by {what}: {len(splits)} folds, each "
            f"trained on every earlier row and tested on the next slice ({tested:,} latest "
            f"rows tested, first fold trained on the earliest {len(splits[0].train):,})",
        )
    if n > HOLDOUT_ROWS:
        s = stratified_holdout(y, test_fraction, seed)
        return Plan(
            "stratified_holdout",
            [s],
            f"stratified hold-out: {len(s.train):,} train / {len(s.test):,} test rows "
            "(random: may be optimistic if the data drifts over time)",
        )
    k = folds or (5 if n <= 20_000 else 3)
    splits = stratified_kfold(y, k, seed)
    return Plan(
        "stratified_kfold",
        splits,
        f"stratified {len(splits)}-fold cross-validation (out-of-fold predictions, {n:,} rows; "
        "random folds: may be optimistic if the data drifts over time)",
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
