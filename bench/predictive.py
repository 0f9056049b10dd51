"""Predictive scoring benchmark: leadgate models vs the Odoo naive Bayes baseline.

    .venv/bin/python bench/predictive.py [--datasets DIR] [--seed 0] [--charts docs/predictive]
                                         [--skip-timing] [--json results.json]
    .venv/bin/python bench/predictive.py --vs-defaults [--seeds 0,1,2] [--cuts 0.6,0.75,0.9]
                                         [--only uci_bank_marketing,...]

``--vs-defaults`` (issue 18's target, see bench/_predictive_splits.py): leadgate auto vs
the best of a default LogisticRegression and a default HistGradientBoosting, trained on
the same rows, on several random and time-ordered splits per data set; one row per split.

For each public data set (../shared/datasets or $LEADGATE_DATASETS): leaky columns are
excluded (detector + the data set's documented post-outcome columns), then leadgate's
models (auto = GBM or logistic picked on an inner validation slice; calibrated GBM;
logistic) and the Odoo naive Bayes (empty skipped / empty as a value) are trained on the
same rows and scored on the same held-out rows: a random stratified 25% split, and a
time-ordered split (train on the earliest 75%, test on the latest 25%) where the data has
time. Then: training time on 100,000 rows and scoring time on 1,000,000 rows (resampled
from the bank data), the store path (`train` / `predict` on a seeded demo store of
--store-leads leads), and a same-seed repeat check. Charts (calibration, gains) per data set.
"""

from __future__ import annotations

import os

# Before scikit-learn loads its OpenMP runtime (see leadgate/predictive/__init__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import sklearn

from leadgate.predictive import metrics as mx
from leadgate.predictive import public_data as pub
from leadgate.predictive.dataset import coerce_features
from leadgate.predictive.leakage import detect_leakage
from leadgate.predictive.models import make_model
from leadgate.predictive.naive_bayes import OdooNaiveBayes
from leadgate.predictive.score import score_frame
from leadgate.predictive.train import train_dataset
from leadgate.predictive.validation import Split, stratified_holdout, time_split

REPO = Path(__file__).resolve().parent.parent
MODELS = ("auto", "gbm", "logistic", "odoo_nb_skip", "odoo_nb_value")
LABELS = {
    "auto": "leadgate auto",
    "gbm": "leadgate GBM (calibrated)",
    "logistic": "leadgate logistic",
    "odoo_nb_skip": "Odoo NB, empty skipped",
    "odoo_nb_value": "Odoo NB, empty as value",
}


def machine() -> str:
    """CPU model, nproc, Python, scikit-learn."""
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}; nproc {os.cpu_count()}; Python {platform.python_version()}; "
        f"scikit-learn {sklearn.__version__}; pandas {pd.__version__}; numpy {np.__version__}"
    )


