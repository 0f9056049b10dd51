"""Choosing the model: candidates compared on the same folds, the simplest within the noise.

The candidates are, simplest first, the logistic model, the calibrated gradient boosting
and a blend (the mean of the two calibrated probabilities). Each is scored out of sample
on the same folds of one plan (rolling origin with time, stratified K-fold without). The
best is the highest mean fold ROC AUC; the *noise* is the standard error of the paired
fold-to-fold differences to it (how much the gap moves from fold to fold) times the
one-sided 90% Student t quantile (4 folds say little: the band widens).

- Time-ordered folds (rolling origin): the choice is the simplest candidate whose mean
  gap to the best is within that noise. The next leads may lie outside what training saw
  (an interest rate that keeps falling), where trees cannot extrapolate and the linear
  model can: on the bank's time splits the GBM scored 0.60-0.64 where the logistic model
  scored 0.72, while the folds could not tell them apart.
- Exchangeable folds (stratified K-fold or hold-out: no time order known): the best. No
  extrapolation argument favours the simpler model there, and preferring it cost ROC AUC
  on every split of coil2000 (the blend was best on the folds of all three training sets
  and on all three test sets, by 0.01-0.03, but "within the noise" of the logistic model).

  When even the best mean fold ROC AUC is below 0.55 (the card's "no signal" line) the
  candidates differ by noise only, and the simplest-within-the-noise rule decides.

The chosen model's own out-of-sample scores are what the card reports, so the choice, the
table and the verdict describe one model.

Example::

    cmp = compare(X, y, kinds, the_plan, seed=0)
    cmp.chosen, cmp.fold_auc["logistic"], cmp.scores[cmp.chosen]   # pooled OOS scores
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadgate.predictive.card import MIN_AUC
from leadgate.predictive.dataset import ColumnKind
from leadgate.predictive.validation import Plan, fold_labels, out_of_sample

#: Simplest first: ties and differences within the noise go to the earlier one.
CANDIDATES = ("logistic", "gbm", "blend")

RULES = {
    "simplest": "simplest of logistic < gbm < blend whose mean fold ROC AUC is within the "
    "noise of the best (standard error of the paired fold differences x one-sided 90% "
    "t quantile): the folds are periods in time, and the simpler model extrapolates",
    "best": "highest mean fold ROC AUC (the folds are exchangeable: no time order to "
    "extrapolate along)",
}


def rule_for(kind: str, fold_auc: dict[str, list[float]]) -> str:
    """The rule for a plan of ``kind`` (``time``: ``simplest``; else ``best``), ``simplest``
    whenever no candidate's mean fold ROC AUC reaches the card's "signal" line: picking
    the best of noise would only pick noise."""
    if kind == "time":
        return "simplest"
    means = [float(np.nanmean(v)) for v in fold_auc.values() if not np.all(np.isnan(v))]
    return "best" if means and max(means) >= MIN_AUC else "simplest"


@dataclass
class Comparison:
    """Out-of-sample scores of every candidate on one plan, and the choice."""

    rows: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    scores: dict[str, np.ndarray]
    fold_auc: dict[str, list[float]] = field(default_factory=dict)
    #: Positives and negatives per fold (same order as ``fold_auc``).
    fold_rows: list[dict[str, int]] = field(default_factory=list)
    chosen: str = ""
    best: str = ""
    noise: float = 0.0
    gap: dict[str, float] = field(default_factory=dict)

    #: ``simplest`` (time-ordered folds) or ``best`` (exchangeable folds), see the module.
    rule: str = "simplest"

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the rule, the per-fold AUCs, the gaps to the best and the choice."""
        return {
            "rule": RULES[self.rule],
            "chosen": self.chosen,
            "best": self.best,
            "noise": round(self.noise, 4),
            "gap_to_best": {k: round(v, 4) for k, v in self.gap.items()},
            "fold_auc": {k: [round(a, 4) for a in v] for k, v in self.fold_auc.items()},
            "fold_rows": self.fold_rows,
        }

    def folds_of(self, name: str) -> list[dict[str, float]]:
        """``{"auc", "positives", "negatives"}`` per fold of one candidate (verdict input)."""
        return [{"auc": a, **r} for a, r in zip(self.fold_auc[name], self.fold_rows, strict=True)]


