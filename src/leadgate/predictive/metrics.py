"""How good a score is: ranking, lift, calibration, gains; plus PNG charts.

All functions take ``y`` (0/1 outcomes) and ``p`` (scores in 0-1, higher = more likely to
convert) as arrays and return plain numbers, dicts or DataFrames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def _arrays(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"y and p differ in length: {y.shape} vs {p.shape}")
    return y, p


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (NaN when only one class is present)."""
    y, p = _arrays(y, p)
    if y.min(initial=0) == y.max(initial=0):
        return float("nan")
    return float(roc_auc_score(y, p))


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision)."""
    y, p = _arrays(y, p)
    if y.sum() == 0:
        return float("nan")
    return float(average_precision_score(y, p))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Brier score: mean squared error of the probabilities (lower is better)."""
    y, p = _arrays(y, p)
    return float(brier_score_loss(y, np.clip(p, 0, 1)))


def _top(p: np.ndarray, fraction: float) -> np.ndarray:
    """Indices of the top ``fraction`` of rows by score; ties broken by row order
    (stable), so the result is deterministic."""
    k = max(1, math.ceil(fraction * len(p)))
    order = np.argsort(-p, kind="stable")
    return order[:k]


def conversion_at(y: np.ndarray, p: np.ndarray, fraction: float) -> float:
    """Conversion rate among the top ``fraction`` of leads by score."""
    y, p = _arrays(y, p)
    return float(y[_top(p, fraction)].mean()) if len(y) else float("nan")


def lift_at(y: np.ndarray, p: np.ndarray, fraction: float) -> float:
    """Conversion in the top ``fraction`` divided by the overall conversion rate."""
    y, p = _arrays(y, p)
    base = y.mean() if len(y) else 0.0
    return float(conversion_at(y, p, fraction) / base) if base > 0 else float("nan")


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed rate per quantile bin of the score.

    Columns: ``bin``, ``n``, ``mean_predicted``, ``observed_rate``, ``low``, ``high``.
    """
    y, p = _arrays(y, p)
    if len(p) == 0:
        return pd.DataFrame(columns=["bin", "n", "mean_predicted", "observed_rate", "low", "high"])
    order = np.argsort(p, kind="stable")
    rows = []
    for b, idx in enumerate(np.array_split(order, min(bins, len(p)))):
        if len(idx) == 0:
            continue
        rows.append(
            {
                "bin": b + 1,
                "n": len(idx),
                "mean_predicted": float(p[idx].mean()),
                "observed_rate": float(y[idx].mean()),
                "low": float(p[idx].min()),
                "high": float(p[idx].max()),
            }
        )
    return pd.DataFrame(rows)


def gains_table(y: np.ndarray, p: np.ndarray, groups: int = 10) -> pd.DataFrame:
    """Cumulative gains by score decile (highest scores first).

    Columns: ``decile``, ``n``, ``converted``, ``rate``, ``cum_share_leads``,
    ``cum_share_converted`` (the gains curve) and ``cum_lift``.
    """
    y, p = _arrays(y, p)
    order = np.argsort(-p, kind="stable")
    total = max(int(y.sum()), 1)
    base = y.mean() if len(y) else float("nan")
    rows = []
    seen = conv = 0
    for d, idx in enumerate(np.array_split(order, groups)):
        seen += len(idx)
        c = int(y[idx].sum())
        conv += c
        rows.append(
            {
                "decile": d + 1,
                "n": len(idx),
                "converted": c,
                "rate": float(c / len(idx)) if len(idx) else float("nan"),
                "cum_share_leads": seen / len(y) if len(y) else float("nan"),
                "cum_share_converted": conv / total,
                "cum_lift": float((conv / seen) / base) if seen and base else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _bootstrap_aucs(y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` resampled AUCs (NaN where a resample has one class only). Each resample is
    a vector of row weights, and the AUC is computed from one sort of the scores
    (Mann-Whitney with ties counted half), so 500 resamples of 100k rows take about a
    second."""
    n = len(y)
    out = np.full(n_boot, np.nan)
    if n == 0 or y.min() == y.max():
        return out
    rng = np.random.default_rng(seed)
    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order]
    group = np.concatenate([[0], np.cumsum(np.diff(ps) != 0)])
    n_groups = int(group[-1]) + 1
    for i in range(n_boot):
        w = np.bincount(rng.integers(0, n, n), minlength=n)[order].astype(float)
        wp, wn = w * ys, w * (1 - ys)
        total_p, total_n = wp.sum(), wn.sum()
        if total_p == 0 or total_n == 0:
            continue
        pos_g = np.bincount(group, wp, minlength=n_groups)
        neg_g = np.bincount(group, wn, minlength=n_groups)
        below = np.cumsum(neg_g) - neg_g
        out[i] = float((pos_g * (below + 0.5 * neg_g)).sum() / (total_p * total_n))
    return out


