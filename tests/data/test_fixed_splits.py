"""Your own data: fixed train / val / test rows (a split column, separate files, NPZ arrays) and a CSV encoding
learnt from the training rows only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.errors import ConfigError, DataError


def _frame(n: int = 90, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"row": np.arange(n, dtype=float), "size": rng.normal(10, 2, n),
                       "color": rng.choice(["red", "blue"], n)})
    df["label"] = np.where(df["size"] > 10, "big", "small")
    return df


def test_split_column_rows_are_used_as_given_and_the_encoding_learns_from_training_rows(tmp_path: Path) -> None:
    df = _frame()
    df["part"] = np.where(df.row < 60, "train", np.where(df.row < 75, "Validation", "test"))
    df.loc[df.row >= 75, "color"] = "green"  # a category only the test rows have
    df.loc[df.row >= 60, "size"] = 1000.0  # validation/test values far from the training rows'
    df.loc[[3, 62, 80], "size"] = np.nan
    df.to_csv(tmp_path / "d.csv", index=False)
    data = load_dataset(DataConfig(source="csv", path=tmp_path / "d.csv", target="label", split_column="part"))
    assert data.fixed_split and data.summary()["split"] == "fixed"
    col = data.feature_names.index("row")  # type: ignore[union-attr]
    assert sorted(data.x_train[:, col]) == list(range(60))
    assert sorted(data.x_val[:, col]) == list(range(60, 75))
    assert sorted(data.x_test[:, col]) == list(range(75, 90))  # exactly the user's test rows
    assert "part" not in str(data.feature_names)
    size = data.feature_names.index("size")  # type: ignore[union-attr]
    train_median = float(df.loc[df.row < 60, "size"].median())
    assert data.encoding["columns"][1]["fill"] == pytest.approx(train_median)  # type: ignore[index]
    assert data.x_test[data.x_test[:, col] == 80, size][0] == pytest.approx(train_median, rel=1e-6)
    assert data.feature_names == ["row", "size", "color=blue", "color=red"]  # no green: not seen in training
    onehot = [data.feature_names.index("color=blue"), data.feature_names.index("color=red")]  # type: ignore[union-attr]
    assert (data.x_test[:, onehot] == 0).all()  # an unseen category is all zeros


def test_split_column_errors_name_the_key(tmp_path: Path) -> None:
    df = _frame()
    df["part"] = np.where(df.row < 60, "train", "holdout")
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(source="csv", path=tmp_path / "d.csv", target="label", split_column="part"))
    assert err.value.path == "data.split_column" and "'holdout'" in str(err.value)
    with pytest.raises(DataError, match="not in d.csv") as err:
        load_dataset(DataConfig(source="csv", path=tmp_path / "d.csv", target="label", split_column="prt"))
    assert "did you mean 'part'" in str(err.value)


def test_separate_files_and_a_missing_validation_split(tmp_path: Path) -> None:
    df = _frame()
    df[df.row < 70].to_csv(tmp_path / "train.csv", index=False)
    df[df.row >= 70][["label", "color", "size", "row"]].to_csv(tmp_path / "test.csv", index=False)  # other order
    data = load_dataset(DataConfig(source="csv", path=tmp_path / "train.csv", target="label",
                                   test_path=tmp_path / "test.csv", validation_split=0.25))
    col = data.feature_names.index("row")  # type: ignore[union-attr]
    assert sorted(data.x_test[:, col]) == list(range(70, 90))
    assert len(data.x_val) == round(0.25 * 70) and set(data.x_val[:, col]) < set(range(70))  # off the training rows
    df[df.row >= 70][["label", "size"]].to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(source="csv", path=tmp_path / "train.csv", target="label",
                                validation_path=tmp_path / "bad.csv"))
    assert err.value.path == "data.validation_path" and "row" in str(err.value)


def test_npz_fixed_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x_test = np.arange(30, dtype=np.float32)[:, None].repeat(3, axis=1) + 1000
    np.savez(tmp_path / "d.npz", x_train=rng.normal(size=(100, 3)), y_train=rng.integers(0, 2, 100),
             x_test=x_test, y_test=rng.integers(0, 2, 30))
    data = load_dataset(DataConfig(source="npz", path=tmp_path / "d.npz"))
    assert data.fixed_split and np.array_equal(data.x_test, x_test)
    assert len(data.x_val) == 20 and len(data.x_train) == 80  # validation_split 0.2 of the training rows
    np.savez(tmp_path / "half.npz", x_train=rng.normal(size=(10, 3)), y_train=rng.integers(0, 2, 10),
             x_val=rng.normal(size=(5, 3)))
    with pytest.raises(DataError, match="both `x_val` and `y_val`"):
        load_dataset(DataConfig(source="npz", path=tmp_path / "half.npz"))


def test_split_keys_are_checked_when_the_pipeline_loads(tmp_path: Path) -> None:
    from automl.config.loader import load_pipeline
    from automl.testing import write_pipeline

    _frame().to_csv(tmp_path / "d.csv", index=False)
    path = write_pipeline(tmp_path, data={"source": "csv", "path": "d.csv", "target": "label",
                                          "test_path": "nowhere.csv"})
    with pytest.raises(ConfigError) as err:
        load_pipeline(path)
    assert err.value.path == "data.test_path" and "nowhere.csv" in str(err.value)
    path = write_pipeline(tmp_path, data={"source": "digits", "split_column": "part"})
    with pytest.raises(ConfigError, match="does not apply to source 'digits'"):
        load_pipeline(path)


def test_a_study_on_a_fixed_split_tests_on_the_users_rows(tmp_path: Path) -> None:
    """Through the CLI: the parent run's data.json and test metrics come from exactly the user's test rows."""
    from mlflow import MlflowClient

    df = _frame(120)
    df["part"] = np.where(df.row < 80, "train", np.where(df.row < 100, "val", "test"))
    df.to_csv(tmp_path / "d.csv", index=False)
    from automl.testing import write_pipeline

    path = write_pipeline(tmp_path, name="fixed", data={"source": "csv", "path": "d.csv", "target": "label",
                                                        "split_column": "part"},
                          study={"trials": 1}, train={"epochs": 1})
    from typer.testing import CliRunner

    from automl.cli import app

    done = CliRunner().invoke(app, ["run", str(path)])  # in this process: a subprocess proved nothing more
    assert done.exit_code == 0 and done.exception is None, done.output[-2000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fixed")
    parent = next(r for r in client.search_runs([experiment.experiment_id])
                  if r.data.tags.get("automl.role") == "study")
    local = client.download_artifacts(parent.info.run_id, "data.json", str(tmp_path))
    summary = json.loads(Path(local).read_text())
    assert summary["split"] == "fixed" and (summary["train"], summary["val"], summary["test"]) == (80, 20, 20)
    assert summary["encoding"]["fitted_on"] == "training rows"
    assert "test_accuracy" in parent.data.metrics
    yaml.safe_load((tmp_path / "fixed.yaml").read_text())
