"""`automl schema [--space]`: JSON Schemas that accept the shipped files and reject broken ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from automl.cli import app

runner = CliRunner()


def _schema(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["schema", *args])
    assert result.exit_code == 0, result.output
    schema: dict[str, Any] = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_pipeline_schema_accepts_every_shipped_pipeline(repo: Path) -> None:
    schema = _schema()
    assert {"name", "data", "space", "study", "train"} <= set(schema["properties"])
    assert "name" in schema["required"]
    pipelines = sorted((repo / "pipelines").glob("*.yaml"))
    assert pipelines
    for path in pipelines:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_pipeline_schema_rejects_unknown_keys_and_wrong_types(repo: Path) -> None:
    schema = _schema()
    doc = yaml.safe_load((repo / "pipelines" / "quickstart.yaml").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "studdy": {}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "study": {**doc["study"], "direction": "upward"}}, schema)


def test_space_schema_accepts_every_shipped_space(repo: Path) -> None:
    schema = _schema("--space")
    assert {"block", "params"} <= set(schema["properties"])
    spaces = sorted((repo / "search_spaces").glob("*.yaml"))
    assert spaces
    for path in spaces:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    assert _schema() != schema