def bootstrap_auc_ci(
    y: np.ndarray, p: np.ndarray, n_boot: int = 500, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the ROC AUC."""
    y, p = _arrays(y, p)
    aucs = _bootstrap_aucs(y, p, n_boot, seed)
    aucs = aucs[~np.isnan(aucs)]
    if not len(aucs):
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_auc_difference_ci(
    y: np.ndarray, p: np.ndarray, q: np.ndarray, n_boot: int = 500, alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:  # fmt: skip
    """Percentile bootstrap interval of ``AUC(p) - AUC(q)`` on the same rows, *paired*:
    both are computed on each resample (the row weights depend only on ``seed`` and the
    row count), so what the two scores share cancels out. Two models of the same features
    typically differ by ±0.005 where each AUC's own interval is ±0.03: only this interval
    says whether a difference between them is more than noise."""
    y, p = _arrays(y, p)
    _, q = _arrays(y, q)
    diff = _bootstrap_aucs(y, p, n_boot, seed) - _bootstrap_aucs(y, q, n_boot, seed)
    diff = diff[~np.isnan(diff)]
    if not len(diff):
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_fold_auc_ci(
    y: np.ndarray,
    p: np.ndarray,
    folds: np.ndarray,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the *mean fold* ROC AUC (rows resampled within each
    fold), the figure :func:`evaluate_by_fold` reports."""
    y, p = _arrays(y, p)
    per = [
        _bootstrap_aucs(y[folds == f], p[folds == f], n_boot, seed + i)
        for i, f in enumerate(np.unique(folds))
    ]
    per = [a for a in per if not np.isnan(a).all()]
    if not per:
        return (float("nan"), float("nan"))
    with np.errstate(all="ignore"):
        means = np.nanmean(np.vstack(per), axis=0)
    means = means[~np.isnan(means)]
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def evaluate_by_fold(y: np.ndarray, p: np.ndarray, folds: np.ndarray) -> dict[str, float]:
    """:func:`evaluate` per fold, averaged (``n`` and ``base_rate`` over all rows). Used for
    time-ordered evaluation: a lead is ranked against the leads of its own period, so one
    period's higher base rate must not count as ranking skill (or as its lack)."""
    y, p = _arrays(y, p)
    per = [evaluate(y[folds == f], p[folds == f]) for f in np.unique(folds)]
    with np.errstate(all="ignore"):
        out = {k: float(np.nanmean([m[k] for m in per])) for k in per[0]}
    out["n"], out["base_rate"] = float(len(y)), float(y.mean()) if len(y) else float("nan")
    return out


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The standard metric set: ROC AUC, PR AUC, lift and conversion in the top 10% and
    20%, Brier score, base rate and row count."""
    y, p = _arrays(y, p)
    return {
        "n": float(len(y)),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "roc_auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "lift_10": lift_at(y, p, 0.10),
        "lift_20": lift_at(y, p, 0.20),
        "conversion_10": conversion_at(y, p, 0.10),
        "conversion_20": conversion_at(y, p, 0.20),
        "brier": brier(y, p),
    }


# -- charts -------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_calibration(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    title: str = "Calibration",
    bins: int = 10,
) -> Path:
    """Reliability diagram (mean predicted vs observed rate per decile) for one or more
    scores (``{name: (y, p)}``) written as a PNG. Returns the path."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    hi = 0.0
    for name, (y, p) in curves.items():
        t = calibration_table(y, p, bins)
        ax.plot(t["mean_predicted"], t["observed_rate"], marker="o", ms=4, label=name)
        hi = max(hi, float(t["mean_predicted"].max()), float(t["observed_rate"].max()))
    hi = min(1.0, hi * 1.05 + 0.01)
    ax.plot([0, hi], [0, hi], ls="--", color="grey", lw=1, label="perfect")
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel("mean predicted probability (decile)")
    ax.set_ylabel("observed conversion rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_gains(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    title: str = "Cumulative gains",
) -> Path:
    """Cumulative gains chart (share of conversions captured vs share of leads contacted,
    best-scored first) for one or more scores, written as a PNG. Returns the path."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    for name, (y, p) in curves.items():
        y, p = _arrays(y, p)
        order = np.argsort(-p, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(y[order]) / max(y.sum(), 1)])
        x = np.linspace(0, 1, len(cum))
        ax.plot(x, cum, label=name, lw=1.5)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="random")
    ax.set_xlabel("share of leads (highest score first)")
    ax.set_ylabel("share of conversions captured")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
