"""A command that is refused before it does any work leaves nothing behind (issue 24): no empty
`mlruns/optuna.db` or `mlflow.db` from `finish`, `export`, `distill` or `report` on a study that does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.testing import write_pipeline

pytestmark = pytest.mark.fresh_folder  # refusals must make no store in a fresh folder


@pytest.mark.parametrize(("verb", "says"), [
    ("finish", "no study 'tiny' in sqlite:///mlruns/optuna.db: start its workers first"),
    ("export", "no model at mlruns/tiny/best.keras"),
    ("distill", "no teacher model at mlruns/tiny/best.keras"),
    ("report", "no study 'tiny' in the MLflow store"),
])
def test_a_refused_verb_makes_no_store(tmp_path: Path, verb: str, says: str) -> None:
    path = write_pipeline(tmp_path)
    result = CliRunner().invoke(app, [verb, str(path)])
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split())
    assert not (tmp_path / "mlruns").exists()
