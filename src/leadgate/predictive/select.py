"""Choosing the model: candidates compared on the same folds, the simplest within the noise.

The candidates are, simplest first, the logistic model, the calibrated gradient boosting
and a blend (a weighted mean of the two calibrated probabilities, the weight fitted by
log-loss on the two models' out-of-sample scores: an equal mean of a strong and a weaker
model double-counts the weaker one, bank random split seed 1: blend 0.7992, GBM alone
0.8007). The blend's score on a fold uses the weight fitted on the *other* folds (with
time order: the earlier folds only, the first fold the prior 0.5), so its fold AUCs are
as out of sample as the other candidates'; the final blend uses the weight fitted on
every fold. Each is scored out of sample
on the same folds of one plan (rolling origin with time, stratified K-fold without). The
best is the highest mean fold ROC AUC; the *noise* is the standard error of the paired
fold-to-fold differences to it (how much the gap moves from fold to fold) times the
one-sided 90% Student t quantile (4 folds say little: the band widens).

- Time-ordered folds (rolling origin): the choice is the simplest candidate whose mean
  gap to the best is within that noise, or no larger than the gap of a candidate that is
  (a candidate closer to the best than one already taken as indistinguishable from it is
  indistinguishable too). The next leads may lie outside what training saw
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
    cmp.blend_weight                                 # the logistic model's share in the blend
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

#: The logistic model's weight in the blend when no out-of-sample scores say otherwise.
BLEND_PRIOR = 0.5
#: Weights tried for the logistic model's share (steps of 0.05: finer moves the fold AUCs
#: by less than their noise).
BLEND_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)

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
    #: The logistic model's share in the blend, fitted on every fold's out-of-sample scores
    #: (what the final blend uses); ``fold_weights``: the weight each fold's blend used.
    blend_weight: float = BLEND_PRIOR
    fold_weights: list[float] = field(default_factory=list)

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
            "blend_weight": round(self.blend_weight, 2),
            "blend_fold_weights": [round(w, 2) for w in self.fold_weights],
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


def blend_weight(p_logistic: np.ndarray, p_gbm: np.ndarray, y: np.ndarray) -> float:
    """The logistic model's share ``w`` in ``w * p_logistic + (1 - w) * p_gbm`` with the
    lowest log-loss on these (out-of-sample) scores, from :data:`BLEND_GRID`; ties go to
    the weight nearest the prior. :data:`BLEND_PRIOR` without both outcomes."""
    from sklearn.metrics import log_loss

    y = np.asarray(y, dtype=int)
    if len(y) == 0 or y.min() == y.max():
        return BLEND_PRIOR
    eps = 1e-6
    losses = [
        log_loss(y, np.clip(w * p_logistic + (1 - w) * p_gbm, eps, 1 - eps), labels=[0, 1])
        for w in BLEND_GRID
    ]
    best = min(losses)
    near = [w for w, loss in zip(BLEND_GRID, losses, strict=True) if loss <= best + 1e-12]
    return float(min(near, key=lambda w: abs(w - BLEND_PRIOR)))


def _cross_fitted_blend(
    lr: np.ndarray, gbm: np.ndarray, y: np.ndarray, folds: np.ndarray, ordered: bool
) -> tuple[np.ndarray, list[float]]:
    """The blend's out-of-sample scores: each fold weighted from the other folds' scores
    (``ordered``: the earlier folds only; none earlier: the prior)."""
    out = np.empty_like(lr, dtype=float)
    weights = []
    for f in np.unique(folds):
        m = folds == f
        fit = folds < f if ordered else ~m
        w = blend_weight(lr[fit], gbm[fit], y[fit]) if fit.any() else BLEND_PRIOR
        weights.append(w)
        out[m] = w * lr[m] + (1 - w) * gbm[m]
    return out, weights


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
    gaps = {k: float((A[b] - A[i]).mean()) for i, k in enumerate(names)}
    noises = {k: _noise(A[b] - A[i]) for i, k in enumerate(names)}
    chosen, noise = names[b], 0.0
    if rule == "simplest":
        # The band: the largest gap of a candidate within its own noise of the best. Any
        # candidate at most that far from the best is as indistinguishable from it (a
        # steady small gap can sit just outside its own narrow band while an erratic larger
        # one sits inside its wide band: olist, time split 60%).
        accepted = [k for k in names if k == names[b] or gaps[k] <= noises[k]]
        setter = max(accepted, key=lambda k: (gaps[k], -names.index(k)))
        chosen = next(k for k in names if gaps[k] <= gaps[setter])
        noise = noises[setter] if setter != names[b] else 0.0
    if chosen == names[b]:
        noise = min((noises[k] for k in names if k != names[b]), default=0.0)
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
    folds = fold_labels(the_plan, rows, seed=seed)
    yy = y[rows]
    weight, fold_weights = BLEND_PRIOR, list[float]()
    if "blend" in candidates:
        scores["blend"], fold_weights = _cross_fitted_blend(
            raw["logistic"], raw["gbm"], yy, folds, ordered=the_plan.kind == "time"
        )
        weight = blend_weight(raw["logistic"], raw["gbm"], yy)
    cmp = Comparison(rows=rows, y=yy, folds=folds, scores=scores)
    cmp.blend_weight, cmp.fold_weights = weight, fold_weights
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
