"""leadgate auto vs scikit-learn defaults on many splits (issue 18's target).

For each public data set: random stratified splits (several seeds, 25% test) and, where the
rows have a time order, time-ordered splits at several cut points (train on the earliest
share, test on the rest). On each split, leadgate ``auto`` (its own inner folds: rolling
origin on time-ordered training rows, stratified K-fold otherwise) and the best of a
default ``LogisticRegression`` and a default ``HistGradientBoostingClassifier``
(:mod:`leadgate.predictive.defaults`) are trained on the same rows with the same features
and scored on the same test rows. Target: ours ≥ best − 0.002 ROC AUC on every split.

Each row also says how much of a miss is noise: the bootstrap 95% interval of our test AUC
and the *paired* bootstrap 95% interval of ours − best (both AUCs on the same resampled
rows, :func:`~leadgate.predictive.metrics.bootstrap_auc_difference_ci`), and "no signal"
when no model's interval clears 0.5 (the crm control: there "best default" is the larger of
two coin flips and the target is met or missed by chance).

    .venv/bin/python bench/predictive.py --vs-defaults [--seeds 0,1,2] [--cuts 0.6,0.75,0.9]
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from leadgate.predictive import metrics as mx
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
        dp = default_scores(Xtr, ytr, Xte, kinds, seed)
        ref = {k: float(roc_auc_score(yte, v)) for k, v in dp.items()}
        auc = float(roc_auc_score(yte, p))
        best = max(ref.values())
        best_name = max(ref, key=lambda k: ref[k])
        cis = {k: mx.bootstrap_auc_ci(yte, v, seed=seed) for k, v in dp.items()}
        cis["ours"] = mx.bootstrap_auc_ci(yte, p, seed=seed)
        rows.append(
            {
                "dataset": ps.name,
                "split": name,
                "n_train": len(s.train),
                "n_test": len(s.test),
                "chosen": ours.params["chosen"],
                # Why: the rule, per-fold AUCs, gaps, noise, blend weight (JSON only).
                "choice": ours.params.get("choice", {}),
                "ours": auc,
                **ref,
                "margin": auc - best,
                "margin_ci": mx.bootstrap_auc_difference_ci(yte, p, dp[best_name], seed=seed),
                "auc_ci": {k: (round(lo, 4), round(hi, 4)) for k, (lo, hi) in cis.items()},
                "no_signal": all(lo <= 0.5 for lo, _ in cis.values()),
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
        "| ours − best (paired 95% CI) | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["margin_ci"]
        mark = "✓" if r["met"] else "✗"
        if r["no_signal"]:
            mark += " no signal"
        elif not r["met"] and hi >= -TOLERANCE:
            mark += " (noise)"
        out.append(
            f"| {r['dataset']} | {r['split']} | {r['n_train']:,} / {r['n_test']:,} | "
            f"{r['ours']:.4f} ({r['chosen']}) | {r['default_logistic']:.4f} | "
            f"{r['default_hgb']:.4f} | {r['margin']:+.4f} ({lo:+.3f} to {hi:+.3f}) | {mark} |"
        )
    met = sum(r["met"] for r in rows)
    margins = np.array([r["margin"] for r in rows])
    control = [r for r in rows if r["no_signal"]]
    signal = [r for r in rows if not r["no_signal"]]
    missed = [r for r in signal if not r["met"]]
    clear = [r for r in missed if r["margin_ci"][1] < -TOLERANCE]
    out.append("")
    out.append(
        f"Target met on {met} of {len(rows)} splits; margin to the best default: median "
        f"{np.median(margins):+.4f}, worst {margins.min():+.4f}. Splits with signal: met on "
        f"{len(signal) - len(missed)} of {len(signal)}, {len(clear)} miss(es) beyond the paired "
        f"noise; {len(control)} split(s) where no model's 95% CI clears 0.5 (no signal: "
        f"met on {sum(r['met'] for r in control)}, by chance)."
    )
    return "\n".join(out)
