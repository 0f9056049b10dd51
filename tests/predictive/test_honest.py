"""Predictive scoring honest on future leads (issue 18).

The three reported failures, small and fast: the card whose "auto" row, choice and verdict
disagreed; auto picking a model on random folds that loses on the future rows of
time-ordered data; auto below a default HistGradientBoosting on X Education. Plus the
pieces that fix them: rolling-origin folds, the choice rule, the verdict, the drift report.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from leadgate.predictive import metrics as mx
from leadgate.predictive import public_data as pub
from leadgate.predictive.card import NO_SIGNAL, UNSTABLE, USABLE, ModelCard, verdict
from leadgate.predictive.dataset import Dataset, DatasetError, load_frame
from leadgate.predictive.defaults import default_scores
from leadgate.predictive.drift import drift_report
from leadgate.predictive.select import choose, fold_aucs, rule_for
from leadgate.predictive.train import TrainResult, train_dataset
from leadgate.predictive.validation import fold_labels, plan, rolling_origin, stratified_holdout

from ._synth import leads

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parents[2]


def _root(name: str) -> Path:
    path = Path(os.environ.get("LEADGATE_DATASETS") or REPO.parent / "shared" / "datasets")
    if not (path / name).is_dir():
        if IN_CI:
            pytest.fail(f"CI=true but data set {name} is missing under {path}")
        pytest.skip(f"data set {name} not found under {path} (set LEADGATE_DATASETS)")
    return path


def _rows(ds: Dataset, ix: np.ndarray) -> Dataset:
    time = None if ds.time is None else ds.time.iloc[ix].reset_index(drop=True)
    return dataclasses.replace(ds, X=ds.X.iloc[ix].reset_index(drop=True), y=ds.y[ix], time=time)


def assert_card_agrees_with_itself(res: TrainResult) -> None:
    """The chosen model's table row is its own out-of-sample result, the final model is that
    model, and the verdict follows from those numbers."""
    card = res.card
    chosen = card.params["chosen"]
    assert chosen == card.choice["chosen"]
    final = res.model.estimator
    assert (final.chosen.kind if card.kind == "auto" else final.kind) == chosen
    np.testing.assert_array_equal(res.scores[card.kind], res.scores[chosen])
    own = res.evaluate(res.scores[chosen])
    if res.plan.kind == "time":  # per period, averaged: the fold AUCs the choice used
        assert own["roc_auc"] == pytest.approx(
            np.mean(fold_aucs(res.y, res.scores[chosen], res.folds))
        )
    else:
        assert own == mx.evaluate(res.y, res.scores[chosen])
    assert card.metrics == own
    if card.kind == "auto":
        assert card.params["alternatives"][chosen] == own
    folds = fold_labels(res.plan, res.rows, seed=card.seed)
    recomputed = [round(a, 4) for a in fold_aucs(res.y, res.scores[chosen], folds)]
    assert card.choice["fold_auc"][chosen] == recomputed
    fold_info = [
        {"auc": a, **r}
        for a, r in zip(card.choice["fold_auc"][chosen], card.choice["fold_rows"], strict=True)
    ]
    assert verdict(card.metrics["roc_auc"], card.auc_ci, fold_info)[0] == card.verdict
    # and the card read back from JSON says the same
    again = ModelCard.from_dict(card.to_dict())
    assert again.choice["chosen"] == chosen and again.verdict == card.verdict


# -- the three reported failures ----------------------------------------------------------


def test_bank_time_ordered_card_does_not_contradict_itself() -> None:
    """Reported: 'leadgate auto (logistic)' carried the GBM's numbers and a verdict about
    the GBM. Every 8th row of the bank data (time order kept), latest quarter held out."""
    ds = pub.uci_bank(_root("uci_bank_marketing")).dataset
    ix = np.arange(0, ds.n_rows, 8)
    train = _rows(ds, ix[: int(len(ix) * 0.75)])
    res = train_dataset(train, seed=0, time_ordered_rows=True, compare=False)
    assert res.plan.kind == "time" and len(res.plan.splits) >= 3
    assert_card_agrees_with_itself(res)
    # The macro-economic indices are named as drifting, with their cost.
    assert {"euribor3m", "nr.employed"} <= set(res.card.drift["flagged"])
    assert res.card.drift["auc_lost_without_flagged"]["auc_without"] is not None


def test_time_ordered_rows_without_the_flag_are_not_evaluated_on_random_folds() -> None:
    """Reported: without --rows-in-time-order auto picked the GBM on random folds and scored
    the future rows at 0.62, below a plain logistic regression (0.75). Every 4th bank row:
    train on the earliest 75%, score the latest 25%."""
    ds = pub.uci_bank(_root("uci_bank_marketing")).dataset
    ix = np.arange(0, ds.n_rows, 4)
    cut = int(len(ix) * 0.75)
    train, future = _rows(ds, ix[:cut]), _rows(ds, ix[cut:])
    res = train_dataset(train, seed=0, compare=False)  # no flag, no time column
    assert res.plan.kind == "time", res.card.validation
    assert "taken to be in time order" in res.card.validation
    ours = roc_auc_score(future.y, res.model.predict_proba(future.X))
    ref = default_scores(train.X, train.y, future.X, res.model.kinds)
    best = max(roc_auc_score(future.y, p) for p in ref.values())
    assert ours >= best - 0.002, (ours, best, res.card.params["chosen"])


def test_x_education_random_split_not_below_default_models() -> None:
    """Reported: on a random split of X Education (leaky columns removed) auto landed at
    the logistic model's level, 0.006 below a default HistGradientBoosting. Not reproduced
    here: on this split (and seeds 1, 2) the previous auto chose the GBM and passed too
    (0.867 vs 0.866), so this test guards the target rather than reproducing the miss."""
    ds = pub.x_education(_root("x_education_leads")).dataset
    s = stratified_holdout(ds.y, 0.25, seed=0)
    train, test = _rows(ds, s.train), _rows(ds, s.test)
    res = train_dataset(train, seed=0, compare=False)
    assert res.plan.kind == "stratified_kfold"
    assert "may be optimistic" in res.card.statement
    assert_card_agrees_with_itself(res)
    ours = roc_auc_score(test.y, res.model.predict_proba(test.X))
    ref = default_scores(train.X, train.y, test.X, res.model.kinds)
    best = max(roc_auc_score(test.y, p) for p in ref.values())
    assert ours >= best - 0.002, (ours, best, res.card.params["chosen"])


# -- the pieces ---------------------------------------------------------------------------


def test_rolling_origin_trains_on_the_past_and_tests_on_the_next_slice() -> None:
    folds = rolling_origin(None, 100, folds=4, first_train=0.4)
    assert [len(f.test) for f in folds] == [15, 15, 15, 15]
    for f in folds:
        assert f.train.max() < f.test.min() and len(f.train) == f.test.min()
    shuffled_time = pd.Series(np.random.default_rng(1).permutation(100))
    for f in rolling_origin(shuffled_time, 100):
        assert shuffled_time.iloc[f.train].max() < shuffled_time.iloc[f.test].min()


def test_choice_takes_the_simplest_within_the_noise() -> None:
    # GBM is better on average, but by less than the fold-to-fold noise: logistic.
    chosen, best, noise, gap = choose(
        {"logistic": [0.70, 0.74, 0.69, 0.75], "gbm": [0.72, 0.73, 0.72, 0.74]}
    )
    assert (chosen, best) == ("logistic", "gbm") and gap["logistic"] <= noise
    # The blend is better on every fold by a steady margin: that is not noise.
    chosen, best, _, _ = choose(
        {"logistic": [0.70, 0.71, 0.69, 0.72], "gbm": [0.73, 0.74, 0.72, 0.75], "blend": [0.735, 0.745, 0.725, 0.755]}
    )  # fmt: skip
    assert chosen == best == "blend"
    # GBM within the noise of the blend, logistic steadily below: GBM, the simpler one.
    chosen, best, _, _ = choose(
        {"logistic": [0.70, 0.71, 0.69, 0.72], "gbm": [0.74, 0.73, 0.73, 0.75], "blend": [0.735, 0.745, 0.725, 0.755]}
    )  # fmt: skip
    assert (chosen, best) == ("gbm", "blend")
    chosen, *_ = choose({"logistic": [0.6, 0.6], "gbm": [0.7, 0.7]})
    assert chosen == "gbm"


def test_exchangeable_folds_take_the_best_not_the_simplest() -> None:
    """coil2000, random split seed 0: on the 5 stratified folds of the training rows the
    blend beat the logistic model by 0.003 on average, "within the noise" (0.011), so
    the simplest-within-the-noise rule kept the logistic model: test ROC AUC 0.749 where
    the blend scored 0.769 and a default HistGradientBoosting 0.756. The same on seeds 1
    and 2. Without time order nothing favours the simpler model: take the best."""
    coil_seed0 = {
        "logistic": [0.7600, 0.7313, 0.7529, 0.7500, 0.7429],
        "gbm": [0.7112, 0.7361, 0.6973, 0.7248, 0.7581],
        "blend": [0.7552, 0.7446, 0.7336, 0.7526, 0.7664],
    }
    assert choose(coil_seed0, "best")[:2] == ("blend", "blend")
    # Folds that are periods in time keep the simplest within the noise (drift).
    assert choose(coil_seed0, "simplest")[:2] == ("logistic", "blend")
    with pytest.raises(ValueError):
        choose(coil_seed0, "newest")
    assert rule_for("stratified_kfold", coil_seed0) == "best"
    assert rule_for("stratified_holdout", coil_seed0) == "best"
    assert rule_for("time", coil_seed0) == "simplest"
    # No candidate above the "no signal" line (crm control, seed 1: 0.481, 0.490, 0.482):
    # the best of noise is noise, the simplest within the noise decides.
    crm = {"logistic": [0.47, 0.49, 0.48], "gbm": [0.50, 0.48, 0.49], "blend": [0.48, 0.49, 0.48]}
    assert rule_for("stratified_kfold", crm) == "simplest"


@pytest.mark.parametrize(("ordered", "rule"), [(False, "best"), (True, "simplest")])
def test_auto_states_the_rule_its_folds_call_for(ordered: bool, rule: str) -> None:
    from leadgate.predictive.models import make_model
    from leadgate.predictive.select import RULES

    ds = load_frame(leads(600, seed=2), "converted", id_column="lead_id")
    m = make_model("auto", ds.kinds, 0, time_ordered=ordered).fit(ds.X, ds.y)
    choice = m.params["choice"]
    assert choice["rule"] == RULES[rule]
    fa = choice["fold_auc"]
    best = max(fa, key=lambda k: float(np.mean(fa[k])))
    assert choice["best"] == best
    if rule == "best":
        assert m.params["chosen"] == best
    assert len(fa["logistic"]) == (4 if ordered else 5)


def test_verdict_follows_from_the_folds() -> None:
    n = {"positives": 200, "negatives": 1800}
    assert verdict(0.72, (0.69, 0.75), [{"auc": a, **n} for a in (0.7, 0.73, 0.74)])[0] == USABLE
    v, text = verdict(0.70, (0.67, 0.73), [{"auc": a, **n} for a in (0.72, 0.52, 0.75)])
    assert v == UNSTABLE and "0.520" in text
    # No signal overall, but one period clearly predictable on its own: unstable, not "no signal".
    assert verdict(0.51, (0.49, 0.53), [{"auc": a, **n} for a in (0.50, 0.46, 0.66)])[0] == UNSTABLE
    # A fold a little above 0.55 by chance (small fold) does not make noise "unstable".
    small = {"positives": 15, "negatives": 100}
    assert verdict(0.5, (0.45, 0.55), [{"auc": a, **small} for a in (0.48, 0.57)])[0] == NO_SIGNAL


def test_drift_report_names_moving_and_time_like_features() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    t = np.arange(n)
    X = pd.DataFrame(
        {
            "stable": rng.normal(size=n),
            "index": 100 - t / 50 + rng.normal(0, 0.1, n),  # a macro index falling over time
            "channel": np.where(t < n / 2, rng.choice(["a", "b"], n), rng.choice(["c", "b"], n)),
            "flip": rng.normal(size=n),
        }
    )
    # 'flip' predicts conversion one way in the old rows and the other way in the new ones.
    sign = np.where(t < n / 2, 1.0, -1.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-(sign * 1.5 * X["flip"].to_numpy())))).astype(int)
    kinds = {"stable": "numeric", "index": "numeric", "channel": "categorical", "flip": "numeric"}
    rep = drift_report(X, y, kinds, np.arange(n))  # type: ignore[arg-type]
    assert set(rep["flagged"]) == {"index", "channel", "flip"}
    assert any("time-like" in r for r in rep["features"]["index"]["reasons"])
    assert any("relation" in r for r in rep["features"]["flip"]["reasons"])
    assert any("PSI" in r for r in rep["features"]["channel"]["reasons"])
    assert rep["adversarial_auc"] > 0.9


def test_exclude_drifting_drops_the_flagged_features() -> None:
    frame = leads(900, seed=2)
    frame = frame.sort_values("created").reset_index(drop=True)
    # A running counter (every third lead shares a value, so it is not an id): time-like.
    frame["running_total"] = (np.arange(len(frame)) // 3) * 3.0
    ds = load_frame(frame, "converted", id_column="lead_id", time_column="created")
    res = train_dataset(ds, seed=0, compare=False)
    assert "running_total" in res.card.drift["flagged"]
    assert_card_agrees_with_itself(res)
    cleaned = train_dataset(ds, seed=0, compare=False, exclude_drifting=True)
    assert "running_total" in cleaned.card.excluded_drifting
    assert "running_total" not in cleaned.model.features
    cost = cleaned.card.drift["auc_lost_without_flagged"]
    assert cost["auc_without"] == round(cleaned.card.metrics["roc_auc"], 4)
    with pytest.raises(DatasetError, match="time order"):
        train_dataset(
            load_frame(leads(300, seed=1), "converted", id_column="lead_id"),
            exclude_drifting=True,
        )


def test_random_rows_keep_stratified_folds_and_say_so() -> None:
    ds = load_frame(leads(600, seed=4), "converted", id_column="lead_id")
    res = train_dataset(ds, seed=0, compare=False)
    assert plan(ds.y).kind == res.plan.kind == "stratified_kfold"
    assert "may be optimistic" in res.card.statement and not res.card.drift
    assert_card_agrees_with_itself(res)


# -- the blend's weight and the logistic model's C (the olist and bank misses) -------------


def _interaction_leads(n: int = 3000, seed: int = 0) -> Dataset:
    """Conversion driven mostly by an interaction (trees find it, a linear model cannot)
    plus a weaker linear term (both find it): the logistic model is informative but weaker
    and ranks differently from the GBM."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, n))
    logit = -1 + 2.5 * ((x1 > 0) ^ (x2 > 0)) + 1.2 * x3
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({"a": x1, "b": x2, "c": x3, "out": np.where(y, "yes", "no")})
    return load_frame(frame, "out")


