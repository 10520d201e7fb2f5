"""`automl distill --teacher FILE` with a file Keras cannot load: one line naming the file and why, exit 2."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.testing import write_pipeline

runner = CliRunner()


def _distill(tmp_path: Path, teacher: Path) -> tuple[int, str]:
    pipeline = write_pipeline(tmp_path, name="kd", study={"trials": 1}, train={"epochs": 1})
    out = runner.invoke(app, ["distill", str(pipeline), "--teacher", str(teacher), "--trials", "1"])
    return out.exit_code, out.output


def _assert_one_line(code: int, output: str, teacher: Path) -> str:
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith(f"--teacher: {teacher} is not a Keras model Keras can load: "), output
    assert len(lines[0]) <= 200 + len(f"--teacher: {teacher} is not a Keras model Keras can load: ")
    return lines[0]


def test_a_text_file_named_keras(tmp_path: Path) -> None:
    teacher = tmp_path / "x.keras"
    teacher.write_text("this is not a model\n")
    _assert_one_line(*_distill(tmp_path, teacher), teacher)


def test_a_zip_without_a_model_inside(tmp_path: Path) -> None:
    teacher = tmp_path / "empty.keras"
    with zipfile.ZipFile(teacher, "w") as zf:
        zf.writestr("readme.txt", "no config.json, no weights")
    _assert_one_line(*_distill(tmp_path, teacher), teacher)


def test_a_truncated_keras_file(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    whole = tmp_path / "whole.keras"
    model.save(whole)
    teacher = tmp_path / "cut.keras"
    teacher.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    line = _assert_one_line(*_distill(tmp_path, teacher), teacher)
    assert line.endswith("not a zip archive (a .keras file is one): truncated, or another format")


def test_an_h5_file_without_a_model(tmp_path: Path) -> None:
    import h5py

    teacher = tmp_path / "weights.h5"
    with h5py.File(teacher, "w") as f:
        f.create_dataset("w", data=[1.0, 2.0])
    _assert_one_line(*_distill(tmp_path, teacher), teacher)


def test_a_file_of_another_format(tmp_path: Path) -> None:
    teacher = tmp_path / "model.txt"
    teacher.write_text("Dense(3)\n")
    _assert_one_line(*_distill(tmp_path, teacher), teacher)


def test_a_folder(tmp_path: Path) -> None:
    teacher = tmp_path / "saved_model"
    teacher.mkdir()
    _assert_one_line(*_distill(tmp_path, teacher), teacher)


def _classifier(inputs: tuple[int, ...], classes: int, *, logits: str = "logits") -> object:
    import keras

    x = keras.Input(inputs)
    z = keras.layers.Dense(classes, name=logits)(keras.layers.Flatten()(x))
    return keras.Model(x, keras.layers.Activation("softmax", name="probs")(z))


@pytest.mark.parametrize("shape", [(5,), (8, 1)])
def test_a_teacher_whose_input_does_not_fit_the_data(tmp_path: Path, shape: tuple[int, ...]) -> None:
    teacher = tmp_path / "other.keras"
    _classifier(shape, 3).save(teacher)  # type: ignore[attr-defined]
    code, output = _distill(tmp_path, teacher)
    assert code == 2, output
    assert output.strip() == (f"--teacher: {teacher} takes inputs of shape {(None, *shape)}, but the "
                              "pipeline's data has shape (None, 8)")


def test_a_teacher_whose_logits_do_not_fit_the_classes(tmp_path: Path) -> None:
    teacher = tmp_path / "other.keras"
    _classifier((8,), 5).save(teacher)  # type: ignore[attr-defined]
    code, output = _distill(tmp_path, teacher)
    assert code == 2, output
    assert output.strip() == f"--teacher: {teacher} has 5 logits, but the pipeline's task has 3 classes"


def test_a_classifier_without_a_logits_layer(tmp_path: Path) -> None:
    teacher = tmp_path / "other.keras"
    _classifier((8,), 3, logits="dense_out").save(teacher)  # type: ignore[attr-defined]
    code, output = _distill(tmp_path, teacher)
    assert code == 2, output
    assert output.strip().startswith(f"--teacher: {teacher} has no `logits` layer to distill from"), output
    assert len(output.strip().splitlines()) == 1


def test_the_real_command_prints_no_traceback(tmp_path: Path) -> None:
    teacher = tmp_path / "x.keras"
    teacher.write_bytes(b"PK\x03\x04" + b"\0" * 50)  # a zip header and nothing else
    pipeline = write_pipeline(tmp_path, name="kd")
    proc = subprocess.run([sys.executable, "-m", "automl.cli", "distill", str(pipeline), "--teacher", str(teacher)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr
    _assert_one_line(proc.returncode, proc.stderr, teacher)
