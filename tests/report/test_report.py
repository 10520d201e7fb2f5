"""`automl report`: a self-contained HTML page read back from MLflow, logged to MLflow."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from mlflow import MlflowClient

import automl
from automl.errors import StudyError
from automl.report import build_report, collect
from automl.testing.studies import StudyDir
from automl.tflite.validate import TensorSpec, Validation


def test_collect_reads_trials_params_states_and_curves(tiny_study: StudyDir) -> None:
    study = collect("tiny", uri=tiny_study.tracking_uri, output_dir=tiny_study.folder / "mlruns" / "tiny")
    assert (study.metric, study.direction) == ("val_accuracy", "maximize")
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    result = tiny_study.result
    best = study.best()
    assert best is not None and best.number == result.best_trial and best.value == pytest.approx(result.best_value)
    assert best.params["units"] == result.best_params["units"] and isinstance(best.params["units"], int)
    for t in study.trials:
        assert len(t.history["val_accuracy"]) == len(t.history["loss"]) >= 1
    assert study.test_metrics["test_accuracy"] == pytest.approx(result.test_metrics["test_accuracy"])
    assert "units" in study.varying() and study.fixed()["block"] == "mlp"


def test_report_is_one_self_contained_html_file_with_its_figures(tiny_study: StudyDir, in_study: Path) -> None:
    report = automl.report(tiny_study.pipeline)  # a pipeline names its study
    assert report.path == Path("mlruns/tiny/report.html")
    html = report.path.read_text()
    assert "<script" not in html and "<link" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from anywhere
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 3  # history, slices, learning curves (+ importances with enough trials)
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    for section in ("Best trials", "Optimization history", "Parameter importances", "Learning curves",
                    "All trials"):
        assert f"<h2>{section}</h2>" in html
    best = tiny_study.result.best_trial
    assert re.search(rf"<tr class=best><td>{best}</td>", html)
    assert "test_accuracy" in html
    assert set(report.figures) >= {"history", "curves"}
    assert all(png.startswith(b"\x89PNG") for png in report.figures.values())
    assert list(report.path.parent.glob("*.png")) == []  # the page embeds them: nothing written beside it
    # the trials' weight count is its own column, beside the hyperparameters
    assert "<th>weights</th>" in html and "<th>params</th>" not in html


def test_report_is_logged_to_the_latest_session_run(tiny_study: StudyDir, in_study: Path) -> None:
    report = automl.report("tiny", output="elsewhere/r.html")
    assert report.path == Path("elsewhere/r.html") and report.path.exists()
    client = MlflowClient(tiny_study.tracking_uri)
    run = client.get_run(report.logged_run_id)
    assert run.data.tags["automl.report"] == "report/r.html"
    logged = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"r.html", "r_history.png", "r_curves.png"} <= logged
    assert sorted(p.name for p in Path("elsewhere").iterdir()) == ["r.html"]  # the PNGs went to MLflow only


def test_exported_models_appear_with_their_validation(tiny_study: StudyDir, tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    (folder / "export").mkdir(parents=True)
    spec = TensorSpec("input", [-1, 8], "float32")
    check = Validation(format="int8", file=str(folder / "export/best_int8.tflite"), task="classification",
                       metric="accuracy", size_bytes=4096, keras_value=0.9, tflite_value=0.85, drop=0.05,
                       max_drop=0.01, agreement=0.93, mean_abs_diff=0.02, max_abs_diff=0.2, latency_ms_median=0.01,
                       latency_ms_p90=0.02, keras_latency_ms_median=5.0, samples=40, input=spec, output=spec)
    (folder / "export" / "best_int8.json").write_text(json.dumps({"model": "best.keras", **asdict(check)}))
    (folder / "export" / "unrelated.json").write_text("{}")
    report = build_report("tiny", tracking_uri=tiny_study.tracking_uri, output_dir=folder, log=False)
    assert [e["format"] for e in report.study.exports] == ["int8"]
    html = report.path.read_text()
    assert "<h2>Exported models</h2>" in html and "best_int8.tflite" in html and "4.0 KiB" in html
    assert "+0.0500 flagged" in html  # the drop is above max_drop
    assert report.logged_run_id is None


def test_an_unknown_study_is_a_one_line_error_naming_the_known_ones(tiny_study: StudyDir) -> None:
    with pytest.raises(StudyError, match=r"no study 'tinny' in the MLflow store .*did you mean 'tiny'"):
        collect("tinny", uri=tiny_study.tracking_uri)


CLOSING = "to close the gap to the teacher, try `distill.epochs: 80` (...)"


def _student_json(folder: Path, *, gain: dict | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    info = {"trial": 1, "value": 0.81, "metric": "val_accuracy", "n_params": 1234, "teacher_params": 56789,
            "test": {"accuracy": 0.8, "loss": 0.5}, "scratch_test": {"accuracy": 0.775, "loss": 0.6},
            "teacher_test": {"accuracy": 0.85, "loss": 0.4}, "pick": "distilled",
            "verdict": "distillation's effect is not distinguishable: test accuracy 0.8000 distilled vs 0.7750 from "
                       "scratch, gain +2.5 pt [95% CI -5.0, +10.0] (the interval spans zero)",
            "validation": {"distilled": 0.81, "scratch": 0.79}, "gain": gain,
            "gap_to_teacher": {"metric": "accuracy", "estimate": -0.05, "low": -0.12, "high": 0.02, "n": 40,
                               "behind": True, "closing": CLOSING}}
    (folder / "student.json").write_text(json.dumps(info))


def test_a_distilled_study_has_a_distillation_section(tiny_study: StudyDir, tmp_path: Path) -> None:
    from rich.console import Console

    from automl.report.terminal import summary

    folder = tmp_path / "tiny"
    warning = "the test split (40 rows) is too small to tell 1 point of accuracy: ..."
    _student_json(folder, gain={"metric": "accuracy", "estimate": 0.025, "low": -0.05, "high": 0.1, "n": 40,
                                "level": 0.95, "resamples": 1000, "distinguishable": False,
                                "size_warning": warning})
    report = build_report("tiny", tracking_uri=tiny_study.tracking_uri, output_dir=folder, log=False)
    html = report.path.read_text()
    section = html[html.index("<h2>Distillation</h2>"):]
    assert "<th>weights</th>" in section and "<th>validation val_accuracy</th>" in section
    for cells in ("teacher (best trial)</td><td>56,789</td>", "student (distilled)</td><td>1,234</td><td>0.8100</td>"
                  "<td>0.8000</td>", "student (from scratch)</td><td>1,234</td><td>0.7900</td><td>0.7750</td>"):
        assert cells in section
    assert "gain +2.5 pt [95% CI -5.0, +10.0]" in section and "not distinguishable" in section
    assert warning in section and "paired bootstrap over the 40 test rows" in section
    assert CLOSING in section  # the budget that would close the gap
    console = Console(width=200, record=True)
    for part in summary(report):
        console.print(part)
    text = console.export_text()
    assert "distillation" in text and "56,789" in text and "gain +2.5 pt [95% CI -5.0, +10.0]" in text
    assert f"warning: {warning}" in text and CLOSING in text


def test_a_study_without_distillation_has_no_such_section(tiny_study: StudyDir, tmp_path: Path) -> None:
    report = build_report("tiny", tracking_uri=tiny_study.tracking_uri, output_dir=tmp_path / "tiny", log=False)
    assert report.study.distill is None and "<h2>Distillation</h2>" not in report.path.read_text()
    _student_json(tmp_path / "old", gain=None)  # a student.json of an earlier release: no interval
    report = build_report("tiny", tracking_uri=tiny_study.tracking_uri, output_dir=tmp_path / "old", log=False)
    assert "<h2>Distillation</h2>" in report.path.read_text() and "paired bootstrap" not in report.path.read_text()
