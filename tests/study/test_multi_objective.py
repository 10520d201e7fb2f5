"""Multi-objective studies and constraints through the real path: Optuna's SQLite storage, MLflow's sqlite
store, tiny Keras trainings (inline, and in a trial process), the TFLite converter and the ai-edge-litert
interpreter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

import automl
from automl.config import load_pipeline
from automl.store.folder import StudyFolder, read_json
from automl.study.tune import tune
from automl.testing import write_pipeline
from automl.testing.runner import FakeRunner, Play

STORAGE = "sqlite:///mlruns/optuna.db"
# units 4: 51 parameters (8 x 4 + 4 + 4 x 3 + 3); units 16: 195
SMALL, LARGE = {"units": 4, "optimizer": "adam", "lr": 0.05}, {"units": 16, "optimizer": "adam", "lr": 0.05}


def _children(name: str) -> dict[int, Any]:
    client = MlflowClient(f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}")  # MLflow caches a store per URI
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`automl.role` = 'trial'")
    return {int(r.data.tags["automl.trial"]): r for r in runs}


def _study(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=STORAGE)


def test_two_objectives_and_a_budget(tmp_path: Path) -> None:
    study = {"objectives": [{"val_accuracy": "maximize"}, {"params_count": "minimize"}],
             "constraints": ["params_count <= 100"], "enqueue": [SMALL, LARGE], "trials": 4, "sampler": "tpe"}
    result = automl.run(write_pipeline(tmp_path, name="pareto", study=study))
    stored = _study("pareto")
    assert [d.name for d in stored.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = stored.get_trials(deepcopy=False)
    small, large = trials[0], trials[1]
    # the large configuration breaks the budget: recorded infeasible without training
    assert large.state == optuna.trial.TrialState.PRUNED
    assert large.user_attrs["reason"] == "infeasible: params_count 195 > 100"
    assert large.user_attrs["epochs_trained"] == 0 and large.user_attrs["automl.feasible"] is False
    assert large.constraints == {"params_count <= 100": 95.0}  # what Optuna's samplers read
    assert small.state == optuna.trial.TrialState.COMPLETE and small.values[1] == 51.0
    assert small.constraints == {"params_count <= 100": -49.0} and small.user_attrs["automl.feasible"] is True
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(len(t.values) == 2 and t.user_attrs["automl.feasible"] for t in complete)
    # the single best: the feasible Pareto member with the best first objective (Optuna's front is feasible only)
    front = stored.best_trials
    best = max(front, key=lambda t: (t.values[0], -t.values[1]))
    assert result.best_trial == best.number and result.best_value == best.values[0]
    info = read_json(StudyFolder("pareto").best_info)
    assert info is not None and info["trial"] == best.number and info["metric"] == "val_accuracy"
    runs = _children("pareto")
    assert runs[1].data.tags["automl.feasible"] == "false" and runs[1].data.tags["automl.state"] == "PRUNED"
    assert runs[0].data.metrics["params_count"] == 51.0 and runs[0].data.tags["automl.feasible"] == "true"


def test_a_multi_objective_study_reports_no_epochs_to_optuna(tmp_path: Path, made_stores: Path) -> None:
    # the loop's path only: scripted trials (was two Keras trainings, ~10 s; the Keras path is test_two_objectives_
    # and_a_budget above)
    study = {"objectives": ["val_accuracy", "params_count"], "trials": 2, "sampler": "random"}
    fake = FakeRunner(default=Play(epochs=[{"val_accuracy": 0.6}, {"val_accuracy": 0.7}]))
    tune(load_pipeline(write_pipeline(tmp_path, name="noprune", study=study, train={"epochs": 2})),
         runners=fake.factory)
    trials = _study("noprune").get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert all(t.intermediate_values == {} for t in trials)  # Optuna cannot prune them; nothing pretends to


def test_a_single_objective_study_with_a_budget_keeps_a_feasible_best(tmp_path: Path, made_stores: Path) -> None:
    # scripted trials with the sizes of LARGE and SMALL (was two Keras trainings; the constraint check of a real
    # trial is test_two_objectives_and_a_budget above)
    study = {"constraints": ["params_count <= 100"], "enqueue": [LARGE, SMALL], "trials": 2, "sampler": "tpe"}
    fake = FakeRunner({0: Play(epochs=[0.9], n_params=195), 1: Play(epochs=[0.5], n_params=51)})
    result = tune(load_pipeline(write_pipeline(tmp_path, name="budget", study=study)), runners=fake.factory)
    trials = _study("budget").get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["PRUNED", "COMPLETE"]
    assert trials[0].user_attrs["reason"] == "infeasible: params_count 195 > 100"
    assert result.best_trial == 1 and len(_study("budget").directions) == 1


def test_tflite_objective_measured_in_the_trial_process(tmp_path: Path) -> None:
    study = {"objectives": [{"val_accuracy": "maximize"}, {"tflite_latency_ms": "minimize"}],
             "constraints": ["tflite_kib <= 3.0"], "enqueue": [SMALL, LARGE], "trials": 2, "sampler": "nsga2",
             "measure": {"format": "int8", "min_blocks": 3, "max_blocks": 5, "warmup_runs": 5}}
    automl.run(write_pipeline(tmp_path, name="phone", study=study, train={"isolation": "process", "epochs": 1}))
    small, large = _study("phone").get_trials(deepcopy=False)
    assert small.state.name == "COMPLETE" and large.state.name == "PRUNED"
    assert large.user_attrs["reason"].startswith("infeasible: tflite_kib ")
    assert small.values[1] == pytest.approx(small.user_attrs["tflite_latency_ms"], rel=1e-3)
    assert 0 < small.user_attrs["tflite_kib"] <= 3.0 < large.user_attrs["tflite_kib"]
    runs = _children("phone")
    for number in (0, 1):
        metrics = runs[number].data.metrics
        assert {"params_count", "tflite_kib", "tflite_latency_ms", "tflite_latency_cv"} <= set(metrics)
        assert metrics["tflite_latency_ms"] > 0 and metrics["tflite_latency_cv"] >= 0
    assert StudyFolder("phone").measure_lock.exists()


def _artifacts(run_id: str) -> set[str]:
    client = MlflowClient(f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}")
    return {a.path for a in client.list_artifacts(run_id)}


# the loop's settling of the front over two sessions runs in the default suite with scripted trials:
# tests/study/test_loop_faults.py::test_the_front_is_settled_at_the_end_of_each_session
@pytest.mark.slow  # two sessions, ~40 s; also the CLI's and the report's display of the front
def test_the_front_is_settled_at_the_end_of_each_session(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from automl.cli import app

    study = {"objectives": [{"val_accuracy": "maximize"}, {"params_count": "minimize"}], "trials": 3,
             "sampler": "random"}
    path = write_pipeline(tmp_path, name="front", study=study)
    out = CliRunner().invoke(app, ["run", str(path)])
    assert out.exit_code == 0, out.output
    stored = _study("front")
    expected = sorted(t.number for t in stored.best_trials)
    folder = StudyFolder("front")
    pareto = json.loads(folder.pareto.read_text())
    assert sorted(m["trial"] for m in pareto) == expected
    for member in pareto:
        trial = stored.trials[member["trial"]]
        assert member["values"] == {"val_accuracy": trial.values[0], "params_count": trial.values[1]}
        assert member["params"] == trial.params
    assert "Pareto front" in out.output
    # only the Pareto trials' models are kept; best.keras is the one with the best first objective
    assert sorted(int(p.stem) for p in folder.trials_dir.glob("*.keras")) == expected
    runs = _children("front")
    assert {n: r.data.tags["automl.pareto"] for n, r in runs.items()} == {
        t.number: str(t.number in expected).lower() for t in stored.trials}
    parent = next(iter(runs.values())).data.tags["mlflow.parentRunId"]
    assert {"pareto.json", "pareto.png"} <= _artifacts(parent)
    info = read_json(folder.best_info)
    best = max(stored.best_trials, key=lambda t: (t.values[0], -t.values[1]))
    assert info is not None and info["trial"] == best.number

    # a second session: the front is settled again over every trial, dominated models go
    more = CliRunner().invoke(app, ["run", str(path), "--trials", "2"])
    assert more.exit_code == 0, more.output
    stored = _study("front")
    expected = sorted(t.number for t in stored.best_trials)
    assert sorted(m["trial"] for m in json.loads(folder.pareto.read_text())) == expected
    assert sorted(int(p.stem) for p in folder.trials_dir.glob("*.keras")) == expected
    assert {n: r.data.tags["automl.pareto"] for n, r in _children("front").items()} == {
        t.number: str(t.number in expected).lower() for t in stored.trials}
    # `automl report` shows the front, in the terminal and on the page
    report = CliRunner().invoke(app, ["report", str(path), "--no-log"])
    assert report.exit_code == 0, report.output
    assert "Pareto front" in report.output and "params_count" in report.output
    page = folder.report.read_text()
    assert "<h2>Pareto front</h2>" in page


def test_automl_studies_lists_a_multi_objective_study() -> None:
    from automl.engines.optuna import list_studies

    stored = optuna.create_study(study_name="two", storage=f"sqlite:///{Path.cwd() / 'two.db'}",
                                 directions=["maximize", "minimize"])
    stored.add_trial(optuna.trial.create_trial(values=[0.9, 2.0], params={}, distributions={}))
    (row,) = list_studies(f"sqlite:///{Path.cwd() / 'two.db'}")
    assert row["direction"] == "maximize, minimize" and row["complete"] == 1
    assert row["best_value"] is None and row["best_trial"] is None  # a front has no one best value


@pytest.mark.slow  # two worker processes (~60 s)
def test_workers_keep_the_pareto_models_and_the_parent_adopts_the_best(tmp_path: Path) -> None:
    study = {"objectives": ["val_accuracy", "params_count"], "trials": 4, "sampler": "random", "workers": 2}
    result = automl.run(write_pipeline(tmp_path, name="crew", study=study))
    stored = _study("crew")
    expected = sorted(t.number for t in stored.best_trials)
    folder = StudyFolder("crew")
    assert sorted(int(p.stem) for p in folder.trials_dir.glob("*.keras")) == expected
    best = max(stored.best_trials, key=lambda t: (t.values[0], -t.values[1]))
    info = read_json(folder.best_info)
    assert result.best_trial == best.number and info is not None and info["trial"] == best.number
    assert folder.best_model.exists() and not folder.candidates.exists()
