"""Drift report: which features move over time, and which merely stand in for time.

A model is trained on the past and used on the future; a feature whose distribution or
whose relation to the outcome moves between the oldest and the newest leads makes the
past a poor guide. Between the oldest and the newest quarter of the rows (time order):

- **PSI** (population stability index) of each feature's distribution (numbers cut at the
  oldest slice's deciles, categories by value, missing as its own bin): ≥ 0.25 is a shift;
- **relation**: the feature's own ROC AUC for the outcome in the oldest slice vs the newest,
  both scored with what the oldest slice taught (a category's conversion rate there, a
  number's direction there): a change ≥ 0.10 means the same value no longer means the same;
- **adversarial validation**: how well a small model tells the oldest rows from the newest
  (ROC AUC; 0.5 = the population did not move); the same test on rows as they come tells
  whether rows without a time column were exported in time order;
- **time-like**: a number whose rank follows time (|Spearman ρ| ≥ 0.8 with the row's time
  order: macro indices, dates, running counters) or a name that says it is a date. Its
  future values lie outside anything the model saw.

Example::

    rep = drift_report(ds.X, ds.y, ds.kinds, time_order(ds.time, ds.n_rows))
    rep["flagged"]          # ["euribor3m", "nr.employed", ...]
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadgate.predictive.dataset import ColumnKind

PSI_SHIFT = 0.25
RELATION_SHIFT = 0.10
TIME_LIKE_RHO = 0.8
SLICE = 0.25
_DATE_NAME = re.compile(
    r"(^|[_\W])(date|time|timestamp|year|month|week|day|created|_at)($|[_\W])", re.I
)


def _psi(old: pd.Series, new: pd.Series, kind: ColumnKind) -> float:
    if kind == "numeric":
        o = pd.to_numeric(old, errors="coerce")
        nw = pd.to_numeric(new, errors="coerce")
        edges: Any = (
            np.unique(np.nanquantile(o.dropna(), np.linspace(0.1, 0.9, 9)))
            if o.notna().any()
            else []
        )
        ob = np.where(o.isna(), -1, np.searchsorted(edges, o.fillna(0), side="right"))
        nb = np.where(nw.isna(), -1, np.searchsorted(edges, nw.fillna(0), side="right"))
    else:
        ob = old.astype(object).where(old.notna(), "\0missing").to_numpy()
        nb = new.astype(object).where(new.notna(), "\0missing").to_numpy()
        # Rare values (landing pages seen a few times) would read as a shift by chance alone.
        counts = pd.Series(np.concatenate([ob, nb])).value_counts()
        rare = set(counts[counts < max(20, 0.01 * (len(ob) + len(nb)))].index)
        if rare:
            ob = np.array(["\0rare" if v in rare else v for v in ob], dtype=object)
            nb = np.array(["\0rare" if v in rare else v for v in nb], dtype=object)
    keys = pd.Index(pd.unique(np.concatenate([ob, nb])))
    po = pd.Series(ob).value_counts().reindex(keys, fill_value=0).to_numpy() / len(ob)
    pn = pd.Series(nb).value_counts().reindex(keys, fill_value=0).to_numpy() / len(nb)
    po, pn = np.clip(po, 1e-4, None), np.clip(pn, 1e-4, None)
    return float(np.sum((pn - po) * np.log(pn / po)))


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def _relation(
    old: pd.Series, new: pd.Series, y_old: np.ndarray, y_new: np.ndarray, kind: ColumnKind
) -> tuple[float, float]:
    """The feature's AUC in the oldest and the newest slice, scored as the oldest taught."""
    if kind == "numeric":
        o = pd.to_numeric(old, errors="coerce")
        fill = float(o.median()) if o.notna().any() else 0.0
        so = o.fillna(fill).to_numpy()
        sn = pd.to_numeric(new, errors="coerce").fillna(fill).to_numpy()
        a_old = _auc(y_old, so)
        sign = -1.0 if a_old == a_old and a_old < 0.5 else 1.0
        return (max(a_old, 1 - a_old) if a_old == a_old else a_old), _auc(y_new, sign * sn)
    prior = float(y_old.mean())
    ko = old.astype(object).where(old.notna(), "\0missing")
    kn = new.astype(object).where(new.notna(), "\0missing")
    g = pd.DataFrame({"k": ko.to_numpy(), "y": y_old}).groupby("k")["y"].agg(["sum", "count"])
    rate = (g["sum"] + 10 * prior) / (g["count"] + 10)  # shrunk: rare values say little
    so = ko.map(rate).fillna(prior).to_numpy(dtype=float)
    sn = kn.map(rate).fillna(prior).to_numpy(dtype=float)
    return _auc(y_old, so), _auc(y_new, sn)


