"""Turning typed feature frames into model matrices.

One :class:`FeatureEncoder` is fitted on the training rows and then maps any frame with the
same columns to

- an *ordinal* matrix for gradient boosting: numbers as they are (missing stays NaN), each
  categorical column as integer codes of its frequent values, rare and unseen values in one
  shared "other" code; the tree model handles those codes natively (no one-hot);
- a *design* matrix for the logistic model: numbers clipped to their 1st-99th percentiles,
  imputed with the median, standardised, plus a missing-value indicator; categories one-hot
  over the same frequent values with "other" and "missing" columns (sparse).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from leadgate.predictive.dataset import ColumnKind, coerce_features

OTHER = "(other)"
MISSING = "(missing)"


@dataclass
class FeatureEncoder:
    """Learns per-column vocabularies and numeric statistics from training rows."""

    kinds: dict[str, ColumnKind]
    max_categories: int = 200
    min_count: int = 10
    vocab: dict[str, list[str]] = field(default_factory=dict)
    medians: dict[str, float] = field(default_factory=dict)
    clips: dict[str, tuple[float, float]] = field(default_factory=dict)
    scales: dict[str, tuple[float, float]] = field(default_factory=dict)
    has_missing: dict[str, bool] = field(default_factory=dict)
    design_names: list[str] = field(default_factory=list)
    design_owner: list[str] = field(default_factory=list)
    design_mean: np.ndarray | None = None

    @property
    def columns(self) -> list[str]:
        """Feature columns in matrix order."""
        return list(self.kinds)

    @property
    def categorical_mask(self) -> np.ndarray:
        """Boolean mask of the categorical columns of the ordinal matrix."""
        return np.array([k == "categorical" for k in self.kinds.values()], dtype=bool)

    def fit(self, X: pd.DataFrame) -> FeatureEncoder:
        """Learn vocabularies (values seen at least ``min_count`` times, at most
        ``max_categories`` of them), medians, clip bounds and scales."""
        X = coerce_features(X, self.kinds)
        for col, kind in self.kinds.items():
            s = X[col]
            self.has_missing[col] = bool(s.isna().any())
            if kind == "categorical":
                counts = s.dropna().value_counts()
                counts = counts[counts >= self.min_count]
                # Ties broken by value so the vocabulary does not depend on row order.
                top = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
                self.vocab[col] = [str(v) for v, _ in top[: self.max_categories]]
            else:
                v = s.to_numpy(dtype=float)
                v = v[~np.isnan(v)]
                if v.size == 0:
                    v = np.zeros(1)
                lo, hi = np.percentile(v, [1, 99])
                self.clips[col] = (float(lo), float(hi))
                med = float(np.median(v))
                self.medians[col] = med
                c = np.clip(v, lo, hi)
                sd = float(c.std())
                self.scales[col] = (float(c.mean()), sd if sd > 0 else 1.0)
        names: list[str] = []
        owner: list[str] = []
        for col, kind in self.kinds.items():
            if kind == "numeric":
                names.append(col)
                owner.append(col)
                if self.has_missing[col]:
                    names.append(f"{col} is missing")
                    owner.append(col)
            else:
                for v in [*self.vocab[col], OTHER, MISSING]:
                    names.append(f"{col} = {v}")
                    owner.append(col)
        self.design_names, self.design_owner = names, owner
        self.design_mean = None
        self.design_mean = np.asarray(self.design(X).mean(axis=0)).ravel()
        return self

    def codes(self, col: str, values: pd.Series | np.ndarray) -> np.ndarray:
        """Integer codes of one categorical column: vocabulary index, ``len(vocab)`` for any
        other value, -1 for missing."""
        vocab = self.vocab[col]
        s = pd.Series(values, dtype=object)
        out = pd.Index(vocab, dtype=object).get_indexer(s).astype(np.int32)
        other = (out < 0) & s.notna().to_numpy()
        out[other] = len(vocab)
        return np.asarray(out)

    def ordinal(self, X: pd.DataFrame) -> np.ndarray:
        """The matrix for tree models: raw numbers, category codes (missing = NaN)."""
        X = coerce_features(X, self.kinds)
        out = np.empty((len(X), len(self.kinds)), dtype=np.float64)
        for j, (col, kind) in enumerate(self.kinds.items()):
            if kind == "numeric":
                out[:, j] = X[col].to_numpy(dtype=float)
            else:
                c = self.codes(col, X[col].to_numpy()).astype(np.float64)
                c[c < 0] = np.nan
                out[:, j] = c
        return out

    def design(self, X: pd.DataFrame) -> sp.csr_matrix:
        """The sparse matrix for the logistic model (see the module docstring)."""
        X = coerce_features(X, self.kinds)
        n = len(X)
        blocks: list[sp.spmatrix] = []
        for col, kind in self.kinds.items():
            if kind == "numeric":
                v = X[col].to_numpy(dtype=float)
                miss = np.isnan(v)
                lo, hi = self.clips[col]
                mean, sd = self.scales[col]
                z = (np.clip(np.where(miss, self.medians[col], v), lo, hi) - mean) / sd
                cols = [z]
                if self.has_missing[col]:
                    cols.append(miss.astype(float))
                blocks.append(sp.csr_matrix(np.column_stack(cols)))
            else:
                codes = self.codes(col, X[col].to_numpy())
                width = len(self.vocab[col]) + 2
                codes = np.where(codes < 0, width - 1, codes)
                blocks.append(
                    sp.csr_matrix(
                        (np.ones(n), (np.arange(n), codes)),
                        shape=(n, width),
                    )
                )
        if not blocks:
            return sp.csr_matrix((n, 0))
        return sp.hstack(blocks, format="csr")

    def reference_row(self) -> dict[str, object]:
        """A "typical lead": the median of each number, the most frequent value of each
        category (missing when a column has no frequent value)."""
        ref: dict[str, object] = {}
        for col, kind in self.kinds.items():
            if kind == "numeric":
                ref[col] = self.medians[col]
            else:
                ref[col] = self.vocab[col][0] if self.vocab[col] else None
        return ref
