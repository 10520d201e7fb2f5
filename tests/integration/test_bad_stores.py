"""A store file that is not a SQLite database: one line naming it, exit 2, the file left as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from automl.engines.optuna import prepare_storage
from automl.errors import StudyError
from automl.testing import write_pipeline
from automl.tracking import Tracker

pytestmark = pytest.mark.fresh_folder  # damaged stores where a fresh folder would get good ones

GARBAGE = b"these bytes are no SQLite database\n" * 200


@pytest.fixture
def mlruns(tmp_path: Path) -> Path:
    (tmp_path / "mlruns").mkdir()
    return tmp_path / "mlruns"


def test_an_optuna_db_of_garbage(mlruns: Path) -> None:
    (mlruns / "optuna.db").write_bytes(GARBAGE)
    with pytest.raises(StudyError, match=r"^mlruns/optuna.db: not a SQLite database \(file is not a database\): "):
        prepare_storage("sqlite:///mlruns/optuna.db")
    assert (mlruns / "optuna.db").read_bytes() == GARBAGE


def test_an_mlflow_db_of_garbage(mlruns: Path) -> None:
    (mlruns / "mlflow.db").write_bytes(GARBAGE)
    with pytest.raises(StudyError, match=r"^mlruns/mlflow.db: not a SQLite database \(file is not a database\): "):
        Tracker("tiny")
    assert (mlruns / "mlflow.db").read_bytes() == GARBAGE


def test_a_truncated_optuna_db(mlruns: Path) -> None:
    prepare_storage("sqlite:///mlruns/optuna.db")
    db = mlruns / "optuna.db"
    cut = db.read_bytes()[:5000]  # the header survives, the pages do not
    db.write_bytes(cut)
    with pytest.raises(StudyError, match=r"^mlruns/optuna.db: not a SQLite database \(.*malformed.*\)"):
        prepare_storage("sqlite:///mlruns/optuna.db")
    assert db.read_bytes() == cut


def test_the_cli_shows_one_line(mlruns: Path, tmp_path: Path) -> None:
    (mlruns / "mlflow.db").write_bytes(GARBAGE)
    path = write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1})
    proc = subprocess.run([sys.executable, "-m", "automl.cli", "run", str(path), "--quiet"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlruns/mlflow.db: not a SQLite database"), proc.stderr