def adversarial_auc(
    X: pd.DataFrame, kinds: dict[str, ColumnKind], order: np.ndarray, seed: int = 0
) -> float:
    """How well the features tell the oldest quarter of the rows from the newest (out-of-fold
    ROC AUC of a small gradient boosting model): about 0.5 when nothing moves, near 1 when
    the newest leads look nothing like the oldest."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n = len(order)
    k = max(1, int(n * SLICE))
    idx = np.concatenate([order[:k], order[-k:]])
    label = np.r_[np.zeros(k), np.ones(k)]
    cols = {}
    for col, kind in kinds.items():
        s = X[col].iloc[idx]
        if kind == "numeric":
            cols[col] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        else:
            codes = pd.Series(pd.Categorical(s.astype(object)).codes, dtype=float)
            cols[col] = codes.where(codes >= 0).to_numpy()
    M = np.column_stack(list(cols.values())) if cols else np.zeros((len(idx), 1))
    if k < 10:
        return float("nan")
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    booster = HistGradientBoostingClassifier(max_iter=50, random_state=seed)
    p = cross_val_predict(booster, M, label, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(label, p))


#: Rows whose oldest and newest quarters are this easy to tell apart are in time order.
ORDERED_ROWS_AUC = 0.8


def rows_look_time_ordered(
    X: pd.DataFrame, kinds: dict[str, ColumnKind], seed: int = 0
) -> float | None:
    """The adversarial AUC between the first and the last quarter of the rows as they come,
    when it is ≥ 0.8 (the rows were exported in time order: a random K-fold would mix the
    future into training); None otherwise."""
    auc = adversarial_auc(X, kinds, np.arange(len(X)), seed)
    return auc if auc == auc and auc >= ORDERED_ROWS_AUC else None


def drift_report(
    X: pd.DataFrame, y: np.ndarray, kinds: dict[str, ColumnKind], order: np.ndarray
) -> dict[str, Any]:
    """Per feature: PSI, relation AUC oldest/newest, time-likeness, and the reasons it is
    flagged; ``flagged`` lists the flagged features (see the module docstring)."""
    n = len(order)
    k = max(1, int(n * SLICE))
    old_i, new_i = order[:k], order[-k:]
    y = np.asarray(y, dtype=int)
    rank = np.empty(n)
    rank[order] = np.arange(n)
    features: dict[str, dict[str, Any]] = {}
    flagged: list[str] = []
    for col, kind in kinds.items():
        s = X[col]
        old, new = s.iloc[old_i].reset_index(drop=True), s.iloc[new_i].reset_index(drop=True)
        psi = _psi(old, new, kind)
        a_old, a_new = _relation(old, new, y[old_i], y[new_i], kind)
        rho = float("nan")
        if kind == "numeric":
            v = pd.to_numeric(s, errors="coerce")
            if v.notna().sum() > 2 and v.nunique() > 1:
                rho = float(pd.Series(rank).corr(v.rank(), method="pearson"))
        reasons = []
        if psi >= PSI_SHIFT:
            reasons.append(f"distribution shifts (PSI {psi:.2f})")
        if a_old == a_old and a_new == a_new and abs(a_old - a_new) >= RELATION_SHIFT:
            reasons.append(f"relation to the outcome moves (AUC {a_old:.2f} -> {a_new:.2f})")
        if rho == rho and abs(rho) >= TIME_LIKE_RHO:
            reasons.append(f"time-like: follows time order (Spearman {rho:+.2f})")
        elif _DATE_NAME.search(col):
            reasons.append("time-like: a date by its name")
        features[col] = {
            "psi": round(psi, 4),
            "auc_oldest": None if a_old != a_old else round(a_old, 4),
            "auc_newest": None if a_new != a_new else round(a_new, 4),
            "time_rho": None if rho != rho else round(rho, 4),
            "reasons": reasons,
        }
        if reasons:
            flagged.append(col)
    return {
        "slices": f"oldest {k:,} vs newest {k:,} rows in time order",
        "adversarial_auc": round(adversarial_auc(X, kinds, order), 4),
        "features": features,
        "flagged": flagged,
    }
