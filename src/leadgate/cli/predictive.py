"""`leadgate train`, `leadgate predict`, `leadgate suggest-points`: predictive scoring.

With ``--csv`` the commands work on files (models in ``--models-dir``); without it they
work on the store (``--db``): training rows are the leads with a known outcome, features
as of each lead's cut-off, and the model is saved, versioned, in the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from leadgate.cli.errors import fail
from leadgate.cli.tables import make_console, table
from leadgate.cli.terminal import echo, safe_text

console = make_console()

CsvOpt = Annotated[
    Path | None,
    typer.Option(
        "--csv", help="CSV file (comma, semicolon, tab or pipe; .gz ok).", show_default=False
    ),
]
ModelsDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--models-dir",
        help="Where models are stored. Default: $LEADGATE_MODELS or ./.leadgate/models",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (without --csv). Default: $LEADGATE_DB or sqlite:///leadgate.db",
        show_default=False,
    ),
]
CutoffOpt = Annotated[
    str,
    typer.Option(
        "--cutoff",
        help="mql: features as of the lead's first MQL moment (leads never MQL: created + "
        "the median time to MQL); created: created + --window-days for every lead.",
    ),
]
WindowOpt = Annotated[
    float | None,
    typer.Option("--window-days", help="Observation window after creation (see --cutoff)."),
]
HorizonOpt = Annotated[
    float,
    typer.Option("--horizon-days", help="Converted = customer within this many days."),
]


def _num(v: Any, digits: int = 3) -> str:
    return "–" if v is None or v != v else f"{v:.{digits}f}"


def _dump(data: Any) -> None:
    echo(
        orjson.dumps(
            data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
        ).decode()
    )


def train_summary(result: Any, model_id: str, path: Path) -> dict[str, Any]:
    """The JSON document `leadgate train --json` prints."""
    card = result.card.to_dict()
    params = dict(card["params"])
    alternatives = params.pop("alternatives", {})
    return {
        "model_id": model_id,
        "path": str(path),
        "kind": card["kind"],
        "chosen": params.get("chosen", card["kind"]),
        "verdict": card["verdict"],
        "statement": card["statement"],
        "validation": card["validation"],
        "rows": card["rows"],
        "positive_rate": card["positive_rate"],
        "target": card["target"],
        "positive_label": card["positive_label"],
        "metrics": card["metrics"],
        "auc_ci": card["auc_ci"],
        "alternatives": alternatives,
        "baselines": card["baselines"],
        "features": card["features"],
        "excluded_leaky": card["excluded_leaky"],
        "included_leaky": card["included_leaky"],
        "dropped": card["dropped"],
        "params": params,
        "seconds": round(result.seconds, 2),
        "choice": card.get("choice", {}),
        "drift": card.get("drift", {}),
        "excluded_drifting": card.get("excluded_drifting", {}),
    }


def print_train(summary: dict[str, Any]) -> None:
    """Rich tables for `leadgate train`."""
    console.print(
        safe_text("model ", (str(summary["model_id"]), "bold"), f" saved in {summary['path']}")
    )
    chosen = summary["chosen"]
    console.print(
        f"{summary['rows']:,} rows, {100 * summary['positive_rate']:.1f}% "
        f"{summary['target']}={summary['positive_label']}; {summary['validation']}"
    )
    t = table("model", "ROC AUC", "PR AUC", "lift@10%", "conv@10%", "Brier", title="Out-of-sample")
    # The first row is the chosen model's own out-of-sample result (the same numbers as its
    # own row below): the verdict is about that model.
    rows = [(f"leadgate {summary['kind']} ({chosen})", summary["metrics"])]
    rows += [(f"leadgate {k}", m) for k, m in summary["alternatives"].items()]
    rows += [(k, m) for k, m in summary["baselines"].items()]
    for name, m in rows:
        t.add_row(
            name,
            _num(m.get("roc_auc")),
            _num(m.get("pr_auc")),
            _num(m.get("lift_10"), 2),
            _num(m.get("conversion_10")),
            _num(m.get("brier")),
        )
    console.print(t)
    choice = summary.get("choice") or {}
    if choice.get("fold_auc"):
        f = table("model", "ROC AUC per fold", "gap to best", title="Choice: " + choice["rule"])
        for k, aucs in choice["fold_auc"].items():
            mark = " (chosen)" if k == choice["chosen"] else ""
            f.add_row(k + mark, ", ".join(_num(a) for a in aucs), _num(choice["gap_to_best"][k], 4))
        console.print(f)
        console.print(f"noise (standard error of the paired fold differences): {choice['noise']}")
    style = "bold red" if summary["verdict"] != "usable" else "green"
    console.print(summary["statement"], style=style)
    print_drift(summary)
    if summary["excluded_leaky"]:
        x = table("column", "why", title="Excluded as leaky (keep with --include-leaky COL)")
        for col, reasons in summary["excluded_leaky"].items():
            x.add_row(col, "; ".join(reasons))
        console.print(x)
    if summary["included_leaky"]:
        console.print("kept although flagged as leaky: " + ", ".join(summary["included_leaky"]))
    if summary["dropped"]:
        console.print("dropped: " + ", ".join(f"{c} ({r})" for c, r in summary["dropped"].items()))


def print_drift(summary: dict[str, Any]) -> None:
    """The drift report's flagged features and what removing them costs."""
    drift = summary.get("drift") or {}
    if drift.get("flagged"):
        cost = drift.get("auc_lost_without_flagged") or {}
        d = table(
            "feature",
            "why",
            title=f"Drifting or time-like ({drift['slices']}); without them the model's ROC AUC "
            f"goes {_num(cost.get('auc_with'))} -> {_num(cost.get('auc_without'))}",
        )
        for col in drift["flagged"]:
            d.add_row(col, "; ".join(drift["features"][col]["reasons"]))
        console.print(d)
        if not summary.get("excluded_drifting"):
            console.print("train again with --exclude-drifting to leave them out")
    if summary.get("excluded_drifting"):
        console.print("excluded as drifting: " + ", ".join(summary["excluded_drifting"]))


