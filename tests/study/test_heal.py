"""A start settles what a killed process left RUNNING: its Optuna trial FAIL, its MLflow runs FAILED."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import optuna
from mlflow import MlflowClient
from typer.testing import CliRunner

from automl.cli import app
from automl.testing import write_pipeline


def _automl(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "automl.cli", "run", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


def test_kill_9_mid_trial_is_healed_on_the_next_start(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 3}, train={"epochs": 3, "isolation": "process"})
    killed = _automl(tmp_path, str(path), env={"AUTOML_FAULT": "epoch_end:kill:5"})  # trial 1, epoch 2
    assert killed.returncode == -9
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("tiny").experiment_id
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "RUNNING"]
    assert trials[1].user_attrs["mlflow_run_id"]  # recorded when the trial started
    assert sorted(r.info.status for r in client.search_runs([experiment])) == ["FINISHED", "RUNNING", "RUNNING"]

    # the next start in this process: the killed one is the subprocess (a second one proved nothing more)
    again = CliRunner().invoke(app, ["run", str(path), "--trials", "1"])
    assert again.exit_code == 0 and again.exception is None, again.output
    assert "trial 1 was left RUNNING and is now FAIL" in again.output
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    reason = trials[1].user_attrs["fail_reason"]
    assert reason.startswith("process ") and reason.endswith(f" on {socket.gethostname()} died")
    runs = client.search_runs([experiment])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    dead = [r for r in runs if r.info.status == "FAILED"]
    assert len(dead) == 2 and all(r.data.tags["automl.fail_reason"] == reason for r in dead)
    assert {r.data.tags["automl.role"] for r in dead} == {"study", "trial"}
    # the invariant: every finished trial belongs to a session, each session ran the trials it was asked for
    # (the killed one: those it started)
    sessions = [t.user_attrs["automl.session"] for t in trials]
    assert sessions[0] == sessions[1] != sessions[2]
