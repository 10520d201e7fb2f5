"""`automl predict` and `automl.load_model` on real tiny studies: a CSV with text, an id, missing values; a
regression; an NPZ of integer labels. The encoding is the one saved with the study (no training data needed)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.testing import write_pipeline

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "id": [f"r{seed}-{i:04d}" for i in range(n)],  # id-like text: dropped by the encoding
        "age": rng.integers(18, 80, n).astype(float),
        "city": rng.choice(["rome", "paris", "lyon"], n),
        "calls": rng.integers(0, 6, n).astype(float),
    })
    frame.loc[::9, "calls"] = np.nan  # missing numbers
    score = (frame["city"] == "rome") * 1.5 + frame["calls"].fillna(2) * 0.4 - frame["age"] / 60
    frame["churned"] = np.where(score > 0.4, "yes", "no")
    frame["spend"] = (20 + frame["age"] * 0.5 + (frame["city"] == "paris") * 10).round(2)
    return frame


def _study(folder: Path, name: str, data: dict, **extra: object) -> Path:
    before = Path.cwd()
    os.chdir(folder)
    try:
        path = write_pipeline(folder, name=name, data=data, study={"trials": 1}, train={"epochs": 2}, **extra)
        result = automl.run(path)
        assert result.model_path, result
    finally:
        os.chdir(before)
    return path


@pytest.fixture(scope="module")
def csv_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One classification study on a CSV (target `churned`); the pipeline's path (mlruns/ beside it)."""
    folder = tmp_path_factory.mktemp("predict")
    _rows(160, 0).drop(columns=["spend"]).to_csv(folder / "train.csv", index=False)
    return _study(folder, "churn", {"source": "csv", "path": "train.csv", "target": "churned"})


