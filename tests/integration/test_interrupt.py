"""Ctrl-C ends the running trial cleanly: trial marked, every MLflow run closed, the study resumable."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from automl.testing import default_sigint, write_pipeline
from automl.tracking import tracking_uri


def _wait_for_running_epochs(db: Path, deadline: float) -> None:
    """Poll the study's sqlite file read-only: going through optuna.load_study here would race the run's own
    schema creation (both processes would try to stamp alembic_version on a fresh file)."""
    query = ("SELECT COUNT(*) FROM trials t JOIN trial_intermediate_values v ON v.trial_id = t.trial_id "
             "WHERE t.state = 'RUNNING'")
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
                    if conn.execute(query).fetchone()[0]:
                        return
            except sqlite3.OperationalError:  # tables not created yet, or the file is locked
                pass
        time.sleep(0.3)
    raise AssertionError("no trial started reporting epochs in time")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_marks_the_trial_closes_runs_and_resumes(tmp_path: Path, signum: int) -> None:
    path = write_pipeline(tmp_path, study={"trials": 3}, train={"epochs": 500, "batch_size": 16})
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "run", str(path)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        _wait_for_running_epochs(tmp_path / "mlruns" / "optuna.db", time.monotonic() + 120)
        proc.send_signal(signum)
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
