"""Ctrl-C ends the running trial cleanly: trial marked, every MLflow run closed, the study resumable."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from mlflow import MlflowClient

from automl.testing import write_pipeline
from automl.tracking import tracking_uri


def _wait_for_running_epochs(storage: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        if not Path(storage[len("sqlite:///"):]).exists():
            time.sleep(0.5)
            continue
        try:
            study = optuna.load_study(study_name="tiny", storage=storage)
        except KeyError:
            time.sleep(0.5)
            continue
        running = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
        if running and running[0].intermediate_values:
            return
        time.sleep(0.3)
    raise AssertionError("no trial started reporting epochs in time")


def test_ctrl_c_marks_the_trial_closes_runs_and_resumes(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 3}, train={"epochs": 500, "batch_size": 16})
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "run", str(path)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_running_epochs(storage, time.monotonic() + 120)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL]
    assert "interrupted" in trials[0].user_attrs["fail_reason"]

    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id])
    assert runs and all(r.info.status == "KILLED" for r in runs), [r.info.status for r in runs]

    again = subprocess.run([sys.executable, "-m", "automl.cli", "run", str(path), "--trials", "1",
                            "--set", "train.epochs=1"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len(optuna.load_study(study_name="tiny", storage=storage).trials) == 2
