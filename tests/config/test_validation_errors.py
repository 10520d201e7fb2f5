"""Every bad input named by the backbone issue gives one line `FILE: key.path: ...` and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from automl.cli import app
from automl.testing import write_pipeline

runner = CliRunner()


def _validate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *args])
    return result.exit_code, result.output.strip()


def _pipeline(tmp_path: Path, **kwargs: object) -> str:
    return str(write_pipeline(tmp_path, **kwargs))  # type: ignore[arg-type]


def test_valid_pipeline_passes(tmp_path: Path) -> None:
    code, out = _validate(_pipeline(tmp_path))
    assert code == 0, out
    assert out.startswith("ok pipeline")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("study.trials=-3", "tiny.yaml: study.trials: expected a positive integer, got -3"),
        ("study.trials=many", "tiny.yaml: study.trials: expected an integer, got 'many'"),
        ("study.sampeler=tpe", "tiny.yaml: study.sampeler: unknown key; did you mean 'sampler'?"),
        ("study.sampler=tpee", "tiny.yaml: study.sampler: unknown optuna sampler 'tpee'; did you mean 'tpe'?"),
        ("study.engine=optunaa", "tiny.yaml: study.engine: unknown engine 'optunaa'; did you mean 'optuna'?"),
        ("study.pruner=meadian", "tiny.yaml: study.pruner: unknown pruner 'meadian'; did you mean 'median'?"),
        ("study.direction=minimize", "tiny.yaml: study.direction: val_accuracy must be maximized, got "
                                     "direction=minimize"),
        ("study.metric=val_f2", "tiny.yaml: study.metric: unknown metric for classification 'val_f2'"),
        ("data.sorce=digits", "tiny.yaml: data.sorce: unknown key; did you mean 'source'?"),
        ("data.target=label", "tiny.yaml: data.target: does not apply to source 'synthetic'"),
        ("train.epochs=0", "tiny.yaml: train.epochs: expected a positive integer, got 0"),
        ("train.epoch_metrics=[f1,mea]", "tiny.yaml: train.epoch_metrics.1: unknown metric for classification "
                                         "'mea'"),
        ("nmae=x", "tiny.yaml: nmae: unknown key; did you mean 'name'?"),
    ],
)
def test_pipeline_errors_are_one_line(tmp_path: Path, override: str, expected: str) -> None:
    code, out = _validate(_pipeline(tmp_path), "--set", override)
    assert code == 2
    assert len(out.splitlines()) == 1, out
    assert expected in out, out


def _space_error(tmp_path: Path, space: dict) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    code, out = _validate(str(path))
    assert code == 2, out
    assert len(out.splitlines()) == 1, out
    return out


def test_low_above_high(tmp_path: Path) -> None:
    out = _space_error(tmp_path, {"block": "mlp", "params": {"units": {"type": "int", "low": 64, "high": 8}}})
    assert out.endswith("space.yaml: params.units: `low <= high` must hold, got low=64, high=8")


def test_empty_categorical(tmp_path: Path) -> None:
    out = _space_error(tmp_path, {"block": "mlp", "params": {"activation": {"type": "categorical", "choices": []}}})
    assert "params.activation.choices: a categorical parameter needs at least one choice, got []" in out


def test_condition_on_unknown_parameter(tmp_path: Path) -> None:
    out = _space_error(tmp_path, {"block": "mlp", "params": {
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimzer": "sgd"}}}})
    assert "params.momentum.when.optimzer: condition on unknown parameter 'optimzer'; did you mean 'optimizer'?" in out


def test_condition_value_that_never_holds(tmp_path: Path) -> None:
    out = _space_error(tmp_path, {"block": "mlp", "params": {
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sdg"}}}})
    assert "params.momentum.when.optimizer: condition value(s) ['sdg'] can never hold" in out


def test_unknown_block(tmp_path: Path) -> None:
    out = _space_error(tmp_path, {"block": "cnnn"})
    assert "space.yaml: block: unknown block 'cnnn'; did you mean 'cnn'?" in out


def test_unknown_param_type(tmp_path: Path) -> None:
    out = _space_error(tmp_path, {"block": "mlp", "params": {"units": {"type": "integer", "low": 1, "high": 2}}})
    assert "params.units: expected `type` to be one of int, float, categorical, got 'integer'" in out


def test_param_no_block_uses(tmp_path: Path) -> None:
    out = _space_error(tmp_path, {"block": "mlp", "params": {"unit": {"type": "int", "low": 1, "high": 2}}})
    assert "params.unit: not a hyperparameter of block(s) mlp or of training; did you mean 'units'?" in out


def test_block_that_does_not_fit_the_data(tmp_path: Path) -> None:
    code, out = _validate(_pipeline(tmp_path, space={"block": "cnn"}))
    assert code == 2
    assert "tiny.yaml: space.block: 'cnn' needs image (N, H, W, C) data, got tabular (N, F) data" in out


def test_missing_data_file(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, data={"source": "csv", "path": "nowhere.csv", "target": "y"})
    code, out = _validate(path)
    assert code == 2
    assert out.startswith(f"{path}: data.path: file not found:") and out.endswith("nowhere.csv"), out


def test_csv_without_target_column(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)))
    code, out = _validate(_pipeline(tmp_path, data={"source": "csv", "path": "d.csv", "target": "lable"}))
    assert code == 2
    assert "tiny.yaml: data.target: column 'lable' not in d.csv; did you mean 'label'?" in out


def test_relative_paths_on_the_command_line_follow_the_working_directory(tmp_path: Path) -> None:
    sub = tmp_path / "pipes"
    sub.mkdir()
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)))
    path = _pipeline(sub, data={"source": "csv", "path": "../d.csv", "target": "label"})
    assert _validate(path)[0] == 0  # relative to the YAML file
    code, out = _validate(path, "--set", "data.path=d.csv")  # relative to the working directory
    assert code == 0, out


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    code, out = _validate(str(path))
    assert code == 2 and out.startswith(f"{path}: invalid YAML: line"), out


def test_no_traceback_from_the_real_command(tmp_path: Path) -> None:
    path = _pipeline(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "automl.cli", "validate", path, "--set", "study.trials=-3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{path}: study.trials: expected a positive integer, got -3"
    assert "Traceback" not in proc.stdout + proc.stderr
