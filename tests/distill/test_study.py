"""`automl distill`: the student study, the scratch baseline, MLflow and the registry, on a tiny study."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.testing import write_pipeline
from automl.tracking import tracking_uri

runner = CliRunner()
DISTILL = {"trials": 2, "epochs": 3}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-trial study (its folder); tests chdir into a copy-free shared folder."""
    folder = tmp_path_factory.mktemp("tuned")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        pipeline = write_pipeline(folder, name="kd", study={"trials": 2}, train={"epochs": 3},
                                  space={**_space(), "params": {**_space()["params"], "units": 32, "layers": 2}})
        automl.tune(pipeline)
    finally:
        os.chdir(cwd)
    return folder


def _space() -> dict[str, Any]:
    from automl.testing import TINY_TABULAR_SPACE

    return TINY_TABULAR_SPACE


def _parent(experiment: str, role: str) -> Any:
    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], f"tags.`automl.role` = '{role}'")
    assert len(runs) >= 1
    return runs[0]


def test_distill_logs_scratch_and_distilled_students(tuned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tuned)
    result = automl.distill(tuned / "kd.yaml", {"distill": DISTILL})

    assert result.metric == "accuracy" and result.direction == "maximize"
    assert 0 < result.student_params <= 0.25 * result.teacher_params
    assert set(result.best_params) >= {"alpha", "temperature", "lr", "size"}
    assert Path(result.student_path or "").exists() and Path(result.scratch_path or "").exists()
    assert set(result.distilled_test) == set(result.scratch_test) >= {"accuracy", "loss"}
    assert result.gain == pytest.approx(result.distilled_test["accuracy"] - result.scratch_test["accuracy"])
    interval = result.interval
    assert interval is not None and result.interval_metric == "accuracy"
    assert interval.estimate == pytest.approx(result.gain, abs=1e-6)
    assert interval.low <= interval.estimate <= interval.high
    assert interval.n == 40 and interval.resamples == 1000  # 200 rows, 20% test
    assert result.verdict.startswith({True: "distillation helped", False: "distillation did not help",
                                      None: "distillation's effect is not distinguishable"}[result.helped])
    assert " pt [95% CI " in result.verdict
    # beside the gain, the gap to the teacher on the same rows and bootstrap (issue 25)
    gap = result.gap_interval
    assert gap is not None and f"; teacher {result.teacher_test['accuracy']:.4f}, gap to the teacher " in result.verdict
    assert gap.estimate == pytest.approx(result.distilled_test["accuracy"] - result.teacher_test["accuracy"], abs=1e-6)
    assert gap.low <= gap.estimate <= gap.high and gap.n == 40
    assert (result.closing is not None) == result.behind
    small = "(40 rows) is too small to tell 1 point of accuracy: that is fewer than 6 rows"
    assert result.size_warning is not None and small in result.size_warning
    info = json.loads((tuned / "mlruns" / "kd" / "student.json").read_text())
    assert info["gain"]["low"] == interval.low and info["gain"]["high"] == interval.high
    assert info["gain"]["metric"] == "accuracy" and info["gain"]["size_warning"] == result.size_warning
    assert info["gap_to_teacher"]["low"] == gap.low and info["gap_to_teacher"]["high"] == gap.high
    assert info["gap_to_teacher"]["closing"] == result.closing and info["epochs"] == DISTILL["epochs"]

    study = optuna.load_study(study_name="kd-student", storage="sqlite:///mlruns/optuna.db")
    assert len(study.trials) == 2

    parent = _parent("kd", "distill")
    metrics = parent.data.metrics
    assert metrics["student_distilled_accuracy"] == pytest.approx(result.distilled_test["accuracy"])
    assert metrics["student_scratch_accuracy"] == pytest.approx(result.scratch_test["accuracy"])
    assert metrics["teacher_accuracy"] == pytest.approx(result.teacher_test["accuracy"])
    assert metrics["student_params"] == result.student_params and parent.info.status == "FINISHED"
    assert metrics["distill_gain_ci_low"] == pytest.approx(interval.low)
    assert metrics["distill_gain_ci_high"] == pytest.approx(interval.high)
    assert metrics["distill_gap_ci_low"] == pytest.approx(gap.low) and metrics["distill_gap"] == pytest.approx(
        gap.estimate, abs=1e-6)
    assert parent.data.tags.get("automl.distill_closing") == result.closing
    client = MlflowClient(tracking_uri())
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 2 and all("alpha" in c.data.params for c in children)

    version = client.get_model_version("kd-student", result.registered_version)
    assert int(version.tags["student_params"]) == result.student_params
    info = json.loads(Path("mlruns/kd/student.json").read_text())
    assert info["scratch_test"] == result.scratch_test
    # which student export.model auto ships is decided on validation: both values recorded, the pick follows them
    assert result.distilled_val == pytest.approx(result.best_value)
    assert result.scratch_val is not None and info["validation"] == {"distilled": result.distilled_val,
                                                                     "scratch": result.scratch_val}
    assert info["pick"] == result.pick == ("scratch" if result.scratch_val > result.distilled_val else "distilled")
    assert parent.data.tags["automl.student_pick"] == result.pick
    assert metrics["student_scratch_val_accuracy"] == pytest.approx(result.scratch_val)
    # the student is an MLflow Keras model too (issue 14), and `automl predict --model student` reads the file
    import mlflow
    import numpy as np

    student = automl.load_model(tuned / "kd.yaml", "student")
    x = np.random.default_rng(0).normal(size=(4, *student.input_shape)).astype(np.float32)
    mlflow.set_tracking_uri(tracking_uri())
    try:
        logged = mlflow.keras.load_model(parent.data.tags["automl.student"])
    finally:
        mlflow.set_tracking_uri(None)
    np.testing.assert_allclose(logged.predict(x, verbose=0), student.model.predict(x, verbose=0), atol=1e-6)
    assert len(student.predict(x)) == 4


