"""Why a lead got its score: the top factors pushing one prediction up and down.

- Logistic model: each feature's contribution is ``coefficient x (value - training mean)``
  summed over its design columns, in log-odds; together they add up exactly to the lead's
  log-odds minus the average lead's.
- Any other model (gradient boosting, naive Bayes): each feature in turn is replaced by the
  value of a typical lead (median number, most frequent category) and the change in the
  predicted probability is the feature's effect. One batched prediction of
  ``rows x (features + 1)`` rows, so it stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadgate.predictive.dataset import coerce_features


@dataclass
class Factor:
    """One feature's push on a prediction."""

    feature: str
    value: Any
    effect: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        v = self.value
        if isinstance(v, float) and v != v:
            v = None
        elif hasattr(v, "item"):
            v = v.item()
        return {"feature": self.feature, "value": v, "effect": round(float(self.effect), 6)}


@dataclass
class Explanation:
    """The factors behind one prediction. ``unit`` is ``"log-odds"`` (logistic) or
    ``"probability"`` (replacement effects)."""

    probability: float
    baseline: float
    unit: str
    up: list[Factor] = field(default_factory=list)
    down: list[Factor] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "probability": round(self.probability, 6),
            "baseline": round(self.baseline, 6),
            "unit": self.unit,
            "up": [f.to_dict() for f in self.up],
            "down": [f.to_dict() for f in self.down],
        }


def _frame(rows: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True)
    return pd.DataFrame([dict(rows)])


def _split(
    names: list[str], values: list[Any], effects: np.ndarray, top: int
) -> tuple[list[Factor], list[Factor]]:
    order = np.argsort(-effects, kind="stable")
    up = [Factor(names[i], values[i], float(effects[i])) for i in order if effects[i] > 0][:top]
    order = np.argsort(effects, kind="stable")
    down = [Factor(names[i], values[i], float(effects[i])) for i in order if effects[i] < 0][:top]
    return up, down


def contributions(model: Any, rows: pd.DataFrame | Mapping[str, Any]) -> tuple[np.ndarray, str]:
    """A ``rows x features`` matrix of effects (see the module docstring) and its unit."""
    frame = coerce_features(_frame(rows), model.kinds)
    est = model.estimator
    if est.kind == "logistic":
        enc = est.encoder
        D = enc.design(frame)
        centred = D.toarray() - enc.design_mean
        per_col = centred * est.coefficients
        owners = np.array(enc.design_owner)
        out = np.column_stack([per_col[:, owners == f].sum(axis=1) for f in model.kinds])
        return out, "log-odds"
    n, feats = len(frame), list(model.kinds)
    ref = est.encoder.reference_row() if getattr(est, "encoder", None) else _reference(frame)
    copies = [frame]
    for f in feats:
        c = frame.copy()
        c[f] = pd.Series([ref.get(f)] * n, dtype=object if model.kinds[f] != "numeric" else float)
        copies.append(c)
    p = np.asarray(est.predict_proba(pd.concat(copies, ignore_index=True)))
    base = p[:n]
    out = np.column_stack([base - p[(j + 1) * n : (j + 2) * n] for j in range(len(feats))])
    return out, "probability"


def _reference(frame: pd.DataFrame) -> dict[str, Any]:
    ref: dict[str, Any] = {}
    for c in frame.columns:
        s = frame[c].dropna()
        if s.empty:
            ref[c] = None
        elif pd.api.types.is_numeric_dtype(s):
            ref[c] = float(s.median())
        else:
            ref[c] = s.mode().iloc[0]
    return ref


def explain(model: Any, rows: pd.DataFrame | Mapping[str, Any], top: int = 5) -> list[Explanation]:
    """Top ``top`` factors pushing each row's prediction up and down (``model``: a
    ``LeadModel``; ``rows``: a frame or one row as a mapping)."""
    frame = coerce_features(_frame(rows), model.kinds)
    effects, unit = contributions(model, frame)
    probs = model.predict_proba(frame)
    feats = list(model.kinds)
    baseline = _baseline(model)
    out = []
    for i in range(len(frame)):
        values = [frame.iloc[i][f] for f in feats]
        up, down = _split(feats, values, effects[i], top)
        out.append(Explanation(float(probs[i]), baseline, unit, up, down))
    return out


def _baseline(model: Any) -> float:
    """The predicted probability of the typical lead (logistic: of the mean design row)."""
    est = model.estimator
    if est.kind == "logistic":
        z = float(est.estimator.intercept_[0] + est.coefficients @ est.encoder.design_mean)
        return float(1 / (1 + np.exp(-z)))
    ref = est.encoder.reference_row() if getattr(est, "encoder", None) else {}
    return float(model.predict_proba(pd.DataFrame([ref]))[0]) if ref else float("nan")
