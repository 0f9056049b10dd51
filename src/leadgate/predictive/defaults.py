"""Reference models a data scientist would try first: scikit-learn defaults.

The benchmark (and the tests that reproduce reported failures) hold leadgate's model to
"at least as good as the best of a default ``LogisticRegression`` and a default
``HistGradientBoostingClassifier`` trained on the same rows". Only the plumbing a default
needs is added: missing values imputed, numbers standardised and categories one-hot
encoded for the logistic model; categories as ordinal codes (rare ones grouped to fit
the booster's 255 bins) with native categorical splits for the booster.

Example::

    p = default_scores(X_train, y_train, X_test, kinds)   # {"default_logistic": ..., ...}
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from leadgate.predictive.dataset import ColumnKind, coerce_features


def _split(kinds: dict[str, ColumnKind]) -> tuple[list[str], list[str]]:
    num = [c for c, k in kinds.items() if k == "numeric"]
    return num, [c for c in kinds if c not in num]


def _cats_as_text(X: pd.DataFrame, cat: list[str]) -> pd.DataFrame:
    X = X.copy()
    for c in cat:
        X[c] = X[c].astype(object).where(X[c].notna(), "__missing__").astype(str)
    return X


def default_logistic(kinds: dict[str, ColumnKind], seed: int = 0) -> object:
    """``LogisticRegression()`` (``max_iter`` raised so it converges) behind imputation,
    scaling and one-hot encoding."""
    num, cat = _split(kinds)
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
            ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
        ]
    )
    return make_pipeline(pre, LogisticRegression(max_iter=1000, random_state=seed))


def default_hgb(kinds: dict[str, ColumnKind], seed: int = 0) -> object:
    """``HistGradientBoostingClassifier()`` with categories as native categorical codes."""
    num, cat = _split(kinds)
    pre = ColumnTransformer(
        [
            ("num", "passthrough", num),
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=250,
                ),
                cat,
            ),
        ]
    )
    mask = [False] * len(num) + [True] * len(cat)
    hgb = HistGradientBoostingClassifier(
        categorical_features=mask if cat else None, random_state=seed
    )
    return make_pipeline(pre, hgb)


def default_scores(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    kinds: dict[str, ColumnKind],
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Both default models fitted on the training rows, their probabilities on the test rows."""
    _, cat = _split(kinds)
    Xtr = _cats_as_text(coerce_features(X_train, kinds), cat)
    Xte = _cats_as_text(coerce_features(X_test, kinds), cat)
    out = {}
    with threadpool_limits(limits=1):
        for name, make in (("default_logistic", default_logistic), ("default_hgb", default_hgb)):
            m = make(kinds, seed)
            m.fit(Xtr, np.asarray(y_train, dtype=int))  # type: ignore[attr-defined]
            proba: Any = m.predict_proba(Xte)  # type: ignore[attr-defined]
            out[name] = np.asarray(proba[:, 1], dtype=float)
    return out