def fold_aucs(y: np.ndarray, p: np.ndarray, folds: np.ndarray) -> list[float]:
    """ROC AUC per fold (NaN for a fold with one class only)."""
    out = []
    for f in np.unique(folds):
        m = folds == f
        yy = y[m]
        out.append(float(roc_auc_score(yy, p[m])) if 0 < yy.sum() < len(yy) else float("nan"))
    return out


def _noise(d: np.ndarray) -> float:
    """How far the mean of the fold differences ``d`` can sit from 0 by chance alone: its
    standard error times the one-sided 90% Student t quantile (few folds: a wider band)."""
    if len(d) < 2:
        return 0.0
    from scipy.stats import t

    return float(d.std(ddof=1) / np.sqrt(len(d)) * t.ppf(0.9, len(d) - 1))


def choose(
    fold_auc: dict[str, list[float]], rule: str = "simplest"
) -> tuple[str, str, float, dict[str, float]]:
    """``(chosen, best, noise, gap_to_best)`` from per-fold AUCs (candidates in simplicity
    order). Folds where any candidate has no AUC are left out. ``rule``: ``simplest``
    within the noise of the best, or the ``best`` itself (see the module docstring)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r} ({', '.join(RULES)})")
    names = list(fold_auc)
    A = np.array([fold_auc[k] for k in names], dtype=float)
    ok = ~np.isnan(A).any(axis=0)
    if not ok.any():
        return names[0], names[0], 0.0, {k: 0.0 for k in names}
    A = A[:, ok]
    means = A.mean(axis=1)
    b = int(np.argmax(means))
    gaps: dict[str, float] = {}
    noise = 0.0
    chosen = names[b]
    for i, k in enumerate(names):
        d = A[b] - A[i]
        se = _noise(d)
        gaps[k] = float(d.mean())
        if rule == "simplest" and i < names.index(chosen) and d.mean() <= se:
            chosen, noise = k, se
    if chosen == names[b]:
        others = [A[b] - A[i] for i in range(len(names)) if i != b]
        noise = min((_noise(d) for d in others), default=0.0)
    return chosen, names[b], noise, gaps


def compare(
    X: pd.DataFrame,
    y: np.ndarray,
    kinds: dict[str, ColumnKind],
    the_plan: Plan,
    *,
    seed: int = 0,
    candidates: tuple[str, ...] = CANDIDATES,
) -> Comparison:
    """Score the candidates (``logistic``, ``gbm``, ``blend``) out of sample on ``the_plan``
    and choose (see the module docstring and :func:`rule_for`). ``X`` is a coerced
    feature frame."""
    from leadgate.predictive.models import make_model

    base = [k for k in ("logistic", "gbm") if k in candidates or "blend" in candidates]
    y = np.asarray(y, dtype=int)

    def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        Xtr, Xte = X.iloc[tr].reset_index(drop=True), X.iloc[te].reset_index(drop=True)
        return np.column_stack(
            [make_model(k, kinds, seed).fit(Xtr, y[tr]).predict_proba(Xte) for k in base]  # type: ignore[arg-type]
        )

    rows, P = out_of_sample(fit_predict, the_plan, len(y))
    P = P.reshape(len(rows), len(base))
    raw = {k: P[:, j] for j, k in enumerate(base)}
    scores = {k: raw[k] for k in candidates if k in raw}
    if "blend" in candidates:
        scores["blend"] = (raw["logistic"] + raw["gbm"]) / 2
    folds = fold_labels(the_plan, rows, seed=seed)
    yy = y[rows]
    cmp = Comparison(rows=rows, y=yy, folds=folds, scores=scores)
    cmp.fold_auc = {k: fold_aucs(yy, scores[k], folds) for k in candidates}
    cmp.rule = rule = rule_for(the_plan.kind, cmp.fold_auc)
    cmp.fold_rows = [
        {
            "positives": int(yy[folds == f].sum()),
            "negatives": int((folds == f).sum() - yy[folds == f].sum()),
        }
        for f in np.unique(folds)
    ]
    cmp.chosen, cmp.best, cmp.noise, cmp.gap = choose(cmp.fold_auc, rule)
    return cmp
