"""study.workers: trials in several processes sharing one Optuna study and one MLflow parent run."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import keras
import optuna
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from automl.cli import app
from automl.engines.base import StudySettings
from automl.engines.optuna import OptunaEngine
from automl.space import SpaceFile, resolve_space
from automl.study.workers import shares
from automl.testing import default_sigint, write_pipeline
from automl.tracking import Tracker, tracking_uri

runner = CliRunner()
STORAGE = "sqlite:///mlruns/optuna.db"


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_two_workers_share_one_study(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 4}, train={"epochs": 2})
    result = runner.invoke(app, ["run", str(path), "--workers", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="tiny", storage=STORAGE)
    trials = study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 4  # workers sample from own seeds

    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if r.data.tags.get("automl.role") == "study"]
    children = [r for r in runs if r.data.tags.get("automl.role") == "trial"]
    assert len(parent) == 1 and len(children) == 4
    assert all(r.data.tags["mlflow.parentRunId"] == parent[0].info.run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in runs)
    assert {r.data.tags["automl.worker"] for r in children} == {"0", "1"}
    assert all(len(client.get_metric_history(r.info.run_id, "val_accuracy")) == 2 for r in children)

    out = tmp_path / "mlruns" / "tiny"
    assert json.loads((out / "best.json").read_text())["trial"] == study.best_trial.number
    assert not (out / "candidates").exists()
    assert keras.models.load_model(out / "best.keras").count_params() == \
        study.best_trial.user_attrs["n_params"]
    assert "test_accuracy" in parent[0].data.metrics

    again = runner.invoke(app, ["run", str(path), "--workers", "2", "--trials", "2", "--quiet"])
    assert again.exit_code == 0, again.output
    assert len(optuna.load_study(study_name="tiny", storage=STORAGE).trials) == 6


def test_workers_need_the_optuna_engine(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path)
    result = runner.invoke(app, ["validate", str(path), "--set", "study.engine=keras_tuner",
                                 "--set", "study.sampler=random", "--set", "study.workers=2"])
    assert result.exit_code == 2
    assert result.output.strip().endswith("study.workers: 2 workers need engine optuna (one shared storage), got "
                                          "engine keras_tuner"), result.output


def test_shares() -> None:
    assert shares(5, 2) == [3, 2] and shares(1, 3) == [1, 0, 0] and sum(shares(17, 4)) == 17


def test_leftovers_of_a_dead_worker_are_failed(tmp_path: Path) -> None:
    space = resolve_space(SpaceFile.model_validate({"block": "mlp"}), 2)
    settings = StudySettings(name="s", space=space, sampler="random", pruner="none", direction="maximize", seed=0,
                             storage=STORAGE, epochs=2)
    tracker = Tracker("s")
    parent = tracker.start_run("p")
    worker = subprocess.Popen([sys.executable, "-c", WORKER.format(storage=STORAGE, parent=parent)], cwd=tmp_path,
                              stdout=subprocess.PIPE, text=True)
    child = worker.stdout.readline().strip()  # type: ignore[union-attr]
    engine = OptunaEngine(settings)
    engine.open()
    assert engine.fail_dead("worker 1 exited with code -9") == []  # the worker is alive: its trial stays
    worker.kill()
    worker.wait()
    assert engine.fail_dead("worker 1 exited with code -9") == [(0, "worker 1 exited with code -9")]
    trial = optuna.load_study(study_name="s", storage=STORAGE).trials[0]
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["fail_reason"] == "worker 1 exited with code -9"

    assert tracker.fail_dead() == [(child, f"process {worker.pid} on {socket.gethostname()} died")]
    assert tracker.client.get_run(child).info.status == "FAILED"
    assert tracker.client.get_run(child).data.tags["automl.fail_reason"].startswith(f"process {worker.pid} on ")
    assert tracker.client.get_run(parent).info.status == "RUNNING"  # its owner (this process) is alive


# a worker that asks one trial, starts its run, says the run id and waits to be killed
WORKER = """
import time
from automl.engines.base import StudySettings
from automl.engines.optuna import OptunaEngine
from automl.space.space import SpaceFile, resolve_space
from automl.tracking.mlflow import Tracker
space = resolve_space(SpaceFile.model_validate({{"block": "mlp"}}), 2)
engine = OptunaEngine(StudySettings(name="s", space=space, sampler="random", pruner="none", direction="maximize",
                                    seed=0, storage="{storage}", epochs=2))
engine.open()
engine.ask()
print(Tracker("s").start_run("c", parent="{parent}", tags={{"automl.role": "trial"}}), flush=True)
time.sleep(600)
"""


def test_ctrl_c_stops_every_worker(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 4}, train={"epochs": 500, "batch_size": 16})
    proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "run", str(path), "--workers", "2"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    db = tmp_path / "mlruns" / "optuna.db"
    query = ("SELECT COUNT(DISTINCT t.trial_id) FROM trials t JOIN trial_intermediate_values v "
             "ON v.trial_id = t.trial_id WHERE t.state = 'RUNNING'")
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # both workers are training
            try:
                with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
                    if conn.execute(query).fetchone()[0] == 2:
                        break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("the two workers did not both start training")
        proc.send_signal(signal.SIGINT)  # to the parent only, as `kill -INT` does
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    trials = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}").trials
    assert len(trials) == 2 and all(t.state == optuna.trial.TrialState.FAIL for t in trials)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert len(runs) == 3 and all(r.info.status == "KILLED" for r in runs), [r.info.status for r in runs]
