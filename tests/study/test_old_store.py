"""A store written by the first release (automl 0.1.0, before study folder markers, owner records and trial
processes) resumes: its leftovers are healed, its best model and history kept."""

from __future__ import annotations

import sqlite3
import tarfile
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

import automl

pytestmark = pytest.mark.fresh_folder  # a store of the first release, unpacked into a fresh folder

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_0_1_0.tar.gz"


def _unpack(folder: Path) -> None:
    """The fixture, as if made in ``folder`` (MLflow stores absolute artifact locations)."""
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(folder, filter="data")
    with closing(sqlite3.connect(folder / "mlruns" / "mlflow.db")) as db, db:
        for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
            db.execute(f"UPDATE {table} SET {column} = replace({column}, '/tmp/oldstore', ?)", (str(folder),))


def test_a_store_of_the_first_release_resumes(tmp_path: Path) -> None:
    # made by 0.1.0: a study of 2 complete trials, then a session killed (-9) during its trial 2
    _unpack(tmp_path)
    best_before = (tmp_path / "mlruns" / "old" / "best.keras").read_bytes()
    result = automl.run(tmp_path / "old.yaml", {"study.trials": 1, "train.isolation": "inline"})
    states = [t.state for t in result.trials]
    assert states[:3] == ["COMPLETE", "COMPLETE", "FAIL"] and len(states) == 4
    assert "no owner after 60 s" in result.trials[2].attrs["fail_reason"]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("old").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert len([r for r in runs if r.info.status == "FAILED"]) == 2  # the killed session's run and its trial's
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    assert len(optuna.load_study(study_name="old", storage=storage).trials) == 4
    assert (tmp_path / "mlruns" / "old" / ".automl-study.json").exists()  # adopted
    if result.best_trial in (0, 1):  # no better trial: the old best model is kept as it was
        assert (tmp_path / "mlruns" / "old" / "best.keras").read_bytes() == best_before
