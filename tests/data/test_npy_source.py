"""Source ``npy``: a folder of memory-mapped .npy files, split lazily (row numbers, never a copy of the data)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.data.rows import Rows
from automl.errors import DataError


def _pair(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (rng.integers(0, 200, (n, 6, 6, 1)) + y[:, None, None, None] * 10).astype(np.uint8), y


def _folder(root: Path, **arrays: np.ndarray) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(root / f"{name}.npy", array)
    return root


def test_x_and_y_are_split_lazily_as_npz_splits_them(tmp_path: Path) -> None:
    x, y = _pair()
    data = load_dataset(DataConfig(source="npy", path=_folder(tmp_path / "d", x=x, y=y)))
    assert all(isinstance(s, Rows) for s in (data.x_train, data.x_val, data.x_test))
    assert data.x_train.dtype == np.uint8 and data.input_shape == (6, 6, 1)  # pixels stay uint8
    np.savez(tmp_path / "d.npz", x=x, y=y)
    same = load_dataset(DataConfig(source="npz", path=tmp_path / "d.npz"))  # the same seeded, stratified split
    for name in ("x_train", "x_val", "x_test"):
        assert np.array_equal(np.asarray(getattr(data, name)), getattr(same, name))
    assert np.array_equal(data.y_train, same.y_train) and not data.fixed_split


def test_fixed_splits_keep_the_users_rows_and_split_validation_off_training(tmp_path: Path) -> None:
    x, y = _pair(100)
    x_test, y_test = _pair(30, seed=1)
    data = load_dataset(DataConfig(source="npy", path=_folder(tmp_path / "d", x_train=x, y_train=y,
                                                              x_test=x_test, y_test=y_test)))
    assert data.fixed_split and np.array_equal(np.asarray(data.x_test), x_test)
    assert len(data.x_val) == 20 and len(data.x_train) == 80  # validation_split 0.2 of the training rows
    assert isinstance(data.x_val, Rows) and set(data.x_val.index) < set(range(100))


@pytest.mark.parametrize(("arrays", "message"), [
    ({}, "d must hold x.npy and y.npy (or x_train.npy, y_train.npy and optionally"),
    ({"x": np.zeros((10, 2))}, "d must hold x.npy and y.npy"),
    ({"x_train": np.zeros((10, 2)), "y_train": np.zeros(10), "x_val": np.zeros((4, 2))},
     "d must hold both x_val.npy and y_val.npy"),
    ({"x": np.zeros((10, 2)), "y": np.zeros(9)}, "x and y must have the same length, got 10 and 9"),
    ({"x": np.zeros(10), "y": np.zeros(10)}, "x must have rank 2, 3 or 4 (N, ...), got shape (10,)"),
    ({"x_train": np.zeros((10, 2)), "y_train": np.zeros(10), "x_test": np.zeros((4, 3)), "y_test": np.zeros(4)},
     "x_test has samples of shape (3,), x_train (2,)"),
    ({"x_train": np.zeros((10, 2)), "y_train": np.zeros(10), "x_test": np.zeros((4, 2), np.uint8),
      "y_test": np.zeros(4)}, "x_test has dtype uint8, x_train float64"),
    ({"x": np.zeros((10, 2)), "y": np.zeros((10, 2, 2))}, "y must have shape (N,) (or one-hot (N, C))"),
])
def test_bad_folder_contents_are_one_line_errors(tmp_path: Path, arrays: dict[str, np.ndarray],
                                                 message: str) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(source="npy", path=_folder(tmp_path / "d", **arrays)), file="p.yaml")
    assert str(err.value).startswith(f"p.yaml: data.path: {message}") and "\n" not in str(err.value)


def test_a_file_that_is_no_npy_or_no_folder_is_a_one_line_error(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "d", y=np.zeros(10))
    (folder / "x.npy").write_text("not an array")
    with pytest.raises(DataError, match=r"^p.yaml: data.path: cannot read x.npy / y.npy under d as .npy"):
        load_dataset(DataConfig(source="npy", path=folder), file="p.yaml")
    with pytest.raises(DataError, match=r"is not a folder \(source npy needs one"):
        load_dataset(DataConfig(source="npy", path=folder / "y.npy"), file="p.yaml")


def test_the_cli_exits_2_with_one_line_for_a_bad_folder(tmp_path: Path) -> None:
    from automl.testing import write_pipeline

    _folder(tmp_path / "d", x=np.zeros((10, 2)))
    path = write_pipeline(tmp_path, data={"source": "npy", "path": "d"})
    done = subprocess.run([sys.executable, "-m", "automl.cli", "run", str(path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "data.path" in line]
    assert len(lines) == 1 and "d must hold x.npy and y.npy" in lines[0]


# One end-to-end run in the default suite: the fixed split in a trial process (the mapped rows cross the process
# boundary). The random split of the same folder is tested above without training
# (test_x_and_y_are_split_lazily_as_npz_splits_them), and inline trials batch Rows as every inline study does.
@pytest.mark.parametrize(("fixed", "isolation"), [pytest.param(False, "inline", marks=pytest.mark.slow),
                                                  (True, "process")])
def test_automl_run_on_a_npy_folder(tmp_path: Path, fixed: bool, isolation: str) -> None:
    """End to end through the CLI: trials train a batch at a time from the mapped files, in both isolations, and
    the best model is scored on the test rows."""
    import json

    from mlflow import MlflowClient

    from automl.testing import write_pipeline

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 240)
    x = (rng.integers(0, 60, (240, 12)) + y[:, None] * 40).astype(np.uint8)
    arrays = {"x_train": x[:160], "y_train": y[:160], "x_val": x[160:200], "y_val": y[160:200],
              "x_test": x[200:], "y_test": y[200:]} if fixed else {"x": x, "y": y}
    _folder(tmp_path / "d", **arrays)
    path = write_pipeline(tmp_path, name="mapped", data={"source": "npy", "path": "d"}, study={"trials": 2},
                          train={"epochs": 2, "isolation": isolation})
    from typer.testing import CliRunner

    from automl.cli import app

    done = CliRunner().invoke(app, ["run", str(path)])  # in this process: the trial process is the one that matters
    assert done.exit_code == 0 and done.exception is None, done.output[-2000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mapped")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("automl.role") == "study")
    assert 0.0 <= parent.data.metrics["test_accuracy"] <= 1.0
    summary = json.loads(Path(client.download_artifacts(parent.info.run_id, "data.json", str(tmp_path))).read_text())
    assert (summary["train"], summary["val"], summary["test"]) == ((160, 40, 40) if fixed else (144, 48, 48))
    assert summary["split"] == ("fixed" if fixed else "random")
