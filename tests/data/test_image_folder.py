"""image_folder: one sub-folder per class, read with keras.utils.image_dataset_from_directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.errors import DataError


def test_the_shipped_shapes_folder_loads_as_raw_pixels(repo: Path) -> None:
    data = load_dataset(DataConfig(source="image_folder", path=repo / "examples" / "shapes", image_size=[16, 16]))
    assert data.task == "classification" and data.class_names == ["circle", "square", "triangle"]
    assert data.input_shape == (16, 16, 3) and len(data.x_train) + len(data.x_val) + len(data.x_test) == 36
    assert data.x_train.dtype == np.float32 and data.x_train.max() > 100  # 0-255, not rescaled
    assert sorted(np.bincount(data.y_test)) == [2, 3, 3]  # stratified


def test_grayscale_and_resizing(repo: Path) -> None:
    data = load_dataset(DataConfig(source="image_folder", path=repo / "examples" / "shapes", image_size=[8, 12],
                                   color_mode="grayscale"))
    assert data.input_shape == (8, 12, 1)


def test_a_folder_without_class_folders_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"^p.yaml: data.path: "):
        load_dataset(DataConfig(source="image_folder", path=tmp_path / "empty"), file="p.yaml")


def test_image_keys_do_not_apply_to_other_sources() -> None:
    with pytest.raises(ValidationError, match=r"\[image_size\] does not apply to source 'digits'"):
        DataConfig(source="digits", image_size=[8, 8])
    with pytest.raises(ValidationError, match=r"source 'image_folder' needs a `path`"):
        DataConfig(source="image_folder")
