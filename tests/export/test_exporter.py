"""`automl export`: files, validation JSON, MLflow run and registry, CLI, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.config import load_pipeline
from automl.errors import ExportError
from automl.runtime import import_keras
from automl.testing import write_pipeline
from automl.tracking import tracking_uri

keras = import_keras()
runner = CliRunner()
FAST = {"latency_runs": 5, "representative_samples": 50}


def _save_model(pipeline: Path, name: str = "best", epochs: int = 5) -> Path:
    """A trained model where a finished study would have left it (no tuning: that is tested elsewhere)."""
    from automl.builders.model import ModelSpec, build_model
    from automl.plan import make_plan

    plan = make_plan(load_pipeline(pipeline))
    d = plan.data
    spec = ModelSpec.from_arrays(d.x_train, d.y_train, d.task, d.num_classes)
    model = build_model("mlp", {"layers": 1, "units": 16, "activation": "relu", "dropout": 0.2,
                                "optimizer": "adam", "lr": 1e-2}, spec)
    model.fit(d.x_train, d.y_train, epochs=epochs, verbose=0)
    path = plan.output_dir / f"{name}.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def _versions(name: str) -> list[Any]:
    return list(MlflowClient(tracking_uri()).search_model_versions(f"name='{name}'"))


def test_export_writes_validates_logs_and_registers_every_format(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path, name="exp", export=FAST)
    _save_model(pipeline)
    result = automl.export(pipeline)

    assert [f.format for f in result.files] == ["float32", "float16", "dynamic", "int8"]
    assert result.model == "best"
    for f in result.files:
        assert Path(f.path) == Path("mlruns/exp/export") / f"best_{f.format}.tflite"
        assert Path(f.path).stat().st_size == f.validation.size_bytes
        report = json.loads(Path(f.json_path).read_text())
        assert report["format"] == f.format and report["metric"] == "accuracy"
        assert report["samples"] == 40  # the test split
        assert set(report["input"]) == {"name", "shape", "dtype", "scale", "zero_point"}
        assert report["input"]["shape"] == [-1, 8] and report["output"]["shape"] == [-1, 3]
        assert report["latency_ms_median"] > 0 and report["latency_ms_p90"] >= report["latency_ms_median"]
        assert report["agreement"] >= 0.85
        assert report["drop"] == pytest.approx(report["keras_value"] - report["tflite_value"])
        ci = report["drop_interval"]  # paired bootstrap over the 40 test rows
        assert ci["estimate"] == pytest.approx(report["drop"]) and ci["low"] <= ci["estimate"] <= ci["high"]
        assert ci["n"] == 40 and ci["resamples"] == 1000 and "(40 rows) is too small" in ci["size_warning"]
        assert "class_names" in report["usage"]

    client = MlflowClient(tracking_uri())
    run = client.get_run(result.parent_run_id)
    assert run.info.status == "FINISHED" and run.data.tags["automl.role"] == "export"
    assert {"int8_size_kib", "int8_accuracy", "int8_drop", "int8_latency_ms", "keras_accuracy",
            "int8_drop_ci_low", "int8_drop_ci_high"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id, "export")}
    assert {"export/best_int8.tflite", "export/best_int8.json"} <= artifacts

    versions = _versions("exp-tflite")
    assert sorted(v.tags["format"] for v in versions) == ["dynamic", "float16", "float32", "int8"]
    int8 = client.get_model_version_by_alias("exp-tflite", "int8")
    assert int8.tags["format"] == "int8" and float(int8.tags["accuracy"]) == pytest.approx(
        result.files[-1].validation.tflite_value, abs=1e-5)
    assert {"size_kib", "drop", "latency_ms_median", "flagged"} <= set(int8.tags)


def test_a_drop_above_max_drop_is_flagged_in_json_and_mlflow(tmp_path: Path) -> None:
    # regression: the drop is the relative MAE increase, which int8 never brings to exactly 0
    pipeline = write_pipeline(tmp_path, name="reg", data={"source": "synthetic", "samples": 200, "features": 8,
                                                          "classes": 0},
                              export={**FAST, "formats": ["float32", "int8"], "max_drop": 0.0,
                                      "int8_recovery": False})
    _save_model(pipeline, epochs=20)
    result = automl.export(pipeline)
    f32, int8 = result.files
    assert int8.validation.metric == "mae" and int8.validation.agreement is None
    assert int8.validation.flagged and not f32.validation.flagged  # float rounding is not a drop
    assert [f.format for f in result.flagged] == ["int8"]
    assert json.loads(Path(int8.json_path).read_text())["flagged"] is True
    ci = int8.validation.drop_interval  # the relative MAE increase, resampled
    assert ci is not None and ci.estimate == pytest.approx(int8.validation.drop, rel=1e-4)  # float64 here
    assert int8.validation.drop_text.startswith("drop +") and " % [95% CI " in int8.validation.drop_text
    run = MlflowClient(tracking_uri()).get_run(result.parent_run_id)
    assert run.data.tags["automl.int8.flagged"] == "True"
    assert "int8" in run.data.tags["automl.flagged"]


def test_cli_exports_a_keras_file_with_the_data_of_a_pipeline(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path, name="ext", export=FAST)
    model = _save_model(pipeline, name="elsewhere")
    out = runner.invoke(app, ["export", str(model), "--format", "int8", "--io", "uint8", "--data", str(pipeline)])
    assert out.exit_code == 0, out.output
    assert "int8 (io uint8)" in out.output and "KiB" in out.output
    assert "int8 (io uint8) vs Keras on the test split: drop " in out.output and " pt [95% CI " in out.output
    assert "warning: the test split (40 rows) is too small to tell 1 point of accuracy" in out.output
    # the I/O type is in the file's name and its registry alias: a float-I/O int8 file is never overwritten
    report = json.loads(Path("mlruns/ext/export/elsewhere_int8_uint8.json").read_text())
    assert report["input"]["dtype"] == "uint8" and report["input"]["scale"] > 0
    assert Path("mlruns/ext/export/elsewhere_int8_uint8.tflite").exists()
    assert not Path("mlruns/ext/export/elsewhere_int8.tflite").exists()
    scale, zero = report["input"]["scale"], report["input"]["zero_point"]
    assert f"quantized to uint8: q = clip(round(x / {scale:.9g} + {zero}))" in report["usage"]["input_values"]
    assert "quantized: y = (q - " in report["usage"]["output_values"]
    version = MlflowClient(tracking_uri()).get_model_version_by_alias("ext-tflite", "int8_uint8")
    assert version.tags["io"] == "uint8"


def test_cli_student_before_distill_is_one_line_and_exit_2(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path, name="nostudent")
    out = runner.invoke(app, ["export", str(pipeline), "--model", "student"])
    assert out.exit_code == 2
    assert out.output.strip() == (f"no model at mlruns/nostudent/student.keras: run `automl distill {pipeline}` "
                                  "first")


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "int4"], "export.formats: unknown format 'int4'; did you mean 'int8'?"),
    (["--io", "int16"], "export.io: unknown io type 'int16'"),
    (["--set", "export.max_drop=-1"], "export.max_drop: expected a value >= 0, got -1"),
])
def test_cli_bad_export_options_name_file_and_key(tmp_path: Path, args: list[str], message: str) -> None:
    pipeline = write_pipeline(tmp_path, name="bad")
    out = runner.invoke(app, ["export", str(pipeline), *args])
    assert out.exit_code == 2
    assert out.output.strip() == f"{pipeline}: {message}" or out.output.startswith(f"{pipeline}: {message}")


def test_cli_keras_file_without_data_is_an_error(tmp_path: Path) -> None:
    out = runner.invoke(app, ["export", "model.keras"])
    assert out.exit_code == 2 and "--data" in out.output


@keras.saving.register_keras_serializable(package="automl_tests")
class Inverse(keras.layers.Layer):
    """A layer whose op (MatrixInverse) has no TFLite builtin kernel."""

    def call(self, x: Any) -> Any:
        import tensorflow as tf

        return tf.linalg.inv(tf.eye(8) + 0.0 * x[:, :1, None])[:, 0, :] + x


def test_a_layer_without_builtin_ops_is_named(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path, name="odd")
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(Inverse(name="matrix_inverse")(inputs)))
    with pytest.raises(ExportError) as err:
        automl.export(pipeline, model=_saved(model, tmp_path / "odd.keras"), formats=None)
    assert "layer 'matrix_inverse' (Inverse) cannot be expressed in TFLite builtin ops: tf.MatrixInverse" in str(
        err.value)


def _saved(model: Any, path: Path) -> Path:
    model.save(path)
    return path


def test_auto_exports_the_student_unless_the_best_model_is_newer(tmp_path: Path) -> None:
    import os
    from types import SimpleNamespace

    from automl.export.exporter import _pick_model
    from automl.store.folder import StudyFolder

    folder = StudyFolder("x", tmp_path / "mlruns")
    out = folder.path
    out.mkdir(parents=True)
    plan = SimpleNamespace(folder=folder, pipeline=SimpleNamespace(file="x.yaml"))
    with pytest.raises(ExportError, match="no model at .*best.keras: run `automl run x.yaml` first"):
        _pick_model(plan, "auto")  # type: ignore[arg-type]
    (out / "best.keras").write_bytes(b"")
    assert _pick_model(plan, "auto")[0] == "best"  # type: ignore[arg-type]
    (out / "student.keras").write_bytes(b"")
    os.utime(out / "best.keras", (1, 1))
    assert _pick_model(plan, "auto")[0] == "student"  # type: ignore[arg-type]
    os.utime(out / "student.keras", (0, 0))  # distilled from an older best model
    assert _pick_model(plan, "auto")[0] == "best"  # type: ignore[arg-type]
    assert _pick_model(plan, "student")[0] == "student"  # type: ignore[arg-type]


def test_auto_takes_the_student_of_todays_best_model_by_its_recorded_digest(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """student.json records the SHA-256 of the teacher it learned from: a student of an earlier best.keras is
    stale whatever the files' times say; a DistillResult handed on by `automl run` decides outright."""
    import os
    from types import SimpleNamespace

    from automl.export.exporter import _pick_model
    from automl.store.folder import StudyFolder, file_digest, write_json

    monkeypatch.chdir(tmp_path)
    folder = StudyFolder("x")
    folder.path.mkdir(parents=True)
    plan = SimpleNamespace(folder=folder, pipeline=SimpleNamespace(file="x.yaml"))
    folder.best_model.write_bytes(b"teacher 1")
    folder.student_model.write_bytes(b"student")
    write_json(folder.student_info, {"teacher": str(folder.best_model),
                                     "teacher_sha256": file_digest(folder.best_model)})
    os.utime(folder.student_model, (0, 0))  # older than best.keras, yet distilled from it
    assert _pick_model(plan, "auto")[0] == "student"  # type: ignore[arg-type]
    folder.best_model.write_bytes(b"teacher 2")  # a newer best model
    os.utime(folder.best_model, (0, 0))
    os.utime(folder.student_model, (10, 10))  # newer, yet distilled from the old one
    assert _pick_model(plan, "auto")[0] == "best"  # type: ignore[arg-type]
    # handed on by `automl run`: this run's student (or none: the best model)
    ran = SimpleNamespace(student_path=str(folder.student_model), pick="distilled", scratch_path=None)
    assert _pick_model(plan, "auto", ran)[0] == "student"  # type: ignore[arg-type]
    assert _pick_model(plan, "auto", SimpleNamespace(student_path=None))[0] == "best"  # type: ignore[arg-type]