def test_blend_weighs_its_parts_by_their_out_of_sample_scores() -> None:
    """Reported (bank, random split seed 1): the blend, an equal mean of the calibrated GBM
    and the weaker logistic model, scored 0.7992 where the GBM alone scored 0.8007 and a
    default HistGradientBoosting 0.8019: the equal weight doubled what the logistic model
    adds. Here the same shape: with equal weights the blend's fold AUC was 0.012 below the
    GBM's. The weight is now fitted (log-loss) on the folds' out-of-sample scores, each
    fold's blend weighted from the other folds only."""
    from leadgate.predictive.dataset import coerce_features
    from leadgate.predictive.select import blend_weight, compare
    from leadgate.predictive.validation import Plan, stratified_kfold

    ds = _interaction_leads()
    X = coerce_features(ds.X, ds.kinds)
    p = Plan("stratified_kfold", stratified_kfold(ds.y, 5, 0), "5 folds")
    cmp = compare(X, ds.y, ds.kinds, p, seed=0)
    mean = {k: float(np.mean(v)) for k, v in cmp.fold_auc.items()}
    assert mean["blend"] >= mean["gbm"] - 0.003, mean
    assert cmp.blend_weight < 0.5
    assert cmp.summary()["blend_weight"] == round(cmp.blend_weight, 2)
    # Cross-fitted: fold f's blend uses the weight fitted on the other folds' scores only.
    lr, gbm = cmp.scores["logistic"], cmp.scores["gbm"]
    for f in np.unique(cmp.folds):
        o = cmp.folds != f
        w = blend_weight(lr[o], gbm[o], cmp.y[o])
        m = cmp.folds == f
        np.testing.assert_allclose(cmp.scores["blend"][m], w * lr[m] + (1 - w) * gbm[m])
    assert cmp.blend_weight == blend_weight(lr, gbm, cmp.y)