def register(app: typer.Typer) -> None:
    """Add `train` and `predict` to the `leadgate` app."""

    @app.command("train")
    def train(
        csv: CsvOpt = None,
        target: Annotated[
            str | None, typer.Option("--target", help="The outcome column (two values).")
        ] = None,
        id_column: Annotated[
            str | None, typer.Option("--id", help="Id column (kept out of the features).")
        ] = None,
        time_column: Annotated[
            str | None,
            typer.Option("--time", help="Time column: evaluate on the latest rows."),
        ] = None,
        include_leaky: Annotated[
            list[str] | None,
            typer.Option("--include-leaky", help="Keep this flagged column (repeatable)."),
        ] = None,
        exclude: Annotated[
            list[str] | None,
            typer.Option("--exclude", help="Leave this column out (repeatable)."),
        ] = None,
        positive: Annotated[
            str | None,
            typer.Option("--positive", help="The target value meaning converted/won."),
        ] = None,
        rows_in_time_order: Annotated[
            bool,
            typer.Option("--rows-in-time-order", help="Rows are in time order (no time column)."),
        ] = False,
        exclude_drifting: Annotated[
            bool,
            typer.Option(
                "--exclude-drifting",
                help="Leave out the features the drift report flags (needs time order).",
            ),
        ] = False,
        kind: Annotated[str, typer.Option("--kind", help="auto, gbm or logistic.")] = "auto",
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
        models_dir_opt: ModelsDirOpt = None,
        db: DbOption = None,
        cutoff: CutoffOpt = "mql",
        window_days: WindowOpt = None,
        horizon_days: HorizonOpt = 90.0,
        as_json: JsonOpt = False,
    ) -> None:
        """Train a conversion model on closed leads (the store's, or a CSV's) and save it."""
        if csv is None:
            if target or id_column or time_column or positive or rows_in_time_order:
                fail("--target/--id/--time/--positive/--rows-in-time-order need --csv FILE")
            _train_store(
                db,
                kind,
                seed,
                cutoff,
                window_days,
                horizon_days,
                include_leaky,
                exclude,
                as_json,
                exclude_drifting=exclude_drifting,
            )
            return
        if not target:
            fail("--target COLUMN is required with --csv")
        if kind not in ("auto", "gbm", "logistic"):
            fail(f"--kind must be auto, gbm or logistic, not {kind!r}")
        from leadgate.predictive.dataset import DatasetError, load_csv
        from leadgate.predictive.persist import models_dir, save_model
        from leadgate.predictive.train import train_dataset

        try:
            ds = load_csv(
                csv,
                target,
                id_column=id_column,
                time_column=time_column,
                positive=positive,
                exclude=exclude or (),
            )
            result = train_dataset(
                ds,
                kind=kind,  # type: ignore[arg-type]
                seed=seed,
                include_leaky=include_leaky or (),
                time_ordered_rows=rows_in_time_order,
                source=str(csv),
                exclude_drifting=exclude_drifting,
            )
        except DatasetError as exc:
            fail(str(exc))
        root = models_dir(models_dir_opt)
        try:
            model_id = save_model(result.model, root)
        except OSError as exc:
            fail(f"cannot save the model in {root}: {exc}")
        summary = train_summary(result, model_id, root / model_id)
        if as_json:
            _dump(summary)
        else:
            print_train(summary)

    @app.command("predict")
    def predict(
        csv: CsvOpt = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Output CSV.", show_default=False)
        ] = None,
        model: Annotated[
            str | None, typer.Option("--model", help="Model id (default: the latest).")
        ] = None,
        models_dir_opt: ModelsDirOpt = None,
        db: DbOption = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Score every lead in the store (stored as `predicted`), or the rows of a CSV
        (writes the id or row and `predicted`, 0-1)."""
        if csv is None:
            if out is not None:
                fail("--out needs --csv FILE (without --csv the scores go into the store)")
            _predict_store(db, model, as_json)
            return
        if out is None:
            fail("--out FILE is required with --csv")
        from leadgate.predictive.dataset import DatasetError
        from leadgate.predictive.persist import ModelNotFound, load_model, models_dir
        from leadgate.predictive.score import score_csv

        root = models_dir(models_dir_opt)
        try:
            lead_model = load_model(model, root)
        except ModelNotFound as exc:
            fail(str(exc))
        try:
            scored = score_csv(lead_model, csv, out)
        except DatasetError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write {out}: {exc}")
        info = {
            "model_id": lead_model.card.model_id,
            "rows": len(scored),
            "out": str(out),
            "verdict": lead_model.card.verdict,
            "mean_predicted": float(scored["predicted"].mean()) if len(scored) else None,
        }
        if as_json:
            _dump(info)
        else:
            console.print(f"scored {len(scored):,} rows with model {info['model_id']} -> {out}")
            if lead_model.card.verdict != "usable":
                console.print(f"warning: {lead_model.card.statement}", style="bold red")

    @app.command("suggest-points")
    def suggest_points(
        out: Annotated[
            Path, typer.Option("--out", help="Where to write the proposed playbook YAML.")
        ] = Path("playbook.suggested.yaml"),
        db: DbOption = None,
        cutoff: CutoffOpt = "mql",
        window_days: WindowOpt = None,
        horizon_days: HorizonOpt = 90.0,
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
        as_json: JsonOpt = False,
    ) -> None:
        """Propose integer rule points from outcomes (sparse logistic model on binned
        attributes and event counts); print its AUC next to the current playbook's."""
        from leadgate.predictive.dataset import DatasetError
        from leadgate.predictive.suggest import suggest_points as run

        engine = _engine(db)
        try:
            result = _guard(
                lambda: run(
                    engine,
                    cutoff=cutoff,
                    window_days=window_days,
                    horizon_days=horizon_days,
                    seed=seed,
                )
            )
            out.write_text(result.yaml, encoding="utf-8")
        except DatasetError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write {out}: {exc}")
        info = {"out": str(out), **result.summary()}
        if as_json:
            _dump(info)
            return
        console.print(safe_text("proposed playbook written to ", (str(out), "bold")))
        t = table("scoring", "ROC AUC", "PR AUC", "lift@10%", title=result.validation)
        for name, m in (("proposed points", result.proposed), ("current playbook", result.current)):
            t.add_row(
                name, _num(m.get("roc_auc")), _num(m.get("pr_auc")), _num(m.get("lift_10"), 2)
            )
        console.print(t)
        console.print(
            f"{len(result.fit_rules)} fit rules, {len(result.engagement_rules)} engagement rules; "
            f"check it with `leadgate playbook check {out}`, compare with `leadgate backtest`."
        )


