"""`automl studies` never cuts a study name: piped, at 80 columns, in a narrow terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.fresh_folder  # it makes mlruns/ and its Optuna studies itself (no MLflow store)

NAMES = ["quickstart", "quickstart-keras-tuner-bayesian", "a-rather-long-study-name." + "x" * 75]


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    (tmp_path / "mlruns").mkdir()
    for name in NAMES:
        study = optuna.create_study(study_name=name, storage="sqlite:///mlruns/optuna.db", direction="maximize")
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
    return tmp_path


def _studies(columns: int, *args: str) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run([sys.executable, "-m", "automl.cli", "studies", *args], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("columns", [80, 40])
def test_piped_at_narrow_widths_every_name_is_whole_on_one_line(stored: Path, columns: int) -> None:
    out = _studies(columns)
    lines = out.splitlines()
    for name in NAMES:
        assert any(name in line for line in lines), f"{name} cut in:\n{out}"
    assert "…" not in out


def test_json_is_unchanged(stored: Path) -> None:
    rows = json.loads(_studies(80, "--json"))
    assert [r["name"] for r in rows] == sorted(NAMES)