def test_time_ordered_blend_weights_come_from_earlier_periods_only() -> None:
    from leadgate.predictive.dataset import coerce_features
    from leadgate.predictive.select import BLEND_PRIOR, blend_weight, compare
    from leadgate.predictive.validation import Plan

    ds = _interaction_leads(2000, seed=1)
    X = coerce_features(ds.X, ds.kinds)
    cmp = compare(X, ds.y, ds.kinds, Plan("time", rolling_origin(None, ds.n_rows), "t"))
    lr, gbm = cmp.scores["logistic"], cmp.scores["gbm"]
    for f in np.unique(cmp.folds):
        m = cmp.folds == f
        past = cmp.folds < f
        w = blend_weight(lr[past], gbm[past], cmp.y[past]) if past.any() else BLEND_PRIOR
        np.testing.assert_allclose(cmp.scores["blend"][m], w * lr[m] + (1 - w) * gbm[m])


def test_the_final_blend_uses_the_weight_of_the_folds() -> None:
    """The card's blend row and the saved blend are one model: the weight fitted on the
    evaluation folds is the weight the final blend scores with."""
    from leadgate.predictive.models import BlendModel

    ds = _interaction_leads(1500, seed=2)
    res = train_dataset(ds, kind="blend", seed=0, compare=False)
    final = res.model.estimator
    assert isinstance(final, BlendModel)
    assert final.weight == pytest.approx(res.card.choice["blend_weight"], abs=0.005)
    assert final.params["weight"] == final.weight
    parts = final.parts
    np.testing.assert_allclose(
        final.predict_proba(ds.X),
        final.weight * parts["logistic"].predict_proba(ds.X)
        + (1 - final.weight) * parts["gbm"].predict_proba(ds.X),
    )
    auto = train_dataset(ds, seed=0, compare=False)
    if auto.card.params["chosen"] == "blend":
        assert auto.model.estimator.chosen.weight == final.weight
    assert_card_agrees_with_itself(auto)


