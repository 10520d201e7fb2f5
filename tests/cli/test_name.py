"""`--name NAME`: every verb that takes a pipeline runs it as another study; export refuses session options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.errors import ConfigError
from automl.testing import write_pipeline

runner = CliRunner()


def _one_line_error(result: object, *parts: str) -> None:
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 2, output  # type: ignore[attr-defined]
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in output, output
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.mark.slow
def test_a_changed_space_points_to_name_and_name_makes_a_study_of_its_own(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1})
    assert runner.invoke(app, ["run", str(path), "-q"]).exit_code == 0
    changed = ["run", str(path), "-q", "--set", "space.params.units.high=32"]
    refused = runner.invoke(app, changed)
    _one_line_error(refused, "study 'tiny' exists with a different search space", "--name NEW_NAME", "--new")
    renamed = runner.invoke(app, [*changed, "--name", "tiny-wide"])
    assert renamed.exit_code == 0, renamed.output
    assert "experiment 'tiny-wide'" in renamed.output
    rows = {r["name"]: r["trials"] for r in json.loads(runner.invoke(app, ["studies", "--json"]).output)}
    assert rows == {"tiny": 1, "tiny-wide": 1}  # the first study is untouched
    assert (tmp_path / "mlruns/tiny-wide/best.keras").exists()


@pytest.mark.parametrize("verb", ["run", "distill", "export", "report"])
def test_every_verb_that_takes_a_pipeline_loads_it_under_the_name(tmp_path: Path, verb: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from automl import api

    seen = []

    def fake(target: object, overrides: object, **kwargs: object) -> None:
        seen.append(automl.load_pipeline(target, overrides).name)  # type: ignore[arg-type]
        raise ConfigError("stop here")

    monkeypatch.setattr(api, verb, fake)
    result = runner.invoke(app, [verb, str(write_pipeline(tmp_path)), "--name", "tiny-2"])
    assert result.exit_code == 2 and "stop here" in result.output, result.output
    assert seen == ["tiny-2"]


@pytest.mark.parametrize("name, message", [
    ("has space", "name: expected letters, digits"),
    ("artifacts", "name: 'artifacts' is reserved"),
    ("x-student", "names ending in '-student'"),
])
def test_name_is_checked_like_the_name_key(tmp_path: Path, name: str, message: str) -> None:
    path = write_pipeline(tmp_path)
    _one_line_error(runner.invoke(app, ["validate", str(path), "--name", name]), str(path), message)


def test_a_name_that_reads_as_a_number_stays_a_string(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path)
    assert automl.load_pipeline(path, {"name": "2024"}).name == "2024"
    result = runner.invoke(app, ["validate", str(path), "--name", "2024"])
    assert result.exit_code == 0, result.output


def test_name_needs_a_pipeline_where_a_study_name_is_accepted(tmp_path: Path) -> None:
    _one_line_error(runner.invoke(app, ["report", "tiny", "--name", "other"]), "--name", "not a pipeline file")


def test_report_of_a_pipeline_under_another_name_reads_that_study(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path)
    result = runner.invoke(app, ["report", str(path), "--name", "never-run"])
    assert result.exit_code == 2 and "never-run" in result.output, result.output


@pytest.mark.parametrize("args, where", [
    (["--trials", "3"], "--trials"),
    (["-n", "3"], "--trials"),
    (["--set", "study.trials=3"], "--set study.trials"),
    (["--set", "study.workers=2"], "--set study.workers"),
    (["--set", "distill.trials=2"], "--set distill.trials"),
])
def test_export_refuses_what_only_a_tuning_session_means(tmp_path: Path, args: list[str], where: str) -> None:
    path = write_pipeline(tmp_path)
    _one_line_error(runner.invoke(app, ["export", str(path), *args]), where, "export trains nothing")


def test_the_api_refuses_them_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="export trains nothing"):
        automl.export(write_pipeline(tmp_path), {"study.trials": 3})
