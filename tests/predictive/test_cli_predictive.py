"""`train` and `predict` on a tiny Typer app: output, round trip, errors (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from leadgate.cli.predictive import register

from ._synth import leads

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.callback()
    def main() -> None:
        """Test app."""

    return a


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    frame = leads(500, seed=2)
    frame.to_csv(d / "train.csv", index=False)
    frame.drop(columns=["converted"]).iloc[:40].to_csv(d / "new.csv", sep=";", index=False)
    frame.assign(converted="maybe").iloc[:30].to_csv(d / "one_value.csv", index=False)
    return {"dir": d, "train": d / "train.csv", "new": d / "new.csv", "bad": d / "one_value.csv"}


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_train_then_predict_round_trip(app: typer.Typer, files: dict[str, Path]) -> None:
    models = str(files["dir"] / "models")
    code, out, err = run(
        app, "train", "--csv", str(files["train"]), "--target", "converted",
        "--id", "lead_id", "--time", "created", "--seed", "7", "--json", "--models-dir", models,
    )  # fmt: skip
    assert code == 0, err
    info = orjson.loads(out)
    assert info["model_id"].startswith("m-") and info["verdict"] == "usable"
    assert 0.5 < info["metrics"]["roc_auc"] <= 1
    assert set(info["baselines"]) == {"odoo_nb_skip_empty", "odoo_nb_empty_as_value"}
    assert info["validation"].startswith("time-ordered")
    out_csv = files["dir"] / "scored.csv"
    code, out, err = run(
        app, "predict", "--csv", str(files["new"]), "--out", str(out_csv),
        "--models-dir", models,
    )  # fmt: skip
    assert code == 0, err
    assert info["model_id"] in out
    scored = pd.read_csv(out_csv)
    assert list(scored.columns) == ["lead_id", "predicted"] and len(scored) == 40
    assert scored["predicted"].between(0, 1).all()
    # The table output names the excluded leaky columns and the model id.
    leaky = pd.read_csv(files["train"]).assign(
        status=lambda f: f["converted"].map({"yes": "customer", "no": "closed"})
    )
    leaky.to_csv(files["dir"] / "leaky.csv", index=False)
    code, out, err = run(
        app, "train", "--csv", str(files["dir"] / "leaky.csv"), "--target", "converted",
        "--id", "lead_id", "--models-dir", models,
    )  # fmt: skip
    assert code == 0, err
    assert "Excluded as leaky" in out and "status" in out and "m-" in out
    code, out, _ = run(
        app, "predict", "--csv", str(files["new"]), "--out", str(out_csv),
        "--model", info["model_id"], "--models-dir", models, "--json",
    )  # fmt: skip
    assert code == 0 and orjson.loads(out)["model_id"] == info["model_id"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--target", "converted"], "need --csv"),
        (["predict", "--out", "x.csv"], "needs --csv"),
        (["train", "--csv", "missing.csv", "--target", "converted"], "file not found"),
        (["train", "--csv", "{train}", "--target", "nope"], "unknown target column"),
        (["train", "--csv", "{train}", "--target", "source"], "not binary"),
        (["train", "--csv", "{bad}", "--target", "converted"], "not binary"),
        (["train", "--csv", "{train}", "--target", "converted", "--include-leaky", "zz"], "zz"),
        (["predict", "--csv", "{new}", "--out", "o.csv", "--model", "m-nope"], "unknown model"),
        (["predict", "--csv", "{new}", "--out", "o.csv", "--models-dir", "{dir}/none"], "no "),
    ],
)
def test_bad_input_exits_2(
    app: typer.Typer, files: dict[str, Path], args: list[str], message: str
) -> None:
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    if args[0] == "predict" and "--models-dir" not in args:
        args += ["--models-dir", str(files["dir"] / "models")]
    code, _, err = run(app, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_train_reports_choice_and_drift_and_excludes_drifting(
    app: typer.Typer, files: dict[str, Path]
) -> None:
    d = files["dir"]
    frame = leads(500, seed=3).sort_values("created").reset_index(drop=True)
    frame["running_total"] = (frame.index // 2) * 2.0  # a counter: time-like
    frame.to_csv(d / "counter.csv", index=False)
    common = ["--csv", str(d / "counter.csv"), "--target", "converted", "--id", "lead_id"]
    models = ["--models-dir", str(d / "models")]
    code, out, err = run(app, "train", *common, "--time", "created", "--json", *models)
    assert code == 0, err
    info = orjson.loads(out)
    assert info["chosen"] == info["choice"]["chosen"]
    assert info["alternatives"][info["chosen"]] == info["metrics"]
    assert "running_total" in info["drift"]["flagged"] and not info["excluded_drifting"]
    code, out, err = run(
        app, "train", *common, "--time", "created", "--exclude-drifting", "--json", *models
    )
    assert code == 0, err
    info = orjson.loads(out)
    assert "running_total" in info["excluded_drifting"]
    assert "running_total" not in info["features"]
    # The human output names the flagged features and the AUC without them.
    code, out, err = run(app, "train", *common, "--time", "created", *models)
    assert code == 0, err
    assert "running_total" in out and "Drifting or time-like" in out
    # Without a time column these rows still look time-ordered (the counter gives it away).
    code, out, err = run(app, "train", *common, "--exclude-drifting", "--json", *models)
    assert code == 0, err
    assert "taken to be in time order" in orjson.loads(out)["validation"]
    # Rows in random order and no time: nothing to measure drift on; one-line error, exit 2.
    shuffled = ["--csv", str(files["train"]), "--target", "converted", "--id", "lead_id"]
    code, out, err = run(app, "train", *shuffled, "--exclude-drifting", *models)
    assert code == 2 and "time order" in err
