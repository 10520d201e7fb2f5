"""`--set space.X=...` reaches a space that lives in its own file (issue 24): the loaded space changes, the file
does not, and the resolved pipeline logged to MLflow shows the change."""

from __future__ import annotations

from pathlib import Path

import optuna
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner, Result

from automl.cli import app
from automl.testing import TINY_TABULAR_SPACE, write_pipeline


def _automl(cwd: Path, *args: str) -> Result:
    """In this process: a subprocess would prove nothing more than its TensorFlow import (the working directory is
    the test's already)."""
    assert Path.cwd() == cwd
    return CliRunner().invoke(app, list(args))


def test_set_changes_the_loaded_space_file(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(TINY_TABULAR_SPACE))
    before = space.read_text()
    path = write_pipeline(tmp_path, space="space.yaml", study={"trials": 2}, train={"epochs": 1})
    result = _automl(tmp_path, "run", str(path), "--set", "space.params.units=7",
                     "--set", "space.params.lr=0.01")
    assert result.exit_code == 0, result.output
    assert space.read_text() == before
    trials = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/mlruns/optuna.db").trials
    assert [t.params.get("units") for t in trials] == [None, None]  # fixed now: not sampled
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id],
                              "tags.`automl.role` = 'trial'")
    assert {r.data.params["units"] for r in runs} == {"7"} and {r.data.params["lr"] for r in runs} == {"0.01"}


def test_a_bad_value_set_into_a_space_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(TINY_TABULAR_SPACE))
    path = write_pipeline(tmp_path, space="space.yaml")
    result = _automl(tmp_path, "validate", str(path), "--set", "space.params.units.low=-3")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "params.units" in result.stderr, result.output