@pytest.fixture
def in_csv_study(csv_study: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(csv_study.parent)
    return csv_study


def _new_rows() -> pd.DataFrame:
    """Rows the study never saw, without the target: a missing number and a city unseen in training."""
    rows = _rows(6, 1).drop(columns=["churned", "spend"])
    rows.loc[0, "city"] = "oslo"
    rows.loc[1, "calls"] = np.nan
    rows.loc[2, "city"] = np.nan
    return rows


def test_predict_writes_class_names_and_probabilities_from_raw_rows(in_csv_study: Path) -> None:
    _new_rows().to_csv("new.csv", index=False)
    out = automl.predict(in_csv_study, "new.csv", output="out/predictions.csv")
    assert list(out.columns) == ["id", "prediction", "probability_no", "probability_yes"]
    assert out["id"].tolist() == _new_rows()["id"].tolist()
    assert set(out["prediction"]) <= {"yes", "no"}
    np.testing.assert_allclose(out[["probability_no", "probability_yes"]].sum(axis=1), 1.0, atol=1e-5)
    picked = np.where(out["probability_yes"] > out["probability_no"], "yes", "no")
    assert out["prediction"].tolist() == picked.tolist()
    notes = " ".join(out.attrs["notes"])
    assert "city: 2 row(s) with a category unseen in training ('<missing>', 'oslo')" in notes
    assert "calls: " in notes and "training median" in notes
    written = pd.read_csv("out/predictions.csv")
    assert written["prediction"].tolist() == out["prediction"].tolist()
    # the target column may be there: it is not a feature, and the result is the same
    with_target = _new_rows().assign(churned="yes")
    again = automl.predict(in_csv_study, with_target)
    np.testing.assert_allclose(again["probability_yes"], out["probability_yes"], atol=1e-6)


def test_load_model_holds_the_saved_encoding_and_needs_no_training_data(in_csv_study: Path) -> None:
    loaded = automl.load_model(in_csv_study)
    Path("train.csv").rename("train.csv.away")  # predicting from the study folder reads no training data
    try:
        by_folder = automl.load_model("mlruns/churn")
        by_pipeline = automl.load_model(in_csv_study)  # the pipeline names the study; its data is not read
    finally:
        Path("train.csv.away").rename("train.csv")
    assert loaded.class_names == ["no", "yes"] and loaded.task == "classification"
    assert loaded.encoding == json.loads(Path("mlruns/churn/encoding.json").read_text())
    assert loaded.encoding["dropped"][0]["column"] == "id"
    x, _ = loaded.encode(_new_rows())
    assert x.shape == (6, loaded.input_shape[0])
    assert x[0, loaded.encoding["features"].index("city=rome")] == 0  # unseen city: all zeros
    np.testing.assert_allclose(by_folder.predict(_new_rows())["probability_yes"],
                               loaded.predict(x)["probability_yes"], atol=1e-6)
    np.testing.assert_allclose(by_pipeline.predict(_new_rows())["probability_yes"],
                               loaded.predict(x)["probability_yes"], atol=1e-6)
    assert json.loads(Path("mlruns/churn/target.json").read_text())["class_names"] == ["no", "yes"]


def test_the_best_model_loads_through_mlflow_keras_and_pyfunc(in_csv_study: Path) -> None:
    import mlflow

    from automl.tracking import tracking_uri

    # logging the flavor pointed MLflow's global URI and experiment at the study's store only meanwhile
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_EXPERIMENT_ID" not in os.environ
    info = json.loads(Path("mlruns/churn/best.json").read_text())
    uri = info["mlflow_model"]
    loaded = automl.load_model(in_csv_study)
    x, _ = loaded.encode(_new_rows())
    expected = loaded.model.predict(x, verbose=0)
    mlflow.set_tracking_uri(tracking_uri())
    try:
        keras_model = mlflow.keras.load_model(uri)
        np.testing.assert_allclose(keras_model.predict(x, verbose=0), expected, atol=1e-6)
        pyfunc = mlflow.pyfunc.load_model(uri)
        np.testing.assert_allclose(np.asarray(pyfunc.predict(x)), expected, atol=1e-6)
        assert pyfunc.metadata.metadata["target"]["class_names"] == ["no", "yes"]
        requirements = (Path(mlflow.artifacts.download_artifacts(uri)) / "requirements.txt").read_text()
        assert "keras==" in requirements and "tensorflow==" in requirements
    finally:
        mlflow.set_tracking_uri(None)
    run = mlflow.MlflowClient(tracking_uri()).search_runs(
        [mlflow.MlflowClient(tracking_uri()).get_experiment_by_name("churn").experiment_id],
        "tags.`automl.role` = 'study'")[0]
    assert run.data.tags["automl.best_model"] == uri


def test_cli_predict_in_a_subprocess_writes_the_csv(in_csv_study: Path) -> None:
    _new_rows().to_csv("new.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "automl.cli", "predict", str(in_csv_study), "new.csv", "-o",
                           "p.csv"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "6 predictions of mlruns/churn/best.keras written to p.csv"
    assert "note: city: 2 row(s) with a category unseen in training" in done.stderr
    assert pd.read_csv("p.csv").columns.tolist() == ["id", "prediction", "probability_no", "probability_yes"]


def test_cli_predict_errors_exit_2_naming_the_file(in_csv_study: Path) -> None:
    _new_rows().to_csv("new.csv", index=False)
    _new_rows().drop(columns=["city", "age"]).to_csv("short.csv", index=False)
    result = runner.invoke(app, ["predict", str(in_csv_study), "short.csv"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "short.csv: column(s) missing: age, city (the model was trained on age, city, calls)")
    cases = [
        (["--name", "elsewhere"], "no study 'elsewhere' here (mlruns/elsewhere does not exist)"),
        (["--model", "student"], "mlruns/churn/student.keras is missing: study 'churn' has no distilled student"),
        (["--model", "nothing.keras"], "--model: nothing.keras does not exist"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["predict", str(in_csv_study), "new.csv", *extra])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
    Path("mlruns/empty").mkdir()
    result = runner.invoke(app, ["predict", "mlruns/empty", "new.csv"])
    assert result.exit_code == 2 and "mlruns/empty/best.keras is missing" in result.output
    result = runner.invoke(app, ["predict", str(in_csv_study), "absent.csv"])
    assert result.exit_code == 2 and "absent.csv: no such file" in result.output
    result = runner.invoke(app, ["predict", str(in_csv_study), "mlruns"])
    assert result.exit_code == 2 and "mlruns: is a folder: predict reads a CSV, .npz or .npy file" in result.output


def test_a_model_path_and_csv_printed_to_stdout(in_csv_study: Path) -> None:
    _new_rows().to_csv("new.csv", index=False)
    result = runner.invoke(app, ["predict", str(in_csv_study), "new.csv", "--model", "mlruns/churn/best.keras"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(("id,", "r1-"))]
    assert lines[0] == "id,prediction,probability_no,probability_yes" and len(lines) == 7
    by_file = automl.predict("mlruns/churn/best.keras", "new.csv")  # a model file in a study folder
    assert by_file.attrs["model"] == "mlruns/churn/best.keras" and len(by_file) == 6


def test_regression_predicts_in_the_targets_units(tmp_path: Path) -> None:
    _rows(120, 0).drop(columns=["churned"]).to_csv(tmp_path / "train.csv", index=False)
    path = _study(tmp_path, "spend", {"source": "csv", "path": "train.csv", "target": "spend"},
                  task="regression")
    os.chdir(tmp_path)
    out = automl.predict(path, _new_rows())
    assert list(out.columns) == ["id", "prediction"]
    assert out["prediction"].dtype == np.float64 and np.isfinite(out["prediction"]).all()
    assert automl.load_model(path).class_names == []
    # a study of an earlier release (no target.json, no encoding.json): the pipeline's data describes the model
    Path("mlruns/spend/target.json").unlink()
    Path("mlruns/spend/encoding.json").unlink()
    old = automl.predict(path, _new_rows())
    np.testing.assert_allclose(old["prediction"], out["prediction"], rtol=1e-6)
    result = runner.invoke(app, ["predict", "mlruns/spend", "new.csv"])
    assert result.exit_code == 2 and "mlruns/spend/target.json is missing" in result.output


@pytest.fixture(scope="module")
def npz_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One classification study on an NPZ of 4 features (integer labels 1 and 4); the pipeline's path."""
    folder = tmp_path_factory.mktemp("predict_npz")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) * 3 + 1  # labels 1 and 4
    np.savez(folder / "d.npz", x=x, y=y)
    np.savez(folder / "new.npz", x=x[:5])
    return _study(folder, "npzs", {"source": "npz", "path": "d.npz"})


def test_npz_study_predicts_its_integer_labels(npz_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = npz_study
    monkeypatch.chdir(path.parent)
    out = automl.predict(path, "new.npz")
    assert list(out.columns) == ["prediction", "probability_1", "probability_4"]
    assert set(out["prediction"]) <= {1, 4}
    result = runner.invoke(app, ["predict", str(path), "new.npz"])
    assert result.exit_code == 0 and "prediction,probability_1,probability_4" in result.output


@pytest.mark.timeout(300)  # before the header check, a 3-million-column line ran for over 11 minutes
def test_cli_predict_checks_the_header_line_before_reading_rows(in_csv_study: Path) -> None:
    Path("wide.csv").write_text(",".join(["1"] * 3_000_000) + "\n")  # 6 MB on one line
    started = time.monotonic()
    result = runner.invoke(app, ["predict", str(in_csv_study), "wide.csv"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ("wide.csv: the first line is longer than 1 MiB: not the header of rows a model "
                                     "reads (predict reads a header line of column names, then one row per line)")
    assert time.monotonic() - started < 60
    columns = ["id", "age", "city", "calls", *(f"x{i}" for i in range(2000))]  # within 1 MiB, too many
    Path("many.csv").write_text(",".join(columns) + "\n" + ",".join(["r", "30", "rome", "1"] + ["0"] * 2000) + "\n")
    result = runner.invoke(app, ["predict", str(in_csv_study), "many.csv"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ("many.csv: the header has 2004 columns; the model reads 3 (age, city, calls) "
                                     "and predict takes at most 1000 others")


def test_cli_predict_refuses_a_header_without_rows_or_with_a_name_twice(in_csv_study: Path) -> None:
    _new_rows().iloc[:0].to_csv("header.csv", index=False)
    result = runner.invoke(app, ["predict", str(in_csv_study), "header.csv"])
    assert result.exit_code == 2 and result.output.strip() == "header.csv: no rows: the file holds a header line alone"
    Path("twice.csv").write_text("id,age,city,age,calls\nr1,30,rome,70,2\n")  # pandas would read `age.1`
    result = runner.invoke(app, ["predict", str(in_csv_study), "twice.csv"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "twice.csv: column 'age' appears twice in the header (columns 2 and 4): rename one"


def test_cli_predict_refuses_arrays_that_are_not_rows_of_real_numbers(npz_study: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(npz_study.parent)
    cases = {
        "empty.npy": (np.zeros((0, 4), np.float32), "empty.npy: no rows: the array has shape [0, 4]"),
        "text.npy": (np.array([["a", "b", "c", "d"]]),
                     "text.npy: holds text (<U1), not numbers: the model takes numbers"),
        "complex.npy": (np.ones((2, 4), complex),
                        "complex.npy: holds complex numbers (complex128): the model takes real numbers"),
        "nan.npy": (np.full((2, 4), np.nan), "nan.npy: 2 row(s) have missing values (NaN); this model was trained on "
                    "complete numeric rows"),
        "huge.npy": (np.array([[0.0, 1.0, -1e308, 2.0]]), "huge.npy: feature [2], row 1: -1e+308 is beyond what the "
                     "model computes with (float32: |x| <= 3.4e+38)"),
    }
    for name, (array, message) in cases.items():
        np.save(name, array)
        result = runner.invoke(app, ["predict", str(npz_study), name])
        assert (result.exit_code, result.output.strip()) == (2, message)


def test_cli_predict_refuses_numbers_beyond_float32_and_notes_rows_all_missing(in_csv_study: Path) -> None:
    for column, row, value in (("age", 2, "inf"), ("calls", 4, "-1e308")):
        rows = _new_rows().astype({column: object})
        rows.loc[row, column] = value
        rows.to_csv("out_of_range.csv", index=False)
        result = runner.invoke(app, ["predict", str(in_csv_study), "out_of_range.csv"])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == (
            f"out_of_range.csv: column '{column}', row {row + 1}: {float(value):g} is beyond what the model computes "
            "with (float32: |x| <= 3.4e+38); empty the cell to give it the training median")
    rows = _new_rows()
    rows.loc[[3, 4], ["age", "city", "calls"]] = np.nan
    rows.to_csv("blank.csv", index=False)
    result = runner.invoke(app, ["predict", str(in_csv_study), "blank.csv", "-o", "p.csv"])
    assert result.exit_code == 0, result.output
    note = ("note: 2 row(s) with every column the model reads missing: predicted from the training medians (and the "
            "category <missing>) alone, nothing of the row")
    assert result.output.count(note) == 1, result.output


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_predict_between_batches_and_keeps_the_earlier_output(
        in_csv_study: Path, signum: int, code: int) -> None:
    pd.concat([_new_rows()] * 100).to_csv("rows.csv", index=False)  # 600 rows: 3 batches of 256
    Path("p.csv").write_text("earlier,predictions\n")
    ready = Path("ready").resolve()
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUTOML_FAULT": "predict_batch:pause",
           "AUTOML_FAULT_READY": str(ready)}
    process = subprocess.Popen([sys.executable, "-m", "automl.cli", "predict", str(in_csv_study), "rows.csv", "-o",
                                "p.csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the first batch is predicted: the process waits at the batch's end
    assert ready.exists(), process.communicate(timeout=60)
    process.send_signal(signum)
    ready.unlink()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    reason = "interrupted by the user (Ctrl-C)" if signum == signal.SIGINT else "terminated (SIGTERM)"
    assert stderr.strip().splitlines()[-1] == f"{reason}: no predictions written; p.csv is as it was"
    assert "Traceback" not in stderr
    assert Path("p.csv").read_text() == "earlier,predictions\n"
    assert [p.name for p in Path().iterdir() if p.name.startswith(".p.csv")] == []  # no temporary file left


def test_predictions_csv_is_safe_to_open_in_a_spreadsheet(in_csv_study: Path) -> None:
    ids = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "-1.5"]
    _new_rows().assign(id=ids).to_csv("formulas.csv", index=False)
    result = runner.invoke(app, ["predict", str(in_csv_study), "formulas.csv", "-o", "p.csv"])
    assert result.exit_code == 0, result.output
    with open("p.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert [row["id"] for row in written] == ["'=1+2", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "-1.5"]
    assert all(0 <= float(row["probability_yes"]) <= 1 for row in written)
    printed = runner.invoke(app, ["predict", str(in_csv_study), "formulas.csv"])
    assert printed.exit_code == 0 and "\n'=1+2," in printed.output and "\n-1.5," in printed.output


def test_cli_predict_names_the_study_path_as_given(in_csv_study: Path) -> None:
    _new_rows().to_csv("new.csv", index=False)
    Path("model.tflite").write_bytes(b"TFL3")
    Path("fake.keras").write_text("not a model")
    cases = [
        (["mlruns/nope", "new.csv"],
         "no study 'nope' here (mlruns/nope does not exist): run `automl run PIPELINE.yaml` first"),
        (["model.tflite", "new.csv"], "model.tflite is not in a study folder (mlruns/NAME/ or its export/): give "
         "the study as well, `automl predict PIPELINE.yaml DATA --model model.tflite`"),
        (["new.csv", "new.csv"], "new.csv is a .csv file, not a study or pipeline: predict takes a pipeline file "
         "(.yaml), a study folder (mlruns/NAME), a study's name, or a .keras / .tflite model"),
        ([str(in_csv_study), "new.csv", "--model", "fake.keras"], "fake.keras is not a Keras model Keras can load: "
         "not a zip archive (a .keras file is one): truncated, or another format"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["predict", *args])
        assert (result.exit_code, result.output.strip()) == (2, message)


def test_predict_with_the_shipped_tflite_files_gives_the_keras_classes(in_csv_study: Path) -> None:
    """`--model FILE.tflite` runs the file a phone runs, with the study's encoding and class names; the int8 file
    takes raw rows too (quantized with its own scale and zero point). A CSV with text columns and gaps."""
    rows = _rows(60, 7).drop(columns=["churned", "spend"])
    rows.loc[0, "calls"] = np.nan
    rows.to_csv("raw.csv", index=False)
    exported = automl.export(in_csv_study, formats=["float32", "int8"])
    keras_out = automl.predict(in_csv_study, "raw.csv")
    for file in exported.files:
        result = runner.invoke(app, ["predict", str(in_csv_study), "raw.csv", "--model", file.path, "-o", "t.csv"])
        assert result.exit_code == 0, result.output
        shipped = pd.read_csv("t.csv")
        assert list(shipped.columns) == list(keras_out.columns)
        same = (shipped["prediction"] == keras_out["prediction"]).mean()
        assert same >= (1.0 if file.format == "float32" else 0.9), (file.format, same)
        if file.format == "float32":
            np.testing.assert_allclose(shipped["probability_yes"], keras_out["probability_yes"], atol=2e-4)  # 4 places
        direct = automl.predict(file.path, "raw.csv")  # the file alone: its study is the folder above export/
        assert direct["prediction"].tolist() == shipped["prediction"].tolist()
    integer = automl.export(in_csv_study, formats=["int8"], io="int8").files[0]  # int8 in and out
    from automl.tflite.validate import TFLiteModel

    assert TFLiteModel(integer.path).input_spec.dtype == "int8"
    quantized = automl.predict(in_csv_study, "raw.csv", model=integer.path)
    assert (quantized["prediction"] == keras_out["prediction"]).mean() >= 0.9
