"""The splits a trial process maps: written once per data version, the test split included, stale ones gone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.data.dataset import Dataset
from automl.trial.process import data_meta, map_splits, write_splits


def _data(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(30, 4)).astype("float32"), rng.integers(0, 3, 30)
    return Dataset(x[:20], y[:20], x[20:25], y[20:25], x[25:], y[25:], task="classification", num_classes=3,
                   class_names=["a", "b", "c"])


def test_the_splits_are_written_once_and_mapped_with_the_test_split(tmp_path: Path) -> None:
    data = _data(0)
    folder = write_splits(data, tmp_path)
    stamp = (folder / "x_train.npy").stat().st_mtime_ns
    assert write_splits(data, tmp_path) == folder and (folder / "x_train.npy").stat().st_mtime_ns == stamp
    mapped = map_splits(folder, data_meta(data))
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(mapped, name), getattr(data, name)), name
    assert mapped.class_names == ["a", "b", "c"] and mapped.num_classes == 3


@pytest.mark.fresh_folder  # it checks what is (not) written into a fresh folder
def test_an_earlier_data_version_is_removed(tmp_path: Path) -> None:
    old = write_splits(_data(0), tmp_path)
    new = write_splits(_data(1), tmp_path)
    assert new != old and new.exists() and not old.exists()
    assert [p.name for p in tmp_path.iterdir()] == [new.name]
