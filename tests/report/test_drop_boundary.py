"""The report and the CLI agree on whether an export is over ``export.max_drop`` (one test, one tolerance:
:func:`automl.stats.over_max_drop`), at the boundary too: the report once flagged a file the CLI passed."""

from __future__ import annotations

import pytest

from automl import cli
from automl.export.exporter import ExportedFile, ExportResult
from automl.report.collect import StudyData
from automl.report.html import render
from automl.stats import DROP_TOLERANCE, metric_drop, over_max_drop
from automl.tflite.validate import TensorSpec, Validation

MAX_DROP = 0.01


def _validation(drop: float) -> Validation:
    spec = TensorSpec(name="x", shape=[-1, 4], dtype="float32")
    return Validation(format="int8", file="best_int8.tflite", task="classification", metric="accuracy",
                      size_bytes=2048, keras_value=0.9, tflite_value=0.9 - drop, drop=drop, max_drop=MAX_DROP,
                      agreement=0.99, mean_abs_diff=0.0, max_abs_diff=0.0, latency_ms_median=0.1, latency_ms_p90=0.1,
                      keras_latency_ms_median=1.0, samples=100, input=spec, output=spec)


def _cli_flags(v: Validation, capsys: pytest.CaptureFixture[str]) -> bool:
    result = ExportResult(name="s", model="best", model_path="best.keras",
                          files=[ExportedFile(format="int8", path="best_int8.tflite", json_path="", validation=v)])
    cli._print_export(result)
    return "flagged: best_int8.tflite" in capsys.readouterr().err


def _report_flags(v: Validation) -> bool:
    study = StudyData(name="s", metric="val_accuracy", direction="maximize", tracking_uri="sqlite:///m.db",
                      experiment_id="1", sessions=[], trials=[], test_metrics={}, exports=[v.to_dict()], settings={})
    return " flagged</span>" in render(study, {}, {})


@pytest.mark.parametrize("over", [0.0, DROP_TOLERANCE / 2, DROP_TOLERANCE * 2, 0.001])
def test_the_report_and_the_cli_agree_at_the_boundary(over: float, capsys: pytest.CaptureFixture[str]) -> None:
    v = _validation(MAX_DROP + over)
    expected = over > DROP_TOLERANCE
    assert over_max_drop(v.drop, MAX_DROP) is expected
    assert _cli_flags(v, capsys) is expected and _report_flags(v) is expected


def test_one_drop_formula_per_task() -> None:
    assert metric_drop(0.9, 0.85, "classification") == pytest.approx(0.05)
    assert metric_drop(2.0, 2.5, "regression") == pytest.approx(0.25)  # the MAE's relative increase
    assert metric_drop(0.0, 0.5, "regression") == pytest.approx(0.5e12)  # a zero reference error stays finite
