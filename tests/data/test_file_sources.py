"""CSV and NPZ files as users have them: delimiters, ids, missing values, one-hot labels, integer images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.errors import DataError


def _frame(n: int = 120):
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "age": rng.integers(18, 80, n).astype(float),
                       "city": rng.choice(["paris", "rome", None], n), "member": rng.choice([True, False], n)})
    df.loc[::7, "age"] = np.nan
    df["label"] = np.where(df["age"].fillna(40) > 45, "old", "young")
    return df


def test_csv_encoding_drops_ids_one_hots_text_and_fills_missing(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "d.csv", sep=";", index=False)  # not comma-separated
    data = load_dataset(DataConfig(source="csv", path=tmp_path / "d.csv", target="label"), file="p.yaml")
    assert data.task == "classification" and data.class_names == ["old", "young"]
    assert data.feature_names == ["age", "city=<missing>", "city=paris", "city=rome", "member"]
    assert data.encoding is not None and data.encoding["dropped"][0]["column"] == "id"
    assert np.isfinite(data.x_train).all()


def test_numeric_csv_target_with_many_values_is_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    np.savetxt(tmp_path / "r.csv", np.c_[x, x @ [1.0, 2.0, 3.0] * 1000], delimiter=",", header="a,b,c,y",
               comments="")
    data = load_dataset(DataConfig(source="csv", path=tmp_path / "r.csv", target="y"))
    assert data.task == "regression" and data.y_train.dtype == np.float32


def test_npz_keeps_shapes_and_accepts_one_hot_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", x=rng.normal(size=(90, 12, 3)), y=np.eye(3)[rng.integers(0, 3, 90)])
    data = load_dataset(DataConfig(source="npz", path=tmp_path / "s.npz"))
    assert data.input_shape == (12, 3) and data.num_classes == 3 and data.y_train.ndim == 1


def test_npz_integer_images_become_float(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "i.npz", x=rng.integers(0, 255, (60, 6, 6, 3)).astype(np.uint8), y=rng.integers(0, 2, 60))
    data = load_dataset(DataConfig(source="npz", path=tmp_path / "i.npz"))
    assert data.x_train.dtype == np.float32 and data.input_shape == (6, 6, 3)


def test_npz_without_the_expected_arrays_is_a_one_line_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", features=np.zeros((10, 2)), labels=np.zeros(10))
    with pytest.raises(DataError, match=r"p.yaml: data.path: bad.npz must hold arrays `x` and `y`"):
        load_dataset(DataConfig(source="npz", path=tmp_path / "bad.npz"), file="p.yaml")


def test_a_file_that_is_no_table_is_not_quoted_in_the_error(tmp_path: Path) -> None:
    secret = "$6$saltsalt$HASHofTHEpassword"
    (tmp_path / "shadow").write_text(f"root:{secret}:20228:0:99999:7:::\n" + "daemon:*:20228:0:99999:7:::\n" * 20)
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(source="csv", path=tmp_path / "shadow", target="churned"), file="p.yaml")
    assert secret not in str(info.value) and "root" not in str(info.value)
    assert str(info.value) == ("p.yaml: data.target: column 'churned' not in shadow: its first line is not a header "
                               "of column names (a CSV for automl starts with one)")
