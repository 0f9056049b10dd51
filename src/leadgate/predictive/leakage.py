"""Spotting columns that carry post-outcome information ("leaks").

A column is flagged when

- on its own it ranks the outcome almost perfectly: its single-column ROC AUC, from an
  out-of-fold target rate per value (numbers cut into 20 quantile bins, missing as a value of
  its own) or from the raw number, is at or above ``threshold`` (0.95); or
- its name says it is filled in during or after the sales contact: tags, status, stage,
  quality, duration, last (notable) activity, won/lost, outcome, close date/value, reason.

Flagged columns are excluded from training unless the caller names them in ``include``.
Every flag carries human-readable reasons for the model card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from leadgate.predictive.dataset import ColumnKind, coerce_features

#: (pattern on the normalised column name, reason). Names are lower-cased, camelCase split
#: and punctuation turned into spaces before matching.
NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\btags?\b", "name suggests the lead's current status (tags are set during follow-up)"),
    (r"\bstatus\b", "name suggests the lead's current status"),
    (r"\bstage\b", "name suggests a pipeline stage (the outcome itself or close to it)"),
    (r"\bquality\b", "name suggests a sales judgement made after contact"),
    (r"\bduration\b", "name suggests a duration known only after the contact"),
    (r"\blast (notable )?activity\b", "name suggests the last activity, recorded after contact"),
    (r"\b(won|lost|win|loss)\b", "name refers to the outcome (won/lost)"),
    (r"\b(outcome|result|converted|conversion)\b", "name refers to the outcome"),
    (r"\bclosed?\b|\bclosing\b", "name refers to closing (known only once the deal closes)"),
    (r"\breason\b", "name suggests a won/lost reason"),
)


@dataclass
class LeakageReport:
    """Single-column AUCs and the columns flagged as leaky, with reasons."""

    aucs: dict[str, float] = field(default_factory=dict)
    flags: dict[str, list[str]] = field(default_factory=dict)
    included: list[str] = field(default_factory=list)
    threshold: float = 0.95

    @property
    def excluded(self) -> list[str]:
        """Flagged columns that stay out of the model."""
        return [c for c in self.flags if c not in self.included]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "threshold": self.threshold,
            "excluded": {c: self.flags[c] for c in self.excluded},
            "included_anyway": {c: self.flags[c] for c in self.included if c in self.flags},
            "single_column_auc": {c: round(a, 4) for c, a in self.aucs.items()},
        }


def normalise_name(name: str) -> str:
    """``"Last Notable_Activity"``/``lastNotableActivity`` -> ``"last notable activity"``."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return " ".join(re.sub(r"[^0-9A-Za-z]+", " ", s).lower().split())


def name_reasons(name: str) -> list[str]:
    """Reasons the column name alone suggests post-outcome information."""
    norm = normalise_name(name)
    return [why for pat, why in NAME_PATTERNS if re.search(pat, norm)]


def _as_groups(s: pd.Series, kind: ColumnKind, bins: int = 20) -> np.ndarray:
    """Values as integer groups: category codes, or quantile bins for numbers; missing = -1."""
    if kind == "numeric":
        v = s.to_numpy(dtype=float)
        ok = ~np.isnan(v)
        out = np.full(len(v), -1, dtype=np.int64)
        if ok.any():
            edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, bins + 1)[1:-1]))
            out[ok] = np.searchsorted(edges, v[ok], side="right")
        return out
    codes, _ = pd.factorize(s, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64)


def single_column_auc(
    s: pd.Series, y: np.ndarray, kind: ColumnKind, seed: int = 0, folds: int = 5
) -> float:
    """How well one column alone ranks the outcome (0.5 = not at all, 1 = perfectly).

    An out-of-fold, smoothed target rate per value (or per quantile bin) is the score, so a
    column unique per row does not look perfect; for numbers the raw value's AUC (either
    direction) is also tried. Missing values form a group of their own.
    """
    y = np.asarray(y, dtype=int)
    if y.min() == y.max():
        return float("nan")
    groups = _as_groups(s, kind) + 1  # missing -> 0
    prior = y.mean()
    score = np.empty(len(y))
    minority = int(min(y.sum(), len(y) - y.sum()))
    cv = StratifiedKFold(n_splits=max(2, min(folds, minority)), shuffle=True, random_state=seed)
    size = int(groups.max()) + 1
    for tr, te in cv.split(np.zeros(len(y)), y):
        hits = np.bincount(groups[tr], weights=y[tr], minlength=size)
        counts = np.bincount(groups[tr], minlength=size)
        rate = (hits + 10 * prior) / (counts + 10)
        score[te] = rate[groups[te]]
    best = float(roc_auc_score(y, score))
    if kind == "numeric":
        v = s.to_numpy(dtype=float)
        ok = ~np.isnan(v)
        if ok.sum() > 1 and y[ok].min() != y[ok].max():
            raw = float(roc_auc_score(y[ok], v[ok]))
            # Only counts when the column is (nearly) always filled in.
            if ok.mean() >= 0.95:
                best = max(best, raw, 1 - raw)
    return best


def detect_leakage(
    X: pd.DataFrame,
    y: np.ndarray,
    kinds: dict[str, ColumnKind],
    *,
    include: list[str] | tuple[str, ...] = (),
    threshold: float = 0.95,
    seed: int = 0,
    max_rows: int = 50_000,
) -> LeakageReport:
    """Flag columns that look like post-outcome information (see the module docstring).

    ``include`` names flagged columns the caller wants kept anyway. Big tables are
    subsampled to ``max_rows`` (stratified, seeded) for the AUC test.
    """
    y = np.asarray(y, dtype=int)
    X = coerce_features(X, kinds)
    if len(y) > max_rows:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(y), max_rows, replace=False))
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    report = LeakageReport(threshold=threshold)
    for col, kind in kinds.items():
        reasons = name_reasons(col)
        auc = single_column_auc(X[col], y, kind, seed=seed)
        report.aucs[col] = auc
        if not np.isnan(auc) and auc >= threshold:
            reasons.insert(0, f"alone predicts the outcome almost perfectly (AUC {auc:.3f})")
        if reasons:
            report.flags[col] = reasons
    report.included = [c for c in include if c in report.flags]
    return report
