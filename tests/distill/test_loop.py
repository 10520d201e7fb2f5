"""The student study is a session of the one study loop: trial processes, workers, timeout, precision, the
batched epoch logging, and the hand-off from `automl run` (one plan; export takes this run's student)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

import automl
from automl.testing import TINY_TABULAR_SPACE, write_pipeline
from automl.tracking import tracking_uri


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kdloop")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        automl.tune(write_pipeline(folder, name="kdl", study={"trials": 1}, train={"epochs": 2},
                                   space={**TINY_TABULAR_SPACE, "params": {**TINY_TABULAR_SPACE["params"],
                                                                            "units": 16}}))
    finally:
        os.chdir(cwd)
    return folder


def _student_runs(parent_id: str) -> list[Any]:
    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name("kdl")
    return client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'")


def test_students_train_in_a_trial_process_with_the_loops_logging(tuned: Path, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    monkeypatch.chdir(tuned)
    result = automl.distill(tuned / "kdl.yaml", {"distill": {"trials": 2, "epochs": 3},
                                                 "train.isolation": "process"})
    assert result.student_path and result.scratch_path and result.distilled_test and result.scratch_test
    runs = _student_runs(result.parent_run_id)
    assert sorted(r.info.run_name for r in runs) == ["student-0", "student-1"]
    client = MlflowClient(tracking_uri())
    for run in runs:
        assert run.data.tags["automl.role"] == "student-trial" and run.info.status == "FINISHED"
        assert "params_ratio" in run.data.metrics and "trial_seconds" in run.data.metrics
        # every epoch reached MLflow (in batches), as the tuning study's trials do
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [0, 1, 2]
    # the process path records the trial process's owner like any trial
    trials = optuna.load_study(study_name="kdl-student", storage="sqlite:///mlruns/optuna.db").trials
    assert all(t.user_attrs.get("mlflow_run_id") for t in trials)
    info = json.loads(Path("mlruns/kdl/student.json").read_text())
    assert len(info["teacher_sha256"]) == 64


@pytest.mark.slow  # two worker processes: ~45 s on 2 cores
def test_students_share_study_workers(tuned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tuned)
    result = automl.distill(tuned / "kdl.yaml", {"distill": {"trials": 2, "epochs": 2}, "study.workers": 2})
    runs = _student_runs(result.parent_run_id)
    assert sorted(r.data.tags["automl.worker"] for r in runs) == ["0", "1"]
    assert result.student_path and Path(result.student_path).exists() and result.scratch_test
    assert not Path("mlruns/kdl/candidates").exists()


def test_a_student_past_the_trial_timeout_fails_with_the_reason(tuned: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    monkeypatch.chdir(tuned)
    result = automl.distill(tuned / "kdl.yaml", {"distill": {"trials": 1, "epochs": 3},
                                                 "study.trial_timeout": 0.001})
    assert result.student_path is None and result.verdict == "no student completed: nothing to compare"
    (run,) = _student_runs(result.parent_run_id)
    assert run.data.tags["automl.fail_reason"] == "exceeded trial_timeout 0.001 s"


def test_students_train_in_the_plans_precision(tuned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    monkeypatch.chdir(tuned)
    result = automl.distill(tuned / "kdl.yaml", {"distill": {"trials": 1, "epochs": 2},
                                                 "train.precision": "mixed_bfloat16"})
    client = MlflowClient(tracking_uri())
    assert client.get_run(result.parent_run_id).data.params["precision"] == "mixed_bfloat16"
    assert result.student_path is not None
    student = keras.models.load_model(result.student_path)  # saved as an ordinary float32 model
    assert {str(w.dtype) for w in student.weights} == {"float32"}
    assert result.distilled_test["accuracy"] > 0
