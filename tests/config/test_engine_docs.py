"""docs/engines.md: its pipeline examples validate, and it names every sampler, pruner and option."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pytest
import yaml
from typer.testing import CliRunner

from automl.cli import app
from automl.engines import ENGINE_PRUNERS, ENGINE_SAMPLERS
from automl.engines.options import options_model

runner = CliRunner()


def _doc(repo: Path) -> str:
    return (repo / "docs" / "engines.md").read_text()


def _pipelines(text: str) -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    return [b for b in blocks if "name" in (yaml.safe_load(b) or {})]


def test_every_pipeline_example_validates(repo: Path, tmp_path: Path) -> None:
    examples = _pipelines(_doc(repo))
    assert len(examples) >= 4
    for i, text in enumerate(examples):
        path = tmp_path / f"example{i}.yaml"
        path.write_text(text)
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 0, (text, result.output)


@pytest.mark.parametrize("kind", ["sampler", "pruner"])
def test_every_optuna_name_and_option_is_documented(repo: Path, kind: Literal["sampler", "pruner"]) -> None:
    text = _doc(repo)
    names = ENGINE_SAMPLERS["optuna"] if kind == "sampler" else ENGINE_PRUNERS["optuna"]
    for name in names:
        assert f"| `{name}` |" in text, name
        for option in options_model(kind, "optuna", name).model_fields:
            assert f"`{option}`" in text, (name, option)
