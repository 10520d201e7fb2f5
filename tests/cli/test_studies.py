"""`automl studies`: what the Optuna storage holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.testing.studies import StudyDir

runner = CliRunner()


def test_lists_the_study_with_trial_counts_and_best_value(tiny_study: StudyDir, in_study: Path) -> None:
    result = runner.invoke(app, ["studies"], terminal_width=200)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "tiny" in line and "optuna" in line)
    assert f"{tiny_study.result.best_value:.4f}" in row
    assert "automl report NAME" in result.output


def test_json_output_is_machine_readable(tiny_study: StudyDir, in_study: Path) -> None:
    result = runner.invoke(app, ["studies", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    tiny = next(r for r in rows if r["name"] == "tiny")
    assert tiny["trials"] >= 4 and tiny["trials"] == tiny["complete"] + tiny["pruned"] + tiny["failed"]
    assert tiny["best_value"] == pytest.approx(tiny_study.result.best_value)
    assert tiny["direction"] == "maximize" and tiny["engine"] == "optuna"


def test_explicit_storage_option(tiny_study: StudyDir) -> None:
    result = runner.invoke(app, ["studies", "--json", "--storage", tiny_study.storage])
    assert [r["name"] for r in json.loads(result.output)] == ["tiny"]


@pytest.mark.fresh_folder  # it checks what is (not) written into a fresh folder
def test_an_empty_folder_has_no_studies_and_gets_no_database() -> None:
    result = runner.invoke(app, ["studies"])
    assert result.exit_code == 0
    assert "no studies in sqlite:///mlruns/optuna.db" in result.output
    assert not Path("mlruns").exists()
    assert json.loads(runner.invoke(app, ["studies", "--json"]).output) == []