def fit_predict(
    name: str, kinds: dict[str, Any], X: pd.DataFrame, y: np.ndarray, s: Split, seed: int,
    ordered: bool,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """Train one model on the split's train rows (in the split's order) and score its test
    rows; returns (scores, seconds)."""
    if name.startswith("odoo_nb"):
        model: Any = OdooNaiveBayes(kinds, empty="skip" if name.endswith("skip") else "value")
    else:
        model = make_model(name, kinds, seed, time_ordered=ordered)  # type: ignore[arg-type]
    t = time.perf_counter()
    model.fit(X.iloc[s.train].reset_index(drop=True), y[s.train])
    p = model.predict_proba(X.iloc[s.test].reset_index(drop=True))
    return np.asarray(p), time.perf_counter() - t


def bench_dataset(ps: pub.PublicSet, seed: int, include_leaky: bool = False) -> dict[str, Any]:
    """Every model on every applicable split of one data set."""
    ds = ps.dataset
    leak = detect_leakage(ds.X, ds.y, ds.kinds, seed=seed)
    kinds = dict(ds.kinds) if include_leaky else {
        c: k for c, k in ds.kinds.items() if c not in leak.excluded
    }  # fmt: skip
    X = coerce_features(ds.X, kinds)
    splits: dict[str, Split] = {"random": stratified_holdout(ds.y, 0.25, seed)}
    if ds.time is not None or ps.time_ordered_rows:
        splits["time"] = time_split(ds.time, ds.n_rows, 0.25)
    out: dict[str, Any] = {
        "name": ps.name + (" (leaky columns kept)" if include_leaky else ""),
        "info": pub.describe(ps),
        "excluded": {c: leak.flags[c] for c in leak.excluded} if not include_leaky else {},
        "dropped": ds.dropped,
        "features": len(kinds),
        "splits": {},
    }
    models = ("auto",) if include_leaky else MODELS
    for split_name, s in splits.items():
        y_test = ds.y[s.test]
        res: dict[str, Any] = {"n_train": len(s.train), "n_test": len(s.test), "models": {}}
        scores = {}
        for name in models:
            p, secs = fit_predict(name, kinds, X, ds.y, s, seed, split_name == "time")
            scores[name] = p
            m = mx.evaluate(y_test, p)
            m["seconds"] = secs
            res["models"][name] = m
        res["auc_ci_auto"] = mx.bootstrap_auc_ci(y_test, scores["auto"], seed=seed)
        res["y"], res["scores"] = y_test, scores
        out["splits"][split_name] = res
    return out


def charts(result: dict[str, Any], directory: Path) -> list[Path]:
    """Calibration and gains PNGs for the time split (else the random split)."""
    split = "time" if "time" in result["splits"] else "random"
    r = result["splits"][split]
    curves = {LABELS[k]: (r["y"], p) for k, p in r["scores"].items() if k != "odoo_nb_value"}
    name = result["info"]["name"]
    title = f"{name} ({split} split, {r['n_test']:,} test rows)"
    return [
        mx.plot_calibration(curves, directory / f"{name}-calibration.png", f"Calibration: {title}"),
        mx.plot_gains(curves, directory / f"{name}-gains.png", f"Gains: {title}"),
    ]


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def timing(root: Path, seed: int) -> dict[str, Any]:
    """Train on 100k rows and score 1M rows resampled from the bank data (the full `train`
    path: leak check, evaluation with the other model and both baselines, final fit)."""
    bank = pub.uci_bank(root).dataset
    rng = np.random.default_rng(seed)
    kinds = dict(bank.kinds)
    rows = rng.integers(0, bank.n_rows, 100_000)
    X100 = bank.X.iloc[rows].reset_index(drop=True)
    y100 = bank.y[rows]
    out: dict[str, Any] = {"load_before": _load()}
    t = time.perf_counter()
    gbm = make_model("gbm", kinds, seed).fit(X100, y100)
    out["fit_gbm_100k"] = time.perf_counter() - t
    t = time.perf_counter()
    res = train_dataset(bank.subset(rows), seed=seed, compare=True)
    out["train_auto_100k_with_evaluation"] = time.perf_counter() - t
    out["chosen_100k"] = res.card.params.get("chosen")
    big = bank.X.iloc[rng.integers(0, bank.n_rows, 1_000_000)].reset_index(drop=True)
    t = time.perf_counter()
    scored = score_frame(res.model, big)
    out["score_1m_auto"] = time.perf_counter() - t
    t = time.perf_counter()
    p = gbm.predict_proba(big)
    out["score_1m_gbm"] = time.perf_counter() - t
    out["gbm_iterations"] = gbm.params.get("iterations")
    assert len(scored) == len(p) == 1_000_000
    out["load_after"] = _load()
    return out


def store_timing(n_leads: int, seed: int, charts_dir: Path | None = None) -> dict[str, Any]:
    """The store path on a seeded demo store of ``n_leads`` leads (20 events each, SQLite
    in a temp dir): `leadgate train` (rows as of the cut-off, evaluation, playbook
    baseline, saved in the store) and `leadgate predict` (score every lead, write back)."""
    import tempfile

    from leadgate.cli.demo import load_demo
    from leadgate.engine.engine import Engine
    from leadgate.predictive.store_score import predict_store, train_store
    from leadgate.store.database import Database

    out: dict[str, Any] = {"leads": n_leads, "load_before": _load()}
    with tempfile.TemporaryDirectory() as d:
        db = Database(f"sqlite:///{d}/bench.db")
        db.migrate()
        engine = Engine(db)
        engine.ensure_playbook()
        t = time.perf_counter()
        load_demo(engine, n_leads=n_leads, n_events=20 * n_leads, seed=seed + 42)
        out["load_demo"] = time.perf_counter() - t
        t = time.perf_counter()
        res = train_store(engine, seed=seed)
        out["train_store"] = time.perf_counter() - t
        card = res.result.card
        out["rows"] = card.rows
        out["positive_rate"] = card.positive_rate
        out["auc"] = card.metrics["roc_auc"]
        out["playbook_auc"] = card.baselines["playbook"]["roc_auc"]
        out["nb_auc"] = max(v["roc_auc"] for k, v in card.baselines.items() if k.startswith("odoo"))
        out["chosen"] = card.params.get("chosen")
        out["verdict"] = card.verdict
        if charts_dir is not None:
            r = res.result
            probs = {
                f"leadgate {card.kind}": (r.y, r.scores[card.kind]),
                "Odoo NB, empty skipped": (r.y, r.scores["odoo_nb_skip_empty"]),
            }
            title = f"demo store ({n_leads:,} leads; time split, {len(r.y):,} test leads)"
            mx.plot_calibration(
                probs, charts_dir / "demo_store-calibration.png", f"Calibration: {title}"
            )
            ranks = {**probs, "playbook score at cut-off": (r.y, r.scores["playbook"])}
            mx.plot_gains(ranks, charts_dir / "demo_store-gains.png", f"Gains: {title}")
        from leadgate.predictive.store_models import load_model

        model = load_model(db, res.model_id)
        t = time.perf_counter()
        info = predict_store(engine, model)
        out["predict_store"] = time.perf_counter() - t
        out["predict_score_only"] = info["score_seconds"]
        db.dispose()
    out["load_after"] = _load()
    return out


def repeat_check(ps: pub.PublicSet, seed: int) -> bool:
    """Train twice with the same seed: identical cards and predictions?"""
    a = train_dataset(ps.dataset, seed=seed)
    b = train_dataset(ps.dataset, seed=seed)
    same_cards = a.card.metrics == b.card.metrics and a.card.baselines == b.card.baselines
    pa = a.model.predict_proba(ps.dataset.X)
    pb = b.model.predict_proba(ps.dataset.X)
    return bool(same_cards and np.array_equal(pa, pb))


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown results table."""
    head = (
        "| data set | split | train / test rows | model | ROC AUC | PR AUC | lift@10% | Brier "
        "| fit+score s |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in results:
        for split, s in r["splits"].items():
            best_nb = max(
                (m["roc_auc"] for k, m in s["models"].items() if k.startswith("odoo")),
                default=float("nan"),
            )
            for k, m in s["models"].items():
                mark = ""
                if k in ("auto", "gbm", "logistic") and best_nb == best_nb:
                    mark = " ✓" if m["roc_auc"] >= best_nb else " ✗"
                lines.append(
                    f"| {r['name']} | {split} | {s['n_train']:,} / {s['n_test']:,} | {LABELS[k]} "
                    f"| {m['roc_auc']:.3f}{mark} | {m['pr_auc']:.3f} | {m['lift_10']:.2f} "
                    f"| {m['brier']:.4f} | {m['seconds']:.1f} |"
                )
    return "\n".join(lines)


def vs_defaults_main(sets: dict[str, pub.PublicSet], args: argparse.Namespace) -> None:
    """``--vs-defaults``: every data set, every split, ours vs the best default."""
    from _predictive_splits import table as splits_table
    from _predictive_splits import vs_defaults

    seeds = tuple(int(s) for s in args.seeds.split(","))
    cuts = tuple(float(c) for c in args.cuts.split(","))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"leadgate auto vs sklearn defaults; started {started}; load {_load()}", flush=True)
    rows = []
    for ps in sets.values():
        rows += vs_defaults(ps, seeds, cuts, args.seed)
    print(f"\nload average at the end {_load()}\n")
    print(splits_table(rows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_bytes(
            orjson.dumps({"machine": machine(), "started": started, "rows": rows},
                         option=orjson.OPT_INDENT_2)
        )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=None, help="data sets folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--charts", default=str(REPO / "docs" / "predictive"))
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument(
        "--timing-only", action="store_true", help="only the timing steps (re-measure when idle)"
    )
    ap.add_argument(
        "--store-leads",
        type=int,
        default=100_000,
        help="demo store size for the store timing (0: skip)",
    )
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    ap.add_argument(
        "--vs-defaults",
        action="store_true",
        help="only: leadgate auto vs default LogisticRegression / HistGradientBoosting on "
        "several random and time-ordered splits per data set (see bench/_predictive_splits.py)",
    )
    ap.add_argument("--seeds", default="0,1,2", help="random splits for --vs-defaults")
    ap.add_argument("--cuts", default="0.6,0.75,0.9", help="time cut points for --vs-defaults")
    ap.add_argument("--only", default=None, help="comma-separated data set names")
    args = ap.parse_args()
    Path(args.charts).mkdir(parents=True, exist_ok=True)
    root = pub.datasets_root(args.datasets)
    if root is None:
        sys.exit("data sets not found: pass --datasets DIR or set LEADGATE_DATASETS")
    print(f"predictive scoring benchmark | {machine()}")
    print(f"data sets: {root}; seed {args.seed}\n")
    sets = pub.load_all(root)
    if args.only:
        sets = {k: v for k, v in sets.items() if k in args.only.split(",")}
    if args.vs_defaults:
        vs_defaults_main(sets, args)
        return
    results = []
    if args.timing_only:
        sets = {k: v for k, v in sets.items() if k == "uci_bank_marketing"}
    for name, ps in sets.items() if not args.timing_only else ():
        t = time.perf_counter()
        r = bench_dataset(ps, args.seed)
        i = r["info"]
        print(
            f"{name}: {i['rows']:,} rows, {100 * i['positive_rate']:.1f}% positive, "
            f"{r['features']} features ({i['numeric']} numeric / {i['categorical']} categorical "
            f"before exclusions), time: {i['time'] or 'none'}; "
            f"excluded as leaky: {', '.join(r['excluded']) or 'none'}; "
            f"{time.perf_counter() - t:.1f} s"
        )
        for split, s in r["splits"].items():
            lo, hi = s["auc_ci_auto"]
            print(f"  {split}: leadgate auto AUC 95% CI {lo:.3f}-{hi:.3f}")
        results.append(r)
        charts(r, Path(args.charts))
    if "x_education_leads" in sets and not args.timing_only:
        leaky = pub.x_education(root, post_contact=True)
        results.append(bench_dataset(leaky, args.seed, include_leaky=True))
    if results:
        print()
        print(table(results))
    extra: dict[str, Any] = {}
    if "olist_marketing_funnel" in sets:
        extra["same_seed_same_numbers"] = repeat_check(sets["olist_marketing_funnel"], args.seed)
        print(
            f"\nsame seed -> same numbers (olist, full train twice): {extra['same_seed_same_numbers']}"
        )
    if not args.skip_timing and "uci_bank_marketing" in sets:
        extra["timing"] = timing(root, args.seed)
        tm = extra["timing"]
        print(
            f"\ntiming (bank rows resampled; load average {tm['load_before']} before, "
            f"{tm['load_after']} after): GBM fit on 100,000 rows {tm['fit_gbm_100k']:.1f} s "
            f"({tm['gbm_iterations']} iterations); full `train` path (auto, leak check, "
            f"evaluation with the other model and both baselines, final fit) on 100,000 rows "
            f"{tm['train_auto_100k_with_evaluation']:.1f} s (chose {tm['chosen_100k']}); "
            f"scoring 1,000,000 rows: auto model {tm['score_1m_auto']:.1f} s, "
            f"GBM {tm['score_1m_gbm']:.1f} s"
        )
    if not args.skip_timing and args.store_leads:
        extra["store_timing"] = st = store_timing(args.store_leads, args.seed, Path(args.charts))
        print(
            f"\nstore path (demo store, {st['leads']:,} leads, {20 * st['leads']:,} events, "
            f"SQLite; load average {st['load_before']} before, {st['load_after']} after): "
            f"loading {st['load_demo']:.1f} s; `leadgate train` {st['train_store']:.1f} s on "
            f"{st['rows']:,} rows with a known outcome ({100 * st['positive_rate']:.1f}% "
            f"converted; chose {st['chosen']}: AUC {st['auc']:.3f}, best Odoo NB "
            f"{st['nb_auc']:.3f}, playbook {st['playbook_auc']:.3f}; {st['verdict']}); "
            f"`leadgate predict` {st['predict_store']:.1f} s (scoring "
            f"{st['predict_score_only']:.1f} s, the rest writing `predicted` through the engine)"
        )
    if args.json:
        slim = [
            {**r, "splits": {k: {kk: vv for kk, vv in s.items() if kk not in ("y", "scores")}
                             for k, s in r["splits"].items()}}
            for r in results
        ]  # fmt: skip
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_bytes(
            orjson.dumps({"machine": machine(), "results": slim, **extra},
                         option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
        )  # fmt: skip


if __name__ == "__main__":
    main()
