"""`study.measure.command` and `export.measure.command`: a latency command must name the file it times
(`{tflite}`), and its timeout must be positive; one line naming the file and the key, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.config import load_pipeline
from automl.testing import write_pipeline

runner = CliRunner()
STUDY = {"objectives": ["val_accuracy", "tflite_latency_ms"]}


def _error(path: Path) -> str:
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(("where", "measure", "message"), [
    ("study", {"command": "adb shell benchmark_model --graph=m.tflite"},
     "study.measure.command: expected a shell command containing {tflite} (the path of the .tflite file to time), "
     "got 'adb shell benchmark_model --graph=m.tflite'"),
    ("study", {"command": "  "}, "study.measure.command: expected a shell command containing {tflite}, got an empty "
     "string"),
    ("study", {"command": "./time.sh {tflite}", "command_timeout": 0}, "study.measure.command_timeout: "),
    ("export", {"command": "./time.sh"}, "export.measure.command: expected a shell command containing {tflite}"),
])
def test_a_command_must_name_the_file(tmp_path: Path, where: str, measure: dict[str, Any], message: str) -> None:
    extra: dict[str, Any] = {"study": {**STUDY, "measure": measure}} if where == "study" else \
        {"export": {"measure": measure}}
    path = write_pipeline(tmp_path, **extra)
    assert _error(path).startswith(f"{path}: {message}")


def test_a_command_is_read_with_its_timeout(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={**STUDY, "measure": {"command": "./time.sh {tflite}"}},
                          export={"measure": {"command": "./time.sh {tflite}", "command_timeout": 60}})
    config = load_pipeline(path).config
    assert config.study.measure.command == "./time.sh {tflite}" and config.study.measure.command_timeout == 300
    assert config.export is not None and config.export.measure.command_timeout == 60


def test_study_and_export_share_one_command_model(tmp_path: Path) -> None:
    from automl.config.models import CommandConfig
    from automl.tflite.device import DeviceCommand

    path = write_pipeline(tmp_path, study={**STUDY, "measure": {"command": "./a.sh {tflite}"}},
                          export={"measure": {"command": "./b.sh {tflite}", "command_timeout": 60}})
    config = load_pipeline(path).config
    assert config.export is not None
    assert isinstance(config.study.measure, CommandConfig) and type(config.export.measure) is CommandConfig
    assert config.export.measure.device("export.measure.command") == DeviceCommand("./b.sh {tflite}", 60.0,
                                                                                   "export.measure.command")
    assert CommandConfig().device("export.measure.command") is None
