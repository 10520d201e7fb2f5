"""What the loop records of each kind of trial end, in Optuna and in MLflow: scripted trials of the fake runner
(no Keras), the real engine, stores, study folder and final stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

from automl.config import load_pipeline
from automl.progress import Events
from automl.store.folder import StudyFolder, read_json
from automl.study.tune import TuneResult, tune
from automl.testing import write_pipeline
from automl.testing.runner import MAGIC, FakeRunner, Play

STORAGE = "sqlite:///mlruns/optuna.db"


@pytest.fixture(autouse=True)
def _stores(made_stores: Path) -> None:
    """A made MLflow store: each test then takes well under a second."""


def _tune(tmp_path: Path, fake: FakeRunner, *, progress: Any = None, **pipeline: Any) -> TuneResult:
    return tune(load_pipeline(write_pipeline(tmp_path, **pipeline)), runners=fake.factory, progress=progress)


def _runs(name: str = "tiny") -> dict[int, Any]:
    client = MlflowClient(f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`automl.role` = 'trial'")
    return {int(r.data.tags["automl.trial"]): r for r in runs}


def _session(name: str = "tiny") -> Any:
    client = MlflowClient(f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id], "tags.`automl.role` = 'study'")
    return run


PLAYS = [Play(epochs=[0.5, 0.7, 0.6]), Play(epochs=[0.4], outcome="prune"), Play(epochs=[0.3, 0.2], outcome="fail"),
         Play(epochs=[0.9], outcome="crash"), Play(epochs=[0.1], outcome="timeout"),
         Play(outcome="raise", reason="boom")]


def test_each_trial_end_is_recorded_in_optuna_and_mlflow(tmp_path: Path) -> None:
    fake = FakeRunner(PLAYS)
    result = _tune(tmp_path, fake, study={"trials": 6, "trial_timeout": 30})
    trials = optuna.load_study(study_name="tiny", storage=STORAGE).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "FAIL", "FAIL", "FAIL", "FAIL"]
    assert trials[0].value == 0.7 and trials[0].user_attrs["best_epoch"] == 1
    assert trials[0].user_attrs["epochs_trained"] == 3 and trials[0].intermediate_values == {0: 0.5, 1: 0.7, 2: 0.6}
    assert trials[1].user_attrs["reason"] == "pruned after epoch 0"
    assert trials[2].user_attrs["fail_reason"] == "loss became nan at epoch 1"
    assert trials[3].user_attrs["fail_reason"] == "trial process killed by signal 9 (SIGKILL)"
    assert trials[4].user_attrs["fail_reason"] == "exceeded trial_timeout 30 s"
    assert trials[5].user_attrs["fail_reason"] == "RuntimeError: boom"
    session = result.parent_run_id
    assert all(t.user_attrs["automl.session"] == session for t in trials)

    runs = _runs()
    assert {n: r.info.status for n, r in runs.items()} == {0: "FINISHED", 1: "FINISHED", 2: "FAILED", 3: "FAILED",
                                                           4: "FAILED", 5: "FAILED"}
    assert {n: r.data.tags["automl.state"] for n, r in runs.items()} == {
        0: "COMPLETE", 1: "PRUNED", 2: "FAIL", 3: "FAIL", 4: "FAIL", 5: "FAIL"}
    assert runs[0].data.metrics["best_val_accuracy"] == 0.7 and runs[0].data.metrics["params_count"] == 100
    assert runs[1].data.tags["automl.reason"] == "pruned after epoch 0"
    assert runs[3].data.tags["automl.fail_reason"] == "trial process killed by signal 9 (SIGKILL)"
    assert all(r.data.tags["mlflow.parentRunId"] == session for r in runs.values())
    assert runs[0].data.params.keys() >= {"units", "lr", "train.epochs"}
    client = MlflowClient(f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}")
    assert [m.value for m in client.get_metric_history(runs[0].info.run_id, "val_accuracy")] == [0.5, 0.7, 0.6]

    # the one complete trial's model is best.keras; the final stage scored it, logged it and finished the session
    folder = StudyFolder("tiny")
    assert folder.best_model.read_bytes().startswith(MAGIC) and fake.kept == [folder.best_model]
    assert read_json(folder.best_info)["trial"] == 0  # type: ignore[index]
    assert result.best_trial == 0 and result.test_metrics == {"test_accuracy": 0.9, "test_loss": 0.3}
    parent = _session()
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_failed"] == 4
    assert parent.data.tags["automl.best_model"] == f"runs:/{session}/best_model"
    assert fake.started == 1 and fake.closed == 1


def test_the_pruner_hears_every_epoch_and_stops_the_trial(tmp_path: Path) -> None:
    """The median pruner of Optuna prunes a trial below the median of the earlier ones at the same epoch."""
    fake = FakeRunner([Play(epochs=[0.8, 0.8, 0.8])] * 3 + [Play(epochs=[0.1, 0.1, 0.1])])
    pruner = {"name": "median", "n_startup_trials": 3, "warmup_epochs": 0}
    _tune(tmp_path, fake, study={"trials": 4, "pruner": pruner}, train={"epochs": 3})
    trials = optuna.load_study(study_name="tiny", storage=STORAGE).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED"]
    assert trials[3].intermediate_values == {0: 0.1}  # stopped at its first epoch's end
    assert trials[3].user_attrs["epochs_trained"] == 1


def test_a_better_trial_replaces_the_best_model(tmp_path: Path) -> None:
    events = Events()
    fake = FakeRunner([Play(epochs=[0.5]), Play(epochs=[0.4]), Play(epochs=[0.9])])
    result = _tune(tmp_path, fake, progress=events, study={"trials": 3})
    folder = StudyFolder("tiny")
    assert fake.kept == [folder.best_model, folder.best_model]  # trials 0 and 2; trial 1 discarded
    assert folder.best_model.read_bytes() == MAGIC + b"trial 2\n"
    assert result.best_trial == 2 and result.best_value == 0.9
    ended = [(e.args["number"], e.args["state"], e.args["best"]) for e in events.of("trial_ended")]
    assert ended == [(0, "COMPLETE", 0.5), (1, "COMPLETE", 0.5), (2, "COMPLETE", 0.9)]


def test_a_trial_process_dying_while_saving_is_a_note_and_the_end_rebuilds_the_model(tmp_path: Path) -> None:
    events = Events()
    fake = FakeRunner({0: Play(epochs=[0.8], save_dies=True)}, default=Play(epochs=[0.8]))
    result = _tune(tmp_path, fake, progress=events, study={"trials": 1})
    notes = [e.args["text"] for e in events.of("note")]
    assert "the model of trial 0 was not saved: trial process killed by signal 9 (SIGKILL)" in notes
    assert any("rebuilding it from trial 0" in n for n in notes), notes
    assert [r.number for r in fake.ran] == [0, 0]  # the trial, then its rebuild by the final stage
    assert result.test_metrics and StudyFolder("tiny").best_model.read_bytes().startswith(MAGIC)


@pytest.mark.parametrize("refit", [False, True])
def test_refit_trains_the_best_again_before_it_is_scored(tmp_path: Path, refit: bool) -> None:
    fake = FakeRunner([Play(epochs=[0.5, 0.9, 0.7])])
    _tune(tmp_path, fake, study={"trials": 1}, train={"epochs": 3, "refit": refit})
    assert [(r.number, r.epochs) for r in fake.refits] == ([(0, 2)] if refit else [])
    expected = b"refit of trial 0\n" if refit else b"trial 0\n"
    assert StudyFolder("tiny").best_model.read_bytes() == MAGIC + expected
    assert fake.scored == [StudyFolder("tiny").best_model]


def test_the_style_guides_example_runs(tmp_path: Path, repo: Path) -> None:
    """docs/STYLE.md's example of a loop test with the fake runner, run as written."""
    text = (repo / "docs" / "STYLE.md").read_text()
    code = text.split("## Testing a loop change with the fake runner", 1)[1].split("```python\n", 1)[1].split("```")[0]
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/STYLE.md", "exec"), scope)  # noqa: S102 - our own documentation
    scope["test_a_crash_fails_its_trial_and_the_study_goes_on"](tmp_path, Path("mlruns/mlflow.db"))
