"""The predictive library on small synthetic data: baseline, leaks, models, metrics, cards."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadgate.predictive import (
    NO_SIGNAL,
    DatasetError,
    ModelNotFound,
    detect_leakage,
    explain,
    latest_model_id,
    list_models,
    load_frame,
    load_model,
    read_csv,
    save_model,
    score_frame,
    train_dataset,
)
from leadgate.predictive import metrics as mx
from leadgate.predictive.dataset import binary_target
from leadgate.predictive.models import GBMModel, LogisticModel
from leadgate.predictive.naive_bayes import OdooNaiveBayes
from leadgate.predictive.validation import plan, time_split

from ._synth import leads


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return leads(600, seed=1)


@pytest.fixture(scope="module")
def trained(frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    ds = load_frame(frame, "converted", id_column="lead_id")
    return train_dataset(ds, seed=3)


# -- the Odoo baseline, against hand-computed numbers -----------------------------------


def _nb_example() -> tuple[pd.DataFrame, np.ndarray]:
    #      color  src  outcome
    # 1    red    a    won
    # 2    red    b    won
    # 3    blue   a    won
    # 4    blue   a    lost
    # 5    green  b    lost
    # 6    (empty) b   lost
    X = pd.DataFrame(
        {
            "color": ["red", "red", "blue", "blue", "green", None],
            "src": ["a", "b", "a", "a", "b", "b"],
        }
    )
    return X, np.array([1, 1, 1, 0, 0, 0])


def test_naive_bayes_matches_the_hand_computed_example() -> None:
    X, y = _nb_example()
    kinds = {"color": "categorical", "src": "categorical"}
    nb = OdooNaiveBayes(kinds, empty="skip").fit(X, y)  # type: ignore[arg-type]
    # Every row starts at 0.1: red (2.1, 0.1), blue (1.1, 1.1), green (0.1, 1.1);
    # the empty color is skipped, so the color sums are won 3.3, lost 2.3.
    # src: a (2.1, 1.1), b (1.1, 2.1), sums 3.2 / 3.2. Prior row (3.1, 3.1) -> 0.5 / 0.5.
    assert nb.table[""]["color"] == {
        "blue": pytest.approx([1.1, 1.1]),
        "green": pytest.approx([0.1, 1.1]),
        "red": pytest.approx([2.1, 0.1]),
    }
    assert nb.priors[""] == pytest.approx([3.1, 3.1])
    new = pd.DataFrame(
        {
            "color": ["red", "red", "purple", None, "green"],
            "src": [None, "a", None, None, "b"],
        }
    )
    pct = nb.predict_percent(new)
    s_won = 0.5 * (2.1 / 3.3)
    s_lost = 0.5 * (0.1 / 2.3)
    assert pct[0] == round(100 * s_won / (s_won + s_lost), 2) == 93.60
    s_won, s_lost = 0.5 * (2.1 / 3.3) * (2.1 / 3.2), 0.5 * (0.1 / 2.3) * (1.1 / 3.2)
    assert pct[1] == round(100 * s_won / (s_won + s_lost), 2) == 96.54
    assert pct[2] == 50.0  # unseen value contributes nothing
    assert pct[3] == 50.0  # empty is skipped
    s_won, s_lost = 0.5 * (0.1 / 3.3) * (1.1 / 3.2), 0.5 * (1.1 / 2.3) * (2.1 / 3.2)
    assert pct[4] == round(100 * s_won / (s_won + s_lost), 2)


def test_naive_bayes_empty_as_a_value() -> None:
    X, y = _nb_example()
    kinds = {"color": "categorical", "src": "categorical"}
    nb = OdooNaiveBayes(kinds, empty="value").fit(X, y)  # type: ignore[arg-type]
    pct = nb.predict_percent(pd.DataFrame({"color": ["red", None], "src": [None, None]}))
    # color sums now include (empty) (0.1, 1.1): won 3.4, lost 3.4.
    assert pct[0] == round(100 * 2.1 / (2.1 + 0.1), 2) == 95.45
    assert pct[1] == round(100 * 0.1 / (0.1 + 1.1), 2) == 8.33
    assert "empty as a value" in nb.variant


def test_naive_bayes_bins_numbers_and_clamps() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = (x + rng.normal(scale=0.3, size=400) > 0).astype(int)
    nb = OdooNaiveBayes({"x": "numeric"}, bins=5).fit(pd.DataFrame({"x": x}), y)
    assert nb.edges["x"] is not None and len(nb.edges["x"]) == 4
    assert set(nb.table[""]["x"]) == {"q1", "q2", "q3", "q4", "q5"}
    pct = nb.predict_percent(pd.DataFrame({"x": [-3.0, 3.0]}))
    assert 0.01 <= pct[0] < 10 and 90 < pct[1] <= 99.99


def test_naive_bayes_teams_fall_back_to_pooled() -> None:
    X = pd.DataFrame({"team": ["t1", "t1", "t2", "t2"], "src": ["a", "b", "a", "b"]})
    y = np.array([1, 0, 0, 1])
    kinds = {"team": "categorical", "src": "categorical"}
    nb = OdooNaiveBayes(kinds, team_column="team").fit(X, y)  # type: ignore[arg-type]
    pct = nb.predict_percent(pd.DataFrame({"team": ["t1", "t2", "t9"], "src": ["a"] * 3}))
    assert pct[0] > 50 > pct[1]
    assert pct[2] == 50.0  # pooled: a is won once and lost once


# -- data loading ---------------------------------------------------------------------


def test_read_csv_sniffs_delimiter_encoding_gzip_and_placeholders(tmp_path: Path) -> None:
    text = "id;city;score\n1;Köln;3\n2;Select;\n3; Paris ;5\n"
    (tmp_path / "a.csv").write_bytes(text.encode("cp1252"))
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(text.encode("utf-8")))
    for name in ("a.csv", "b.csv.gz"):
        df = read_csv(tmp_path / name)
        assert list(df.columns) == ["id", "city", "score"]
        assert df["city"].tolist()[0] == "Köln"
        assert pd.isna(df["city"].iloc[1]) and df["city"].iloc[2] == "Paris"
    with pytest.raises(DatasetError, match="not found"):
        read_csv(tmp_path / "missing.csv")


def test_binary_target_labels() -> None:
    y, pos = binary_target(pd.Series(["Won", "Lost", "Won"], name="stage"))
    assert pos == "Won" and y.tolist() == [1, 0, 1]
    y, pos = binary_target(pd.Series([0, 1, 1], name="c"))
    assert pos == "1" and y.tolist() == [0, 1, 1]
    with pytest.raises(DatasetError, match="not binary"):
        binary_target(pd.Series(["a", "b", "c"], name="t"))


def test_load_frame_types_and_drops(frame: pd.DataFrame) -> None:
    f = frame.assign(const="x", serial=range(len(frame)))
    ds = load_frame(f, "converted", id_column="lead_id", time_column="created")
    assert ds.kinds == {
        "source": "categorical",
        "country": "categorical",
        "visits": "numeric",
        "time_on_site": "numeric",
    }
    assert ds.dropped == {"const": "constant", "serial": "unique per row (id-like)"}
    assert ds.positive_label == "yes"
    with pytest.raises(DatasetError, match="unknown target"):
        load_frame(frame, "nope")


# -- leaks ----------------------------------------------------------------------------


def test_leakage_flags_a_planted_column_and_suspicious_names(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    y = (frame["converted"] == "yes").to_numpy()
    f = frame.assign(
        follow_up_code=np.where(y ^ (rng.random(len(y)) < 0.01), "K7", "Z1"),
        **{"Lead Quality": rng.choice(["High", "Low"], len(y))},
    )
    ds = load_frame(f, "converted", id_column="lead_id")
    report = detect_leakage(ds.X, ds.y, ds.kinds)
    assert set(report.excluded) == {"follow_up_code", "Lead Quality"}
    assert "almost perfectly" in report.flags["follow_up_code"][0]
    assert report.aucs["follow_up_code"] >= 0.95
    assert "judgement" in report.flags["Lead Quality"][0]
    assert report.aucs["source"] < 0.95
    kept = detect_leakage(ds.X, ds.y, ds.kinds, include=["Lead Quality"])
    assert kept.excluded == ["follow_up_code"]
    # Training drops the leaky column and says why.
    card = train_dataset(ds, seed=0, compare=False).card
    assert "follow_up_code" in card.excluded_leaky and "follow_up_code" not in card.features


# -- models, determinism, calibration ---------------------------------------------------


def test_same_seed_same_numbers(frame: pd.DataFrame, trained) -> None:  # type: ignore[no-untyped-def]
    again = train_dataset(load_frame(frame, "converted", id_column="lead_id"), seed=3)
    assert again.card.metrics == trained.card.metrics
    assert again.card.baselines == trained.card.baselines
    np.testing.assert_array_equal(
        again.model.predict_proba(frame), trained.model.predict_proba(frame)
    )


def test_models_give_probabilities_and_find_the_signal(trained) -> None:  # type: ignore[no-untyped-def]
    card = trained.card
    assert card.verdict == "usable"
    assert card.metrics["roc_auc"] > 0.7
    for name, p in trained.scores.items():
        assert np.all((p >= 0) & (p <= 1)), name
    best_nb = max(b["roc_auc"] for b in card.baselines.values())
    assert card.metrics["roc_auc"] >= best_nb - 0.02
    assert sum(r["n"] for r in card.calibration) == card.rows


@pytest.mark.parametrize("cls", [GBMModel, LogisticModel])
def test_each_model_in_unit_interval(frame: pd.DataFrame, cls) -> None:  # type: ignore[no-untyped-def]
    ds = load_frame(frame, "converted", id_column="lead_id")
    m = cls(ds.kinds, seed=0).fit(ds.X, ds.y)
    p = m.predict_proba(ds.X)
    assert p.shape == (len(frame),) and np.all((p >= 0) & (p <= 1))
    # Unknown categories and missing columns still score.
    odd = pd.DataFrame({"source": ["tv"], "visits": [None]})
    assert 0 <= m.predict_proba(odd)[0] <= 1


@pytest.mark.parametrize("rows", [3000, 60_000])
def test_isotonic_calibration_keeps_the_boosters_ranking(rows: int) -> None:
    """Isotonic calibration is a step function: left alone it gives thousands of leads the
    same probability (a few dozen distinct values on the bank data) and the ties cost ROC
    AUC (0.8007 -> 0.7997 there). Calibration must not change the ranking: the calibrated
    GBM orders leads exactly as its booster does, and stays calibrated (within 1e-6)."""
    from sklearn.metrics import roc_auc_score

    ds = load_frame(leads(rows, seed=3), "converted", id_column="lead_id")
    m = GBMModel(ds.kinds, seed=0, calibration="isotonic").fit(ds.X, ds.y)
    p = m.predict_proba(ds.X)
    M = m.encoder.ordinal(ds.X)
    step = m.estimator.predict_proba(M)[:, 1]  # the isotonic steps alone
    raw = m.booster_scores(M)
    assert len(np.unique(step)) < len(np.unique(raw)) / 3  # the steps do tie leads
    assert len(np.unique(p)) == len(np.unique(raw))
    assert roc_auc_score(ds.y, p) == pytest.approx(roc_auc_score(ds.y, raw), abs=1e-12)
    assert np.max(np.abs(p - step)) <= 1e-6 and np.all((p >= 0) & (p <= 1))


def test_no_signal_on_pure_noise() -> None:
    ds = load_frame(leads(600, seed=5, signal=False), "converted", id_column="lead_id")
    card = train_dataset(ds, kind="gbm", seed=0, compare=False).card
    assert card.verdict == NO_SIGNAL
    assert "do not use" in card.statement.lower()
    assert card.auc_ci[0] <= 0.5 or card.metrics["roc_auc"] < 0.55


def test_time_column_gives_a_time_split(frame: pd.DataFrame) -> None:
    ds = load_frame(frame, "converted", id_column="lead_id", time_column="created")
    p = plan(ds.y, time=ds.time)
    assert p.kind == "time"
    s = p.splits[0]
    assert ds.time.iloc[s.train].max() <= ds.time.iloc[s.test].min()
    s2 = time_split(None, 10, 0.3)
    assert s2.test.tolist() == [7, 8, 9]


# -- metrics --------------------------------------------------------------------------


def test_metrics_on_a_known_ranking(tmp_path: Path) -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.linspace(1, 0, 10)
    m = mx.evaluate(y, p)
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0
    assert m["lift_10"] == pytest.approx(5.0) and m["conversion_20"] == 1.0
    g = mx.gains_table(y, p, groups=5)
    assert g["cum_share_converted"].tolist()[0] == 1.0
    rng = np.random.default_rng(0)
    yy = rng.random(2000) < 0.3
    pp = np.clip(yy * 0.2 + rng.random(2000), 0, 1)
    lo, hi = mx.bootstrap_auc_ci(yy, pp, seed=1)
    assert lo < mx.roc_auc(yy, pp) < hi
    t = mx.calibration_table(yy, pp, bins=10)
    assert len(t) == 10 and t["n"].sum() == 2000
    for fn in (mx.plot_calibration, mx.plot_gains):
        out = fn({"model": (yy, pp)}, tmp_path / f"{fn.__name__}.png")
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_auc_difference_ci_is_paired() -> None:
    """Two scores of the same rows are compared on the same resamples: the difference of
    two close models is far tighter than either AUC's own interval (what tells a miss of
    0.005 between two models from noise), and a score against itself differs by exactly 0."""
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.2).astype(int)
    base = y * 0.5 + rng.random(3000)
    a = base + rng.normal(0, 0.05, 3000)
    b = base + rng.normal(0, 0.05, 3000)
    assert mx.bootstrap_auc_difference_ci(y, a, a, seed=1) == (0.0, 0.0)
    lo, hi = mx.bootstrap_auc_difference_ci(y, a, b, seed=1)
    d = mx.roc_auc(y, a) - mx.roc_auc(y, b)
    assert lo < d < hi
    alo, ahi = mx.bootstrap_auc_ci(y, a, seed=1)
    assert hi - lo < (ahi - alo) / 3
    # Independent noise (no shared signal): the difference is as wide as the AUCs' own.
    z = rng.random(3000)
    lo, hi = mx.bootstrap_auc_difference_ci(y, z, rng.random(3000), seed=1)
    assert hi - lo > (ahi - alo)


# -- explain, persist, score ----------------------------------------------------------


def test_explain_logistic_contributions_add_up(frame: pd.DataFrame) -> None:
    ds = load_frame(frame, "converted", id_column="lead_id")
    res = train_dataset(ds, kind="logistic", seed=0, compare=False)
    row = frame.iloc[[0]]
    (e,) = explain(res.model, row, top=10)
    logit = np.log(e.probability / (1 - e.probability))
    base = np.log(e.baseline / (1 - e.baseline))
    total = sum(f.effect for f in e.up + e.down)
    assert e.unit == "log-odds" and total == pytest.approx(logit - base, abs=1e-6)


def test_explain_gbm_is_fast_and_signed(trained, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    exps = explain(trained.model, frame.iloc[:50], top=3)
    assert len(exps) == 50
    referral = next(e for e, s in zip(exps, frame["source"][:50], strict=True) if s == "referral")
    assert any(f.feature == "source" for f in referral.up)
    assert all(f.effect > 0 for f in referral.up) and all(f.effect < 0 for f in referral.down)
    assert set(exps[0].to_dict()) == {"probability", "baseline", "unit", "up", "down"}


def test_save_load_latest_and_env(trained, frame, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LEADGATE_MODELS", str(tmp_path / "env"))
    first = save_model(trained.model)
    assert (tmp_path / "env" / first / "card.json").is_file()
    assert first.startswith("m-") and latest_model_id() == first
    loaded = load_model()
    np.testing.assert_array_equal(loaded.predict_proba(frame), trained.model.predict_proba(frame))
    assert [c.model_id for c in list_models()] == [first]
    with pytest.raises(ModelNotFound):
        load_model("m-20000101T000000Z-deadbeef")
    with pytest.raises(ModelNotFound):
        latest_model_id(tmp_path / "empty")


def test_score_frame_ids_or_rows(trained, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    out = score_frame(trained.model, frame.drop(columns=["converted"]))
    assert list(out.columns) == ["lead_id", "predicted"]
    out = score_frame(trained.model, frame.drop(columns=["lead_id"]).iloc[:5])
    assert out["row"].tolist() == [1, 2, 3, 4, 5]


def test_target_encoding_is_cross_fitted_for_the_training_rows() -> None:
    from sklearn.metrics import roc_auc_score

    from leadgate.predictive.features import FeatureEncoder

    rng = np.random.default_rng(5)
    n = 3000
    # 1,500 pages seen twice each, outcome pure noise: an in-sample encoding would "learn"
    # every page's outcome; the cross-fitted one must not.
    X = pd.DataFrame({"page": [f"p{i // 2}" for i in rng.permutation(n)], "x": rng.normal(size=n)})
    y = rng.integers(0, 2, n)
    enc = FeatureEncoder({"page": "categorical", "x": "numeric"}, seed=0)
    M = enc.fit_ordinal(X, y)
    assert list(enc.encoded) == ["page"] and M.shape == (n, 3)
    assert abs(roc_auc_score(y, M[:, 2]) - 0.5) < 0.05
    assert not enc.categorical_mask[2]
    # New rows use the encoding learnt on every training row; unseen pages get the prior.
    new = enc.ordinal(pd.DataFrame({"page": ["never-seen"], "x": [0.0]}))
    assert new[0, 2] == pytest.approx(y.mean(), abs=0.02)
    D = enc.fit_design(X, y)
    assert D.shape[1] == len(enc.design_names) and enc.design_names[-1] == "page (target encoded)"