def test_logistic_c_search_is_not_coarser_than_half_a_decade() -> None:
    """Reported (olist, 3 of 6 splits below the default logistic regression): C was picked
    from 0.01, 0.1 and 1 by 3-fold log-loss, and the cross-validated log-loss on the
    training rows was lowest between grid points (at 0.3 on 5 of the 6 training sets) and
    almost flat from 0.1 to 1, so the pick flipped between 0.1 and 1 from split to split.
    The grid now steps by half a decade (LogisticRegressionCV's default: 0.9 of a decade)."""
    from leadgate.predictive.models import LogisticModel

    Cs = np.array(LogisticModel({}).Cs)
    assert Cs.min() <= 0.01 and Cs.max() >= 1.0
    assert np.all(np.diff(np.log10(Cs)) <= 0.501)  # 0.0316, 0.316: rounded
    ds = load_frame(leads(600, seed=3), "converted", id_column="lead_id")
    m = LogisticModel(ds.kinds, seed=0).fit(ds.X, ds.y)
    assert m.params["C"] in m.Cs


def test_a_simpler_candidate_closer_to_the_best_than_an_accepted_one_is_accepted() -> None:
    """olist, time split training on the earliest 60% (rolling-origin folds of its training
    rows): the blend was best; the GBM 0.0051 below it on average but so erratic from fold
    to fold (-0.010 to +0.024) that it counted as "within the noise", the logistic model
    only 0.0037 below but steadily so, just outside its own band (0.0036). The rule chose
    the GBM: test ROC AUC 0.653 where the logistic model scored 0.668 and a default
    logistic regression 0.670. A candidate closer to the best than one already accepted as
    indistinguishable from it is indistinguishable too."""
    olist_60 = {
        "logistic": [0.6437, 0.6538, 0.6063, 0.6228],
        "gbm": [0.6226, 0.6733, 0.6057, 0.6192],
        "blend": [0.6463, 0.6637, 0.6064, 0.6249],
    }
    chosen, best, noise, gap = choose(olist_60, "simplest")
    assert (chosen, best) == ("logistic", "blend")
    assert gap["logistic"] <= gap["gbm"] <= noise
    # A simpler candidate further from the best than every accepted one stays out.
    far = {**olist_60, "logistic": [a - 0.01 for a in olist_60["logistic"]]}
    assert choose(far, "simplest")[0] == "gbm"
