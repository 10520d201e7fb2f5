"""Which task a target implies (automl.data.loader.task_rule), and one error for every key that contradicts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.data import task_rule
from automl.data.sources import RawData
from automl.testing import write_pipeline

runner = CliRunner()
ROWS = 400


def _rule(y: Any) -> tuple[str, bool]:
    y = np.asarray(y)
    rule = task_rule(RawData(x=np.zeros((len(y), 2), np.float32), y=y))
    return rule.task, rule.certain


@pytest.mark.parametrize("y, task, certain", [
    (np.repeat(["cat", "dog"], ROWS // 2), "classification", True),  # text
    (np.repeat([True, False], ROWS // 2), "classification", True),
    (np.arange(ROWS) % 3 + 0.5, "regression", True),  # not integers, even with few values
    (np.arange(ROWS) % 5 * 1.0, "classification", False),  # integral floats: 5 classes
    (np.arange(ROWS) % 20, "classification", False),  # 20 distinct: at most INTEGER_CLASSES
    (np.arange(ROWS) % 21, "regression", False),  # 21 distinct, 5.25% of 400 rows
    (np.arange(2000) % 60, "classification", False),  # 60 distinct but 3% of 2000 rows
    (np.arange(5000) % 101, "regression", True),  # more than MAX_CLASSES
])
def test_the_rule(y: Any, task: str, certain: bool) -> None:
    assert _rule(y) == (task, certain)


def test_nan_targets_are_ignored() -> None:
    assert _rule(np.r_[np.arange(ROWS) % 3, np.nan].astype(float))[0] == "classification"


def _csv(folder: Path, y: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    path = folder / "houses.csv"
    rows = [f"{a:.3f},{b:.3f},{t}" for a, b, t in zip(rng.normal(size=len(y)), rng.normal(size=len(y)), y,
                                                           strict=True)]
    path.write_text("a,b,price\n" + "\n".join(rows) + "\n")
    return path


def _pipeline(folder: Path, **keys: Any) -> Path:
    data = {"source": "csv", "path": str(_csv(folder, np.round(np.linspace(1, 50, 200), 2))), "target": "price"}
    study = {k: v for k, v in keys.items() if k in ("metric", "direction")}
    extra = {"task": keys["task"]} if "task" in keys else {}
    return write_pipeline(folder, data=data, study=study, **extra)


def test_a_continuous_target_infers_regression_with_its_metric_and_direction(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_pipeline(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "regression on csv" in result.output and "val_loss minimize" in result.output


def test_every_contradiction_at_once_with_the_rule(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, task="classification", metric="val_accuracy", direction="maximize")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0] == (
        f"{path}: the task is regression (values that are not integers, e.g. 1.25), which task: classification, "
        "study.metric: val_accuracy (a classification metric), study.direction: maximize contradict: set task: "
        "regression, study.metric: val_loss (or val_mae, val_mse, val_rmse), study.direction: minimize (val_loss), "
        "or leave them out to have them inferred")


def test_an_inferred_task_reports_the_metric_and_direction_that_contradict_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_pipeline(tmp_path, metric="val_f1", direction="maximize"))])
    assert result.exit_code == 2
    assert "which study.metric: val_f1 (a classification metric), study.direction: maximize contradict" in result.output


def test_a_direction_alone_is_the_plain_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_pipeline(tmp_path, direction="maximize"))])
    assert result.exit_code == 2
    assert "study.direction: val_loss must be minimized, got direction=maximize" in result.output


def test_a_metric_of_no_task_keeps_its_did_you_mean(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_pipeline(tmp_path, metric="val_rmes"))])
    assert result.exit_code == 2 and "did you mean 'val_rmse'" in result.output, result.output


def test_the_pipeline_may_call_a_count_a_class(tmp_path: Path) -> None:
    # 30 distinct integers in 200 rows: regression by rule 5, which a pipeline's `task` overrides
    data = {"source": "csv", "path": str(_csv(tmp_path, np.arange(200) % 30)), "target": "price"}
    assert "regression on csv" in runner.invoke(app, ["validate", str(write_pipeline(tmp_path, data=data))]).output
    path = write_pipeline(tmp_path, data=data, task="classification")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0 and "classification on csv" in result.output, result.output
