"""Predictive lead scoring: learn conversion from closed leads, score open ones.

The library is a set of small modules, one concept each:

- :mod:`~leadgate.predictive.dataset` — read CSVs robustly, type columns, binary target;
- :mod:`~leadgate.predictive.leakage` — flag post-outcome ("leaky") columns, with reasons;
- :mod:`~leadgate.predictive.features` — encode frames for trees and for the linear model;
- :mod:`~leadgate.predictive.models` — calibrated gradient boosting, regularised logistic,
  their blend, and ``auto``;
- :mod:`~leadgate.predictive.naive_bayes` — the Odoo-style naive Bayes baseline;
- :mod:`~leadgate.predictive.validation` — rolling-origin or stratified evaluation splits;
- :mod:`~leadgate.predictive.select` — candidates on the same folds, the simplest within
  the noise of the best (time-ordered folds) or the best (exchangeable folds);
- :mod:`~leadgate.predictive.drift` — features that move over time, time-like features;
- :mod:`~leadgate.predictive.defaults` — scikit-learn default models (benchmark reference);
- :mod:`~leadgate.predictive.metrics` — ROC/PR AUC, lift, Brier, calibration, gains, charts;
- :mod:`~leadgate.predictive.card` — the model card and its verdict (usable, unstable,
  no signal);
- :mod:`~leadgate.predictive.train` — training end to end (``train_dataset``, ``train_csv``);
- :mod:`~leadgate.predictive.score` — scoring frames and CSVs;
- :mod:`~leadgate.predictive.explain` — top factors behind one prediction;
- :mod:`~leadgate.predictive.persist` — versioned model artifacts on disk;
- :mod:`~leadgate.predictive.store_data` — training rows from the store, as of a cut-off;
- :mod:`~leadgate.predictive.store_models` — versioned models (and cards) in the store;
- :mod:`~leadgate.predictive.store_score` — batch scoring of the stored leads;
- :mod:`~leadgate.predictive.suggest` — integer playbook points from a sparse logistic model;
- :mod:`~leadgate.predictive.hooks` — ``predicted`` and its factors in ``lead show``.

Nothing heavy is imported with the package (``leadgate lead show`` imports the hook on
every call): the names below load their module on first use.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import Any

# OpenMP threads that spin while waiting (libgomp's default) starve each other when another
# process holds a core: a 100k-row GBM fit took 48 s instead of 7 s on the 2-core machine
# under load (bench/predictive.py). Read once, when scikit-learn's OpenMP runtime loads,
# so it is set here, before any predictive module imports scikit-learn; an explicit
# setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_WHERE = {
    "NO_SIGNAL": "card",
    "UNSTABLE": "card",
    "USABLE": "card",
    "ModelCard": "card",
    "Dataset": "dataset",
    "DatasetError": "dataset",
    "load_csv": "dataset",
    "load_frame": "dataset",
    "read_csv": "dataset",
    "Explanation": "explain",
    "explain": "explain",
    "drift_report": "drift",
    "LeakageReport": "leakage",
    "detect_leakage": "leakage",
    "ModelNotFound": "persist",
    "latest_model_id": "persist",
    "list_models": "persist",
    "load_card": "persist",
    "load_model": "persist",
    "models_dir": "persist",
    "save_model": "persist",
    "score_csv": "score",
    "score_frame": "score",
    "LeadModel": "train",
    "TrainResult": "train",
    "train_csv": "train",
    "train_dataset": "train",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"leadgate.predictive.{module}"), name)


class _Package(types.ModuleType):
    """``explain`` names a submodule and its function: importing the submodule must not
    replace the function on the package (the submodule stays in ``sys.modules``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "explain" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = sorted(_WHERE)