def test_auto_ships_the_student_that_won_on_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scratch student ships when it beat the distilled one on validation (never test): in this run's
    DistillResult, and in student.json for a later `automl export`."""
    from types import SimpleNamespace

    from automl.distill.study import DistillResult
    from automl.export.exporter import _pick_model
    from automl.store.folder import StudyFolder, file_digest, write_json

    monkeypatch.chdir(tmp_path)
    folder = StudyFolder("x")
    folder.path.mkdir(parents=True)
    plan = SimpleNamespace(folder=folder, pipeline=SimpleNamespace(file="x.yaml"))
    for path in (folder.best_model, folder.student_model, folder.scratch_model):
        path.write_bytes(path.name.encode())

    def result(distilled: float, scratch: float, direction: str = "maximize") -> DistillResult:
        return DistillResult(study_name="x-student", metric="accuracy", direction=direction, teacher_path="t",
                             student_path=str(folder.student_model), scratch_path=str(folder.scratch_model),
                             teacher_params=10, student_params=2, teacher_test={}, distilled_test={"accuracy": 0.9},
                             scratch_test={"accuracy": 0.95}, best_params={}, best_value=distilled, parent_run_id="p",
                             distilled_val=distilled, scratch_val=scratch)

    # scratch better on test (0.95 vs 0.9) but not on validation: the distilled student ships
    assert _pick_model(plan, "auto", result(0.92, 0.91)) == ("student", folder.student_model)  # type: ignore[arg-type]
    won = result(0.90, 0.93)
    assert won.pick == "scratch" and "from scratch ships" in won.picked
    assert _pick_model(plan, "auto", won) == ("student_scratch", folder.scratch_model)  # type: ignore[arg-type]
    assert result(0.30, 0.20, "minimize").pick == "scratch"  # a loss: lower wins
    info = {"teacher": str(folder.best_model), "teacher_sha256": file_digest(folder.best_model)}
    write_json(folder.student_info, {**info, "pick": "scratch"})
    assert _pick_model(plan, "auto") == ("student_scratch", folder.scratch_model)  # type: ignore[arg-type]
    write_json(folder.student_info, {**info, "pick": "distilled"})
    assert _pick_model(plan, "auto") == ("student", folder.student_model)  # type: ignore[arg-type]
    assert _pick_model(plan, "student")[0] == "student"  # type: ignore[arg-type]  # asked for by name: as asked
