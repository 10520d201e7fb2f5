"""Reproductions of the data-loss defects: a name or --new must never delete what another study owns, and a
damaged best model is rebuilt, never a crash."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from automl.config import load_pipeline
from automl.study.tune import tune
from automl.testing import write_pipeline
from automl.testing.runner import FakeRunner


def _hashes(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not any(str(p.relative_to(root)).startswith(s) for s in skip)}


def _automl(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "automl.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def test_a_name_the_store_owns_is_refused_and_deletes_nothing(tmp_path: Path, made_stores: Path) -> None:
    # the first study's trial is the fake runner's (its model file a placeholder): what matters is what the refused
    # names would have deleted, and the refusals come before any trial
    tune(load_pipeline(write_pipeline(tmp_path, name="a", study={"trials": 1}, train={"epochs": 1})),
         runners=FakeRunner().factory)
    (tmp_path / "mlruns" / "keras_tuner" / "other").mkdir(parents=True)
    (tmp_path / "mlruns" / "keras_tuner" / "other" / "automl.json").write_text("{}")
    before = _hashes(tmp_path / "mlruns", skip=("mlflow.db", "optuna.db"))
    from typer.testing import CliRunner

    from automl.cli import app

    for name in ("artifacts", "keras_tuner", "mlflow.db", "optuna.db", "a-student", "a-tflite"):
        path = write_pipeline(tmp_path, name=name, study={"trials": 1}, train={"epochs": 1})
        result = CliRunner().invoke(app, ["run", str(path), "--new"])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{path}: name: '{name}' is reserved"), result.output
    assert _hashes(tmp_path / "mlruns", skip=("mlflow.db", "optuna.db")) == before


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_new_keeps_a_keras_tuner_folder_automl_did_not_make(tmp_path: Path) -> None:
    theirs = tmp_path / "elsewhere" / "keras_tuner" / "tiny"
    theirs.mkdir(parents=True)
    (theirs / "oracle.json").write_text('{"another": "tool"}')
    path = write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1})
    result = _automl(tmp_path, "run", str(path), "--storage", "sqlite:///elsewhere/x.db", "--new")
    assert result.returncode == 0, result.stderr
    assert (theirs / "oracle.json").read_text() == '{"another": "tool"}'
    kt = _automl(tmp_path, "run", str(path), "--storage", "sqlite:///elsewhere/x.db", "--new",
                 "--set", "study.engine=keras_tuner", "--set", "study.sampler=random")
    assert kt.returncode == 2 and "holds files automl did not make" in kt.stderr, kt.stderr
    assert (theirs / "oracle.json").read_text() == '{"another": "tool"}'


# The same damage (a truncated best.keras, every trial of the resumed session failing) rebuilt for real, in the
# trial process: tests/trial/test_process.py::
# test_an_unguarded_script_runs_its_studies_once_and_its_process_never_imports_keras; the loop's note and rebuild
# with the fake runner: tests/study/test_loop_records.py::
# test_a_trial_process_dying_while_saving_is_a_note_and_the_end_rebuilds_the_model.
@pytest.mark.slow
def test_a_damaged_best_model_is_rebuilt_on_resume(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 2}, train={"epochs": 2})
    assert _automl(tmp_path, "run", str(path)).returncode == 0
    best = tmp_path / "mlruns" / "tiny" / "best.keras"
    best.write_bytes(best.read_bytes()[:100])  # truncated, as by a kill during an in-place save
    # every trial of the resumed session fails, so none replaces the damaged file
    again = _automl(tmp_path, "run", str(path), "--trials", "1", env={"AUTOML_FAULT": "trial_start:raise:*"})
    assert "Traceback" not in again.stderr, again.stderr
    assert again.returncode == 1 and "no trial completed" in again.stderr, again.stdout + again.stderr
    assert "is not a Keras model Keras can load" in again.stdout and "rebuilding it from trial" in again.stdout
    import keras

    keras.models.load_model(best)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    trials = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/mlruns/optuna.db").trials
    assert [t.state.name for t in trials][2:] == ["FAIL"]
    assert "fault injected at trial_start" in trials[2].user_attrs["fail_reason"]


def test_a_kill_during_the_save_of_the_best_model_leaves_it_whole(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 3}, train={"epochs": 2})
    killed = _automl(tmp_path, "run", str(path), env={"AUTOML_FAULT": "save_best:kill:2"})
    assert killed.returncode == -9
    best = tmp_path / "mlruns" / "tiny" / "best.keras"
    # the next start in this process (a second subprocess proved nothing more, for a Python start and a Keras import)
    from typer.testing import CliRunner

    from automl.cli import app

    again = CliRunner().invoke(app, ["run", str(path), "--trials", "1"])
    assert again.exit_code == 0 and again.exception is None and "Traceback" not in again.output, again.output
    import keras

    keras.models.load_model(best)
    assert not list(best.parent.glob(".*.tmp.*"))  # the killed save's temporary file is swept
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"], [r.data.tags.get("mlflow.runName") for r in runs]