def test_a_student_space_and_fixed_alpha_temperature(tuned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tuned)
    space = {"block": "mlp", "params": {"layers": 1, "units": 3, "optimizer": "adam"}}
    result = automl.distill(tuned / "kd.yaml", {"distill": {**DISTILL, "trials": 1, "student": space,
                                                            "alpha": 0.5, "temperature": 2.0, "lr": 0.01}})
    assert result.best_params["alpha"] == 0.5 and result.best_params["temperature"] == 2.0
    info = json.loads(Path("mlruns/kd/student.json").read_text())
    assert info["hp"]["units"] == 3 and info["hp"]["layers"] == 1 and info["hp"]["lr"] == 0.01
    assert result.student_params == 8 * 3 + 3 + 3 * 3 + 3  # hidden + logits (Normalization: constants)


def test_cli_distill_prints_the_comparison(tuned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tuned)
    out = runner.invoke(app, ["distill", "kd.yaml", "--trials", "1", "--set", "distill.epochs=2"])
    assert out.exit_code == 0, out.output
    assert "student (from scratch)" in out.output and "student (distilled)" in out.output
    assert "distillation" in out.output and "teacher" in out.output and "weights" in out.output
    assert " pt [95% CI " in out.output and "warning: the test split (40 rows) is too small" in out.output
    assert "gap to the teacher" in out.output


def test_cli_distill_without_a_study_is_one_line_and_exit_2(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path, name="fresh")
    out = runner.invoke(app, ["distill", str(pipeline)])
    assert out.exit_code == 2
    assert out.output.strip() == (f"no teacher model at mlruns/fresh/best.keras: run `automl run {pipeline}` "
                                  "first (or pass a .keras teacher)")


def test_alpha_in_the_student_space_is_refused(tuned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tuned)
    space = {"block": "mlp", "params": {"alpha": 0.5}}
    out = runner.invoke(app, ["distill", "kd.yaml", "--set", f"distill.student={json.dumps(space)}"])
    assert out.exit_code == 2
    assert "kd.yaml: distill.student.params.alpha: `alpha` is set under distill" in out.output


def test_depth_and_mixup_reach_the_students(tuned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automl.config import load_pipeline
    from automl.distill.objective import StudentObjective
    from automl.plan import make_plan

    monkeypatch.chdir(tuned)
    searched = {"depth": {"type": "categorical", "choices": [0.5, 1.0]}, "mixup": 0.3, "size": 0.25}
    objective = StudentObjective(make_plan(load_pipeline(tuned / "kd.yaml", {"distill": searched})))
    assert objective.space.params["depth"].grid() == [0.5, 1.0]
    values = {"block": "mlp", "alpha": 0.5, "temperature": 2.0, "mixup": 0.3, "size": 0.25, "lr": 0.01}
    _, deep, deep_params = objective.architecture({**values, "depth": 1.0})
    _, shallow, shallow_params = objective.architecture({**values, "depth": 0.5})
    assert (deep["layers"], shallow["layers"]) == (2, 1)
    assert shallow["units"] > deep["units"]  # the layer it lost went to width
    assert max(deep_params, shallow_params) <= 0.25 * objective.teacher_params
    request, _ = objective.student_request(0, {**values, "depth": 0.5}, objective.spec)
    assert request.teacher is not None and request.teacher.mixup == 0.3
    scratch, _ = objective.student_request(0, {**values, "depth": 0.5}, objective.spec, distilled=False)
    assert scratch.teacher is None and scratch.hp["layers"] == 1  # the baseline: the same shallow student
