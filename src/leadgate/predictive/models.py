"""The leadgate models: calibrated gradient boosting, a regularised logistic model, their
blend, and ``auto`` (on time-ordered rows the simplest of the three within the noise of
the best, otherwise the best; see :mod:`leadgate.predictive.select`).

All take a typed feature frame (see :mod:`leadgate.predictive.dataset`), learn their own
:class:`~leadgate.predictive.features.FeatureEncoder` and return the probability of the
positive outcome with ``predict_proba``. All are deterministic for a given seed::

    m = make_model("auto", kinds, seed=0, time_ordered=True).fit(X, y)
    m.params["chosen"], m.predict_proba(X_new)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from leadgate.predictive.dataset import ColumnKind
from leadgate.predictive.features import FeatureEncoder

PARALLEL_ROWS = 50_000
#: From this many rows the GBM calibrates on a hold-out instead of cross-validation.
HOLDOUT_CALIBRATION_ROWS = 50_000

#: Weight of the booster's own score in an isotonically calibrated probability (ties).
TIE_BREAK = 1e-6

ModelKind = Literal["auto", "gbm", "logistic", "blend", "naive_bayes"]


class Scorer(Protocol):
    """Anything that scores a feature frame: a probability (0-1) per row."""

    kind: str

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Scorer: ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


def _threads(n_rows: int) -> threadpool_limits:
    """One OpenMP thread below 50k rows: faster there, and spinning OpenMP threads slow
    down 10x when another process holds a core (seen on 2-core machines). One BLAS thread."""
    omp = 1 if n_rows < PARALLEL_ROWS else (os.cpu_count() or 1)
    # BLAS only serves the small sigmoid/L-BFGS fits here: one thread is 5x faster.
    return threadpool_limits(limits={"openmp": omp, "blas": 1})


def _calibration_method(y: np.ndarray, folds: int) -> Literal["isotonic", "sigmoid"]:
    """Isotonic needs many positives per fold to beat Platt scaling; sigmoid otherwise."""
    minority = int(min(y.sum(), len(y) - y.sum()))
    return "isotonic" if minority / folds >= 1000 else "sigmoid"


@dataclass
class GBMModel:
    """HistGradientBoostingClassifier with native categorical splits, calibrated by
    cross-validation (``CalibratedClassifierCV`` without ensembling: the calibrator is fitted
    on the boosters' out-of-fold scores, and one booster refitted on all rows is kept).

    The booster uses scikit-learn's default tree shape with L2 regularisation and early
    stopping on an inner validation slice (15% of each fold), because lead tables are small
    and noisy; the settings were fixed before looking at the benchmark test slices.
    """

    kinds: dict[str, ColumnKind]
    seed: int = 0
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    calibration_folds: int = 3
    learning_rate: float = 0.1
    max_iter: int = 300
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 1.0
    kind: str = "gbm"
    encoder: FeatureEncoder | None = None
    estimator: Any = None
    method_used: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def _booster(self, n: int) -> HistGradientBoostingClassifier:
        assert self.encoder is not None
        mask = self.encoder.categorical_mask
        return HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=min(self.min_samples_leaf, max(5, n // 50)),
            l2_regularization=self.l2_regularization,
            categorical_features=mask if mask.any() else None,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=20,
            scoring="loss",
            random_state=self.seed,
        )

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> GBMModel:
        """Fit the encoder, the boosters and their calibration."""
        y = np.asarray(y, dtype=int)
        self.encoder = FeatureEncoder(self.kinds, seed=self.seed)
        M = self.encoder.fit_ordinal(X, y)
        folds = self.calibration_folds
        minority = int(min(y.sum(), len(y) - y.sum()))
        folds = max(2, min(folds, minority))
        method = _calibration_method(y, folds) if self.calibration == "auto" else self.calibration
        self.method_used = method
        if len(y) >= HOLDOUT_CALIBRATION_ROWS:
            return self._fit_holdout(M, y, method)
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        # ensemble=False: the calibrator is fitted on out-of-fold scores and one booster is
        # refitted on every row, so scoring runs one booster, not one per fold.
        self.estimator = CalibratedClassifierCV(
            self._booster(len(y)), method=method, cv=cv, ensemble=False
        )
        with _threads(len(y)):
            self.estimator.fit(M, y)
        self.params = {
            "calibration": method,
            "calibration_folds": folds,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "iterations": int(self.estimator.calibrated_classifiers_[0].estimator.n_iter_),
        }
        return self

    def _fit_holdout(self, M: np.ndarray, y: np.ndarray, method: str) -> GBMModel:
        """Large tables: one booster on a stratified 80%, the calibrator on the other 20%
        (one booster fit instead of folds + 1; 20% of 50k+ rows calibrates as well)."""
        from sklearn.frozen import FrozenEstimator

        from leadgate.predictive.validation import stratified_holdout

        s = stratified_holdout(y, 0.2, self.seed)
        booster = self._booster(len(s.train))
        with _threads(len(y)):
            booster.fit(M[s.train], y[s.train])
            self.estimator = CalibratedClassifierCV(
                FrozenEstimator(booster),
                method=method,
            ).fit(M[s.test], y[s.test])
        self.params = {
            "calibration": f"{method}, on a 20% hold-out",
            "calibration_folds": 0,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "iterations": int(booster.n_iter_),
        }
        return self

    def booster_scores(self, M: np.ndarray) -> np.ndarray:
        """The booster's own score (log-odds, before calibration) of an ordinal matrix."""
        booster = self.estimator.calibrated_classifiers_[0].estimator
        with _threads(len(M)):
            return np.asarray(booster.decision_function(M), dtype=float).ravel()

    def predict_matrix(self, M: np.ndarray) -> np.ndarray:
        """Probabilities from an already encoded ordinal matrix.

        Isotonic calibration is a step function: it gives every lead on one step the same
        probability, and those ties lose ranking (ROC AUC 0.8007 -> 0.7997 on the bank
        data, 57 distinct values for 10,000 leads). The steps are kept, and leads on one
        step are ordered by the booster's score with a weight of 1e-6: the ranking is the
        booster's, the probabilities move by at most 1e-6."""
        if self.method_used != "isotonic":
            with _threads(len(M)):
                return np.asarray(self.estimator.predict_proba(M)[:, 1], dtype=float)
        # One booster pass (scoring 1M leads runs it once): the isotonic steps applied to
        # the booster's score are what predict_proba would return.
        raw = self.booster_scores(M)
        step = np.clip(self.estimator.calibrated_classifiers_[0].calibrators[0].predict(raw), 0, 1)
        return np.asarray(step * (1 - TIE_BREAK) + TIE_BREAK / (1 + np.exp(-raw)), dtype=float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive outcome per row."""
        assert self.encoder is not None, "fit first"
        return self.predict_matrix(self.encoder.ordinal(X))


@dataclass
class LogisticModel:
    """L2-regularised logistic regression on the encoder's design matrix (clipped,
    imputed, standardised numbers with missing indicators; one-hot categories with rare
    values grouped). ``C`` is picked by inner stratified CV from ``Cs`` unless given.

    ``Cs`` runs from 0.01 to 1 in half-decade steps: with a decade between neighbours the
    cross-validated log-loss was lowest between grid points (near 0.3 on 5 of olist's 6
    benchmark training sets) and nearly flat from 0.1 to 1, so the pick flipped between
    0.1 and 1 from one training set to the next."""

    kinds: dict[str, ColumnKind]
    seed: int = 0
    C: float | None = None
    Cs: tuple[float, ...] = (0.01, 0.0316, 0.1, 0.316, 1.0)
    kind: str = "logistic"
    encoder: FeatureEncoder | None = None
    estimator: Any = None
    params: dict[str, Any] = field(default_factory=dict)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LogisticModel:
        """Fit the encoder, choose C (log-loss, 3 folds) and fit on all rows."""
        # L-BFGS on these small problems is 5x slower with multi-threaded BLAS.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y)

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> LogisticModel:
        from sklearn.metrics import log_loss

        y = np.asarray(y, dtype=int)
        self.encoder = FeatureEncoder(self.kinds, seed=self.seed)
        D = self.encoder.fit_design(X, y)
        C = self.C
        if C is None:
            minority = int(min(y.sum(), len(y) - y.sum()))
            folds = max(2, min(3, minority))
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
            splits = list(cv.split(np.zeros(len(y)), y))
            if len(y) >= HOLDOUT_CALIBRATION_ROWS:
                # 50k+ rows: one fold's hold-out picks C as well as three, at a third of the
                # cost (rolling-origin evaluation fits this model once per fold).
                splits = splits[:1]
            losses = []
            for c in self.Cs:
                loss = 0.0
                for tr, te in splits:
                    m = self._make(c).fit(D[tr], y[tr])
                    loss += log_loss(y[te], m.predict_proba(D[te])[:, 1], labels=[0, 1])
                losses.append(loss)
            C = self.Cs[int(np.argmin(losses))]
        self.estimator = self._make(C).fit(D, y)
        self.params = {"C": C}
        return self

    def _make(self, C: float) -> LogisticRegression:
        return LogisticRegression(C=C, max_iter=2000, random_state=self.seed)

    @property
    def coefficients(self) -> np.ndarray:
        """Coefficients, one per design column (see ``encoder.design_names``)."""
        return np.asarray(self.estimator.coef_[0], dtype=float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the positive outcome per row."""
        assert self.encoder is not None, "fit first"
        return np.asarray(self.estimator.predict_proba(self.encoder.design(X))[:, 1], dtype=float)


@dataclass
class BlendModel:
    """A weighted mean of the logistic model's and the calibrated GBM's probabilities
    (``weight`` is the logistic model's share): the trees' interactions with the linear
    model's extrapolation, for data where neither wins. The weight comes from the two
    models' out-of-sample scores (:func:`~leadgate.predictive.select.blend_weight`, set
    by ``auto`` and ``train_dataset`` from their folds); 0.5 when fitted on its own."""

    kinds: dict[str, ColumnKind]
    seed: int = 0
    weight: float = 0.5
    kind: str = "blend"
    parts: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def encoder(self) -> FeatureEncoder | None:
        """The GBM's encoder (its typical row serves the explanations)."""
        gbm = self.parts.get("gbm")
        return None if gbm is None else gbm.encoder

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> BlendModel:
        """Fit both models on the same rows."""
        self.parts = {
            "logistic": LogisticModel(self.kinds, seed=self.seed).fit(X, y),
            "gbm": GBMModel(self.kinds, seed=self.seed).fit(X, y),
        }
        self.params = {"weight": self.weight, **{k: m.params for k, m in self.parts.items()}}
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Weighted mean of the two calibrated probabilities."""
        assert self.parts, "fit first"
        w = self.weight
        both = w * self.parts["logistic"].predict_proba(X) + (1 - w) * self.parts[
            "gbm"
        ].predict_proba(X)
        return np.asarray(both, dtype=float)


@dataclass
class AutoModel:
    """Chooses among the logistic model, the calibrated GBM and their blend on folds of
    its training rows (:mod:`leadgate.predictive.select`: on time-ordered folds the
    simplest within the noise of the best, otherwise the best), then refits the choice on
    every row.

    The folds are rolling-origin when ``time_ordered`` (the caller passes rows in time
    order: drifting data often favours the linear model, which extrapolates), otherwise
    stratified K-fold. With ``pick`` set the choice is already made (``train_dataset``
    compares the candidates on its own evaluation folds) and only that model is fitted,
    a blend with ``blend_weight`` (from those folds).
    """

    kinds: dict[str, ColumnKind]
    seed: int = 0
    time_ordered: bool = False
    pick: str | None = None
    blend_weight: float = 0.5
    kind: str = "auto"
    chosen: Any = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def encoder(self) -> FeatureEncoder | None:
        """The chosen model's encoder."""
        return None if self.chosen is None else self.chosen.encoder

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> AutoModel:
        """Choose on inner folds (unless ``pick``), refit the choice on every row."""
        from leadgate.predictive.select import compare
        from leadgate.predictive.validation import Plan, rolling_origin, stratified_kfold

        y = np.asarray(y, dtype=int)
        pick, choice = self.pick, {}
        if pick is None:
            n = len(y)
            minority = int(min(y.sum(), n - y.sum()))
            if minority < 10:
                pick = "logistic"
            else:
                inner = (
                    Plan("time", rolling_origin(None, n), "rolling origin")
                    if self.time_ordered
                    else Plan(
                        "stratified_kfold",
                        stratified_kfold(y, 5 if n <= 20_000 else 3, self.seed),
                        "stratified K-fold",
                    )
                )
                cmp = compare(X, y, self.kinds, inner, seed=self.seed)
                pick, choice = cmp.chosen, cmp.summary()
                self.blend_weight = cmp.blend_weight
        chosen = make_model(pick, self.kinds, self.seed)  # type: ignore[arg-type]
        if isinstance(chosen, BlendModel):
            chosen.weight = self.blend_weight
        self.chosen = chosen.fit(X, y)
        self.params = {"chosen": pick, **({"choice": choice} if choice else {})}
        self.params.update(self.chosen.params)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The chosen model's probabilities."""
        assert self.chosen is not None, "fit first"
        return np.asarray(self.chosen.predict_proba(X))


def make_model(
    kind: ModelKind, kinds: dict[str, ColumnKind], seed: int = 0, time_ordered: bool = False
) -> Any:
    """A fresh, unfitted model of the given kind (``time_ordered``: rows passed to ``fit``
    are in time order; used by ``auto``)."""
    if kind == "auto":
        return AutoModel(kinds, seed=seed, time_ordered=time_ordered)
    if kind == "gbm":
        return GBMModel(kinds, seed=seed)
    if kind == "logistic":
        return LogisticModel(kinds, seed=seed)
    if kind == "blend":
        return BlendModel(kinds, seed=seed)
    if kind == "naive_bayes":
        from leadgate.predictive.naive_bayes import OdooNaiveBayes

        return OdooNaiveBayes(kinds)
    raise ValueError(f"unknown model kind {kind!r} (auto, gbm, logistic, blend, naive_bayes)")
