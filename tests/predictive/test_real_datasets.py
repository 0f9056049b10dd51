"""The real public data sets (../shared/datasets or $LEADGATE_DATASETS).

Skipped with a notice when the folder is absent (a fresh clone); under CI=true its absence
fails. Big sets are subsampled to keep the module fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from leadgate.predictive import NO_SIGNAL, detect_leakage, train_dataset
from leadgate.predictive import public_data as pub
from leadgate.predictive.dataset import load_frame, read_csv

pytestmark = pytest.mark.datasets

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def root() -> Path:
    path = Path(os.environ.get("LEADGATE_DATASETS") or REPO.parent / "shared" / "datasets")
    if not path.is_dir():
        if IN_CI:
            pytest.fail(f"CI=true but the real data sets are missing: {path}")
        pytest.skip(f"real data sets not found at {path} (set LEADGATE_DATASETS to run these)")
    return path


def _need(root: Path, name: str) -> None:
    if not (root / name).is_dir():
        if IN_CI:
            pytest.fail(f"CI=true but data set {name} is missing under {root}")
        pytest.skip(f"data set {name} not found under {root}")


def test_olist_beats_the_odoo_baseline_on_a_time_split(root: Path) -> None:
    _need(root, "olist_marketing_funnel")
    ps = pub.olist(root)
    assert ps.dataset.n_rows == 8000 and abs(ps.dataset.positive_rate - 0.105) < 0.001
    res = train_dataset(ps.dataset, seed=0)
    card = res.card
    assert res.plan.kind == "time"
    best_nb = max(b["roc_auc"] for b in card.baselines.values())
    assert card.metrics["roc_auc"] >= best_nb
    assert card.verdict == "usable"
    assert card.data_range["from"] == "2017-06-14"


def test_crm_control_says_no_signal_and_catches_outcome_columns(root: Path) -> None:
    _need(root, "crm_sales_opportunities")
    ps = pub.crm_opportunities(root)
    assert ps.dataset.n_rows == 6711
    card = train_dataset(ps.dataset, seed=0, compare=False).card
    assert card.verdict == NO_SIGNAL
    assert {"close_value", "close_date"} <= set(card.excluded_leaky)
    assert any("almost perfectly" in r for r in card.excluded_leaky["close_value"])


def test_x_education_leaky_columns_are_flagged(root: Path) -> None:
    _need(root, "x_education_leads")
    frame = read_csv(root / "x_education_leads" / "Leads.csv")
    ds = load_frame(frame, "Converted", id_column="Prospect ID")
    assert "Select" not in set(ds.X["Specialization"].dropna())
    report = detect_leakage(ds.X, ds.y, ds.kinds)
    assert {"Tags", "Lead Quality", "Last Activity", "Last Notable Activity"} <= set(
        report.excluded
    )
    assert report.aucs["Tags"] > 0.85
    assert "Total Time Spent on Website" not in report.flags


def test_bank_duration_is_flagged_and_the_gz_file_reads(root: Path) -> None:
    _need(root, "uci_bank_marketing")
    frame = read_csv(root / "uci_bank_marketing" / "bank-additional-full.csv.gz")
    assert frame.shape == (41188, 21)
    sample = frame.iloc[np.linspace(0, len(frame) - 1, 8000).astype(int)]
    ds = load_frame(sample, "y")
    report = detect_leakage(ds.X, ds.y, ds.kinds)
    assert "duration" in report.excluded
    assert "poutcome" not in report.flags  # the previous campaign's outcome is known up front


def test_coil_reads_and_a_logistic_model_finds_signal(root: Path) -> None:
    _need(root, "coil2000_caravan")
    ps = pub.coil2000(root)
    assert ps.dataset.n_rows == 5822 and len(ps.dataset.kinds) == 85
    from leadgate.predictive.metrics import roc_auc
    from leadgate.predictive.models import LogisticModel
    from leadgate.predictive.validation import stratified_holdout

    ds = ps.dataset
    s = stratified_holdout(ds.y, 0.3, seed=0)
    m = LogisticModel(ds.kinds, C=0.1).fit(ds.X.iloc[s.train], ds.y[s.train])
    assert roc_auc(ds.y[s.test], m.predict_proba(ds.X.iloc[s.test])) > 0.65
