"""The loop's fault paths with scripted trials (the fake runner, no Keras): a trial left RUNNING by a dead process
is healed, a study budget holds across sessions, a multi-objective front is settled after each session, and a
Ctrl-C at an epoch's end closes the trial FAIL and every run KILLED."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

from automl import liveness
from automl.config import load_pipeline
from automl.engines import optuna as optuna_engine
from automl.progress import Events
from automl.store.folder import StudyFolder, read_json
from automl.study.tune import TuneResult, tune
from automl.testing import write_pipeline
from automl.testing.runner import Died, FakeRunner, Play

STORAGE = "sqlite:///mlruns/optuna.db"


@pytest.fixture(autouse=True)
def _stores(made_stores: Path) -> None:
    """A made MLflow store: each test then takes about a second."""


def _tune(path: Path, fake: FakeRunner, overrides: dict[str, Any] | None = None, **kwargs: Any) -> TuneResult:
    return tune(load_pipeline(path, overrides), runners=fake.factory, **kwargs)


def _runs(name: str = "tiny") -> list[Any]:
    client = MlflowClient(f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id]))


def _trial_runs(name: str = "tiny") -> dict[int, Any]:
    return {int(r.data.tags["automl.trial"]): r for r in _runs(name) if r.data.tags["automl.role"] == "trial"}


def test_a_trial_left_running_by_a_dead_process_fails_on_the_next_start(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_pipeline(tmp_path, study={"trials": 3})
    # the first session's process is one that has died by the time the second starts (its start time differs)
    gone = liveness.Owner(socket.gethostname(), 4_000_000, "gone.0")
    with monkeypatch.context() as patch:
        patch.setattr(liveness, "this_process", lambda: gone)
        patch.setattr(optuna_engine, "this_process", lambda: gone)
        with pytest.raises(Died):  # the process dies in trial 1, as a kill -9 would end it
            _tune(path, FakeRunner([Play(), Play(epochs=[0.5, 0.6], outcome="die")]))
    trials = optuna.load_study(study_name="tiny", storage=STORAGE).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "RUNNING"]
    assert _trial_runs()[1].info.status == "RUNNING"

    events = Events()
    _tune(path, FakeRunner(), {"study.trials": 1}, progress=events)
    why = f"process 4000000 on {socket.gethostname()} died"
    trials = optuna.load_study(study_name="tiny", storage=STORAGE).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[1].user_attrs["fail_reason"] == why
    assert f"trial 1 was left RUNNING and is now FAIL: {why}" in [e.args["text"] for e in events.of("note")]
    runs = _trial_runs()
    assert runs[1].info.status == "FAILED" and runs[1].data.tags["automl.fail_reason"] == why
    assert not [r for r in _runs() if r.info.status == "RUNNING"]


def test_a_study_budget_holds_across_sessions(tmp_path: Path) -> None:
    """Each session adds study.trials, but the study never passes study.budget in total."""
    path = write_pipeline(tmp_path, study={"trials": 3, "budget": 4})
    for expected in (3, 4, 4):
        _tune(path, FakeRunner())
        assert len(optuna.load_study(study_name="tiny", storage=STORAGE).trials) == expected
    trials = optuna.load_study(study_name="tiny", storage=STORAGE).trials
    assert {t.state.name for t in trials} == {"COMPLETE"}


def _pareto(accuracy: float, params: int) -> Play:
    return Play(epochs=[{"val_accuracy": accuracy, "val_loss": 1 - accuracy}], n_params=params)


def test_the_front_is_settled_at_the_end_of_each_session(tmp_path: Path) -> None:
    study = {"objectives": [{"val_accuracy": "maximize"}, {"params_count": "minimize"}], "trials": 3}
    path = write_pipeline(tmp_path, name="front", study=study)
    result = _tune(path, FakeRunner([_pareto(0.8, 100), _pareto(0.9, 200), _pareto(0.7, 150)]))
    folder = StudyFolder("front")
    pareto = json.loads(folder.pareto.read_text())
    assert [(m["trial"], m["values"]) for m in pareto] == [
        (0, {"val_accuracy": 0.8, "params_count": 100.0}), (1, {"val_accuracy": 0.9, "params_count": 200.0})]
    assert result.pareto == pareto
    assert sorted(int(p.stem) for p in folder.trials_dir.glob("*.keras")) == [0, 1]  # trial 2 was never kept
    assert read_json(folder.best_info)["trial"] == 1  # type: ignore[index]  # the best first objective
    assert {n: r.data.tags["automl.pareto"] for n, r in _trial_runs("front").items()} == {
        0: "true", 1: "true", 2: "false"}

    # a second session: a trial that dominates them all; the front is settled over every trial again
    _tune(path, FakeRunner([_pareto(0.95, 50)]), {"study.trials": 1})
    assert [m["trial"] for m in json.loads(folder.pareto.read_text())] == [3]
    assert sorted(int(p.stem) for p in folder.trials_dir.glob("*.keras")) == [3]
    assert {n: r.data.tags["automl.pareto"] for n, r in _trial_runs("front").items()} == {
        0: "false", 1: "false", 2: "false", 3: "true"}
    assert read_json(folder.best_info)["trial"] == 3  # type: ignore[index]
    values = [t.values for t in optuna.load_study(study_name="front", storage=STORAGE).trials]
    assert values == [[0.8, 100.0], [0.9, 200.0], [0.7, 150.0], [0.95, 50.0]]


def test_ctrl_c_at_an_epoch_end_fails_the_trial_and_kills_every_run(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 3}, train={"epochs": 3})
    fake = FakeRunner([Play(epochs=[0.5, 0.6, 0.7]), Play(epochs=[0.5, 0.6, 0.7], interrupt_at=1)])
    result = _tune(path, fake)
    assert result.interrupted and [r.number for r in fake.ran] == [0, 1] and fake.closed == 1
    why = "interrupted by the user (Ctrl-C)"
    trials = optuna.load_study(study_name="tiny", storage=STORAGE).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
    assert trials[1].user_attrs["fail_reason"] == why and trials[1].intermediate_values == {0: 0.5, 1: 0.6}
    runs = _trial_runs()
    assert (runs[0].info.status, runs[1].info.status) == ("FINISHED", "KILLED")
    assert runs[1].data.tags["automl.fail_reason"] == why
    (session,) = [r for r in _runs() if r.data.tags["automl.role"] == "study"]
    assert session.info.status == "KILLED" and session.data.tags["automl.fail_reason"] == why
    assert result.best_trial == 0 and result.test_metrics  # the kept model was scored, nothing trained

    # the study goes on where it stopped
    again = _tune(path, FakeRunner(), {"study.trials": 1})
    assert not again.interrupted and [t.state for t in again.trials] == ["COMPLETE", "FAIL", "COMPLETE"]
