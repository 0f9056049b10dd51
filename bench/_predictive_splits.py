"""leadgate auto vs scikit-learn defaults on many splits (issue 18's target).

For each public data set: random stratified splits (several seeds, 25% test) and, where the
rows have a time order, time-ordered splits at several cut points (train on the earliest
share, test on the rest). On each split, leadgate ``auto`` (its own inner folds: rolling
origin on time-ordered training rows, stratified K-fold otherwise) and the best of a
default ``LogisticRegression`` and a default ``HistGradientBoostingClassifier``
(:mod:`leadgate.predictive.defaults`) are trained on the same rows with the same features
and scored on the same test rows. Target: ours ≥ best − 0.002 ROC AUC on every split.

    .venv/bin/python bench/predictive.py --vs-defaults [--seeds 0,1,2] [--cuts 0.6,0.75,0.9]
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from leadgate.predictive import public_data as pub
from leadgate.predictive.dataset import coerce_features
from leadgate.predictive.defaults import default_scores
from leadgate.predictive.leakage import detect_leakage
from leadgate.predictive.models import make_model
from leadgate.predictive.validation import Split, stratified_holdout, time_split

TOLERANCE = 0.002


def splits_for(
    ps: pub.PublicSet, seeds: tuple[int, ...], cuts: tuple[float, ...]
) -> dict[str, tuple[Split, bool]]:
    """``name -> (split, time_ordered)``."""
    ds = ps.dataset
    out = {f"random seed {s}": (stratified_holdout(ds.y, 0.25, s), False) for s in seeds}
    if ds.time is not None or ps.time_ordered_rows:
        for c in cuts:
            out[f"time, train first {c:.0%}"] = (time_split(ds.time, ds.n_rows, 1 - c), True)
    return out


def vs_defaults(
    ps: pub.PublicSet, seeds: tuple[int, ...], cuts: tuple[float, ...], seed: int = 0
) -> list[dict[str, Any]]:
    """One row per split: ours, the two defaults, the margin and the seconds."""
    ds = ps.dataset
    leak = detect_leakage(ds.X, ds.y, ds.kinds, seed=seed)
    kinds = {c: k for c, k in ds.kinds.items() if c not in leak.excluded}
    X = coerce_features(ds.X, kinds)
    rows = []
    for name, (s, ordered) in splits_for(ps, seeds, cuts).items():
        Xtr = X.iloc[s.train].reset_index(drop=True)
        Xte = X.iloc[s.test].reset_index(drop=True)
        ytr, yte = ds.y[s.train], ds.y[s.test]
        t = time.perf_counter()
        ours = make_model("auto", kinds, seed, time_ordered=ordered).fit(Xtr, ytr)
        p = ours.predict_proba(Xte)
        secs = time.perf_counter() - t
        ref = {
            k: float(roc_auc_score(yte, v))
            for k, v in default_scores(Xtr, ytr, Xte, kinds, seed).items()
        }
        auc = float(roc_auc_score(yte, p))
        best = max(ref.values())
        rows.append(
            {
                "dataset": ps.name,
                "split": name,
                "n_train": len(s.train),
                "n_test": len(s.test),
                "chosen": ours.params["chosen"],
                "ours": auc,
                **ref,
                "margin": auc - best,
                "met": bool(auc >= best - TOLERANCE),
                "seconds": secs,
            }
        )
        print(f"  {ps.name} {name}: ours {auc:.4f} ({rows[-1]['chosen']}) vs "
              f"LR {ref['default_logistic']:.4f} HGB {ref['default_hgb']:.4f} "
              f"{'ok' if rows[-1]['met'] else 'MISSED'} ({secs:.0f} s)", flush=True)  # fmt: skip
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the rows."""
    out = [
        "| data set | split | train / test | leadgate auto (chose) | default LR | default HGB "
        "| ours − best | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['dataset']} | {r['split']} | {r['n_train']:,} / {r['n_test']:,} | "
            f"{r['ours']:.4f} ({r['chosen']}) | {r['default_logistic']:.4f} | "
            f"{r['default_hgb']:.4f} | {r['margin']:+.4f} | {'✓' if r['met'] else '✗'} |"
        )
    met = sum(r["met"] for r in rows)
    margins = np.array([r["margin"] for r in rows])
    out.append("")
    out.append(
        f"Target met on {met} of {len(rows)} splits; margin to the best default: median "
        f"{np.median(margins):+.4f}, worst {margins.min():+.4f}."
    )
    return "\n".join(out)