def _engine(db: str | None) -> Any:
    from leadgate.cli.common import handle_errors, open_engine

    return handle_errors(open_engine)(db)


def _guard(fn: Any) -> Any:
    """Domain errors users can fix (no playbook, bad store) exit 2 like the core commands."""
    from leadgate.cli.common import handle_errors

    return handle_errors(fn)()


def _train_store(
    db: str | None,
    kind: str,
    seed: int,
    cutoff: str,
    window_days: float | None,
    horizon_days: float,
    include_leaky: list[str] | None,
    exclude: list[str] | None,
    as_json: bool,
    *,
    exclude_drifting: bool = False,
) -> None:
    if kind not in ("auto", "gbm", "logistic"):
        fail(f"--kind must be auto, gbm or logistic, not {kind!r}")
    from leadgate.predictive.dataset import DatasetError
    from leadgate.predictive.store_score import train_store

    engine = _engine(db)
    try:
        res = _guard(
            lambda: train_store(
                engine,
                kind=kind,  # type: ignore[arg-type]
                seed=seed,
                cutoff=cutoff,
                window_days=window_days,
                horizon_days=horizon_days,
                include_leaky=include_leaky or (),
                exclude=exclude or (),
                exclude_drifting=exclude_drifting,
            )
        )
    except DatasetError as exc:
        fail(str(exc))
    summary = train_summary(res.result, res.model_id, Path(f"store version {res.version}"))
    summary["path"] = f"store ({engine.db.url.split('://')[0]}), version {res.version}"
    summary["version"] = res.version
    summary["store"] = res.result.card.params.get("store", {})
    if as_json:
        _dump(summary)
    else:
        print_train(summary)
        st = summary["store"]
        console.print(
            f"cut-off {st.get('cutoff')} (window {st.get('window_days')} days for leads never "
            f"MQL), horizon {st.get('horizon_days'):g} days; {st.get('open_leads_left_out', 0):,} "
            "open leads left out (outcome not known yet)"
        )


def _predict_store(db: str | None, model: str | None, as_json: bool) -> None:
    from leadgate.predictive.dataset import DatasetError
    from leadgate.predictive.persist import ModelNotFound
    from leadgate.predictive.store_models import load_model
    from leadgate.predictive.store_score import predict_store

    engine = _engine(db)
    try:
        lead_model = load_model(engine.db, model)
        info = _guard(lambda: predict_store(engine, lead_model))
    except (ModelNotFound, DatasetError) as exc:
        fail(str(exc))
    if as_json:
        _dump(info)
        return
    console.print(
        f"scored {info['leads']:,} leads with model {info['model_id']} "
        f"({info['changed']:,} changed, mean {_num(info['mean_predicted'])}) in "
        f"{info['seconds']:.1f} s"
    )
    if lead_model.card.verdict != "usable":
        console.print(f"warning: {lead_model.card.statement}", style="bold red")
