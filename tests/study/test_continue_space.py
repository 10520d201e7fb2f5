"""Change the space and keep going (issue 24): a resumed study whose space changed says exactly what changed;
`--continue` goes on with its trials under the new space, recorded in Optuna, MLflow and terms.json; a change
the study cannot go on through (another block, other choices of a categorical) is still refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient

import automl
from automl.testing import TINY_TABULAR_SPACE, write_pipeline


def _space(**units: Any) -> dict[str, Any]:
    return {**TINY_TABULAR_SPACE, "params": {**TINY_TABULAR_SPACE["params"], "units": {"type": "int", **units}}}


def _automl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "automl.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_a_widened_range_goes_on_with_continue(tmp_path: Path) -> None:
    first = write_pipeline(tmp_path, space=_space(low=4, high=16), study={"trials": 3}, train={"epochs": 2})
    before = automl.tune(first)
    wider = write_pipeline(tmp_path, space=_space(low=4, high=256), study={"trials": 3}, train={"epochs": 2})

    refused = _automl(tmp_path, "run", str(wider))
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "study 'tiny' exists with a different search space (units: int 4..16 -> int 4..256): run with --continue to "
        "go on with its trials under the new space, or use --name NEW_NAME for a study of its own (or another "
        "`name` in the pipeline), or --new to start 'tiny' afresh (its trials are deleted)")

    went_on = _automl(tmp_path, "run", str(wider), "--continue")
    assert went_on.returncode == 0, went_on.stderr
    assert "goes on under a changed search space from trial 3 on: units: int 4..16 -> int 4..256" in " ".join(
        (went_on.stdout + went_on.stderr).split())

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/mlruns/optuna.db")
    units = [t.params["units"] for t in study.trials]
    assert all(4 <= u <= 16 for u in units[:3]) and all(4 <= u <= 256 for u in units[3:])
    assert max(units[3:]) > 16  # the new trials sample the wider range
    assert study.best_value >= before.best_value  # the earlier trials are its history
    assert [(h["from_trial"], h["changes"]) for h in study.user_attrs["automl.spaces"]] == [
        (0, []), (3, ["units: int 4..16 -> int 4..256"])]
    terms = json.loads((tmp_path / "mlruns" / "tiny" / "terms.json").read_text())
    assert [(s["from_trial"], s["changes"]) for s in terms["spaces"]] == [(3, ["units: int 4..16 -> int 4..256"])]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    sessions = client.search_runs([client.get_experiment_by_name("tiny").experiment_id],
                                  "tags.`automl.role` = 'study'", order_by=["attributes.start_time ASC"])
    assert [s.data.tags.get("automl.space_changes") for s in sessions] == [None, "units: int 4..16 -> int 4..256"]
    assert len({s.data.params["space_fingerprint"] for s in sessions}) == 2  # which space each session ran


def test_other_choices_are_refused_even_with_continue(tmp_path: Path) -> None:
    write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1})
    automl.tune(tmp_path / "tiny.yaml")
    params = {**TINY_TABULAR_SPACE["params"], "optimizer": {"type": "categorical", "choices": ["sgd", "rmsprop"]}}
    changed = write_pipeline(tmp_path, space={**TINY_TABULAR_SPACE, "params": params}, study={"trials": 1},
                             train={"epochs": 1})
    result = _automl(tmp_path, "run", str(changed), "--continue")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "study 'tiny' exists with a different search space (optimizer: categorical [sgd, adam] -> categorical [sgd, "
        "rmsprop]): use --name NEW_NAME for a study of its own (or another `name` in the pipeline), or --new to "
        "start 'tiny' afresh (its trials are deleted)")
