"""Predictive lead scoring: learn conversion from closed leads, score open ones.

The library is a set of small modules, one concept each:

- :mod:`~leadgate.predictive.dataset` — read CSVs robustly, type columns, binary target;
- :mod:`~leadgate.predictive.leakage` — flag post-outcome ("leaky") columns, with reasons;
- :mod:`~leadgate.predictive.features` — encode frames for trees and for the linear model;
- :mod:`~leadgate.predictive.models` — calibrated gradient boosting, regularised logistic;
- :mod:`~leadgate.predictive.naive_bayes` — the Odoo-style naive Bayes baseline;
- :mod:`~leadgate.predictive.validation` — time-ordered or stratified evaluation splits;
- :mod:`~leadgate.predictive.metrics` — ROC/PR AUC, lift, Brier, calibration, gains, charts;
- :mod:`~leadgate.predictive.card` — the model card and its "no signal" verdict;
- :mod:`~leadgate.predictive.train` — training end to end (``train_dataset``, ``train_csv``);
- :mod:`~leadgate.predictive.score` — scoring frames and CSVs;
- :mod:`~leadgate.predictive.explain` — top factors behind one prediction;
- :mod:`~leadgate.predictive.persist` — versioned model artifacts on disk.
"""

from __future__ import annotations

from leadgate.predictive.card import NO_SIGNAL, ModelCard
from leadgate.predictive.dataset import Dataset, DatasetError, load_csv, load_frame, read_csv
from leadgate.predictive.explain import Explanation, explain
from leadgate.predictive.leakage import LeakageReport, detect_leakage
from leadgate.predictive.persist import (
    ModelNotFound,
    latest_model_id,
    list_models,
    load_card,
    load_model,
    models_dir,
    save_model,
)
from leadgate.predictive.score import score_csv, score_frame
from leadgate.predictive.train import LeadModel, TrainResult, train_csv, train_dataset

__all__ = [
    "NO_SIGNAL",
    "Dataset",
    "DatasetError",
    "Explanation",
    "LeadModel",
    "LeakageReport",
    "ModelCard",
    "ModelNotFound",
    "TrainResult",
    "detect_leakage",
    "explain",
    "latest_model_id",
    "list_models",
    "load_card",
    "load_csv",
    "load_frame",
    "load_model",
    "models_dir",
    "read_csv",
    "save_model",
    "score_csv",
    "score_frame",
    "train_csv",
    "train_dataset",
]
