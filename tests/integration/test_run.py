"""`automl run` end to end: real Optuna storage, real MLflow sqlite store, real Keras on ~200 samples."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.testing import write_pipeline
from automl.tracking import tracking_uri

runner = CliRunner()
OPTUNA = "sqlite:///mlruns/optuna.db"


def _client() -> MlflowClient:
    return MlflowClient(tracking_uri())


def _runs(experiment: str) -> tuple[list, list]:
    client = _client()
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


@pytest.mark.fresh_folder  # the first `automl run` on a fresh folder: it makes the stores
def test_cli_run_records_trials_in_optuna_and_mlflow(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 3})
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "best model: mlruns/tiny/best.keras" in result.output

    study = optuna.load_study(study_name="tiny", storage=OPTUNA)
    assert len(study.trials) == 3
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    for t in study.trials:
        assert set(t.params) >= {"units", "optimizer", "lr"}
        assert ("momentum" in t.params) == (t.params["optimizer"] == "sgd")  # conditional
        assert sorted(t.intermediate_values) == [0, 1]  # one report per epoch

    parents, children = _runs("tiny")
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert parent.data.metrics["test_accuracy"] > 0
    assert "test_loss" in parent.data.metrics
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.data.params["best.units"] == str(study.best_params["units"])

    client = _client()
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"pipeline.yaml", "model"} <= artifacts
    for child in children:
        number = int(child.data.tags["automl.trial"])
        trial = study.trials[number]
        assert child.info.status == "FINISHED"
        assert child.data.tags["automl.state"] == "COMPLETE"
        assert ("momentum" in child.data.params) == (trial.params["optimizer"] == "sgd")
        assert child.data.params["units"] == str(trial.params["units"])
        assert child.data.metrics["params_count"] > 0
        history = client.get_metric_history(child.info.run_id, "val_accuracy")
        assert sorted(m.step for m in history) == [0, 1]
        assert {m.key for m in [*client.get_metric_history(child.info.run_id, "lr"),
                                *client.get_metric_history(child.info.run_id, "loss")]} == {"lr", "loss"}
    best = json.loads((tmp_path / "mlruns/tiny/best.json").read_text())
    assert best["trial"] == study.best_trial.number


def test_rerun_resumes_and_new_starts_afresh(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 2})
    assert runner.invoke(app, ["run", str(path)]).exit_code == 0
    assert runner.invoke(app, ["run", str(path), "--trials", "1"]).exit_code == 0
    assert len(optuna.load_study(study_name="tiny", storage=OPTUNA).trials) == 3
    parents, children = _runs("tiny")
    assert len(parents) == 2 and len(children) == 3

    changed = runner.invoke(app, ["run", str(path), "--set", "space.params.units.high=32"])
    assert changed.exit_code == 2
    text = " ".join(changed.output.split())
    assert ("different search space (units: int 4..16 -> int 4..32): run with --continue to go on with its trials "
            "under the new space, or use --name NEW_NAME") in text and "--new" in text

    assert runner.invoke(app, ["run", str(path), "--new", "--trials", "1"]).exit_code == 0
    assert len(optuna.load_study(study_name="tiny", storage=OPTUNA).trials) == 1
    assert len(_runs("tiny")[1]) == 4  # MLflow history is kept


def test_nan_trial_is_recorded_failed_and_the_study_goes_on(tmp_path: Path) -> None:
    space = {"block": "mlp", "params": {
        "layers": 2, "units": 64, "activation": "relu", "dropout": 0.0,
        "optimizer": "sgd", "momentum": 0.9, "lr": {"type": "categorical", "choices": [10.0, 0.01]}}}
    path = write_pipeline(tmp_path, space=space, data={"source": "synthetic", "samples": 200, "features": 8,
                                                       "classes": 0}, study={"trials": 4})
    result = automl.run(path)
    states = {t.params["lr"]: t.state for t in result.trials}
    assert states == {10.0: "FAIL", 0.01: "COMPLETE"}, states
    failed = [t for t in result.trials if t.state == "FAIL"]
    assert all(t.attrs["fail_reason"].startswith("loss became") for t in failed)
    _, children = _runs("tiny")
    by_state = {c.data.tags["automl.state"]: c for c in children}
    assert by_state["FAIL"].info.status == "FAILED"
    assert by_state["FAIL"].data.tags["automl.fail_reason"].startswith("loss became")
    assert result.best_value is not None and result.metric == "val_loss"


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_seed_makes_a_study_reproducible(tmp_path: Path) -> None:
    first = automl.run(write_pipeline(tmp_path, name="a", study={"sampler": "tpe"}))
    second = automl.run(write_pipeline(tmp_path, name="b", study={"sampler": "tpe"}))
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.value for t in first.trials] == pytest.approx([t.value for t in second.trials], abs=1e-6)


def test_csv_pipeline_works_unchanged(tmp_path: Path, repo: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["f1,f2,color,label"]
    for _ in range(240):
        f1, f2 = rng.normal(), rng.normal()
        color = rng.choice(["red", "green"])
        rows.append(f"{f1:.3f},{f2:.3f},{color},{'yes' if f1 + (color == 'red') > 0.5 else 'no'}")
    (tmp_path / "my.csv").write_text("\n".join(rows) + "\n")
    result = runner.invoke(app, [
        "run", str(repo / "pipelines/quickstart.yaml"), "--trials", "2", "--set", "train.epochs=2",
        "--set", "data.source=csv", "--set", "data.path=my.csv", "--set", "data.target=label",
        "--set", "space=" + str(repo / "search_spaces/mlp.yaml"), "--set", "name=mycsv"])
    assert result.exit_code == 0, result.output
    import keras

    model = keras.models.load_model(tmp_path / "mlruns/mycsv/best.keras")
    assert model.input_shape == (None, 4)  # f1, f2, color=green, color=red: raw features in
    assert _runs("mycsv")[0][0].data.metrics["test_accuracy"] > 0.5


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_grid_sampler_stops_when_the_grid_is_used_up(tmp_path: Path) -> None:
    space = {"block": "mlp", "params": {"layers": 1, "activation": "relu", "dropout": 0.0, "lr": 0.01,
                                        "units": {"type": "categorical", "choices": [4, 8]}}}
    result = automl.run(write_pipeline(tmp_path, space=space, study={"sampler": "grid", "trials": 5}))
    assert sorted(t.params["units"] for t in result.trials) == [4, 8]


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_refit_retrains_the_best_trial_on_train_and_validation(tmp_path: Path) -> None:
    result = automl.run(write_pipeline(tmp_path, study={"trials": 2}, train={"refit": True}))
    best = json.loads((tmp_path / "mlruns/tiny/best.json").read_text())
    assert best["refit_of"] == result.best_trial
    assert best["refit_epochs"] == result.trials[result.best_trial].attrs["best_epoch"] + 1
    parent = _client().get_run(result.parent_run_id)
    assert parent.data.params["refit"] == "True" and "test_accuracy" in parent.data.metrics
