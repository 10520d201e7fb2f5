"""image_folder: one sub-folder per class, decoded once into a uint8 cache, loaded whole or read by batches."""

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
    assert data.x_train.dtype == np.uint8 and data.x_train.max() > 100  # raw 0-255 pixels, uint8 until the model
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


def _folder(root: Path, per_class: int = 40, size: int = 20) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("dark", "light")):
        (root / "imgs" / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 120, (size, size, 3)) + 120 * c
            Image.fromarray(pixels.astype(np.uint8)).save(root / "imgs" / name / f"{i:03d}.png")
    return root / "imgs"


def test_disk_cache_streams_rows_and_is_reused_while_the_folder_holds(tmp_path: Path) -> None:
    from automl.data.loader import _load_cached
    from automl.data.rows import Rows
    from automl.data.sources import IMAGE_CACHE

    folder = _folder(tmp_path)
    cfg = DataConfig(source="image_folder", path=folder, image_size=[16, 16], cache="disk")
    data = load_dataset(cfg)
    assert isinstance(data.x_train, Rows) and data.x_train.dtype == np.uint8  # read by batches, never whole
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 80
    cached = sorted(IMAGE_CACHE.glob("*.npy"))
    assert len(cached) == 1 and np.load(cached[0]).shape == (80, 16, 16, 3)
    stamp = cached[0].stat().st_mtime_ns
    _load_cached.cache_clear()
    memory = load_dataset(DataConfig(source="image_folder", path=folder, image_size=[16, 16], cache="memory"))
    assert isinstance(memory.x_train, np.ndarray)  # the same decoded file, loaded whole
    np.testing.assert_array_equal(memory.x_train, np.asarray(data.x_train))
    assert sorted(IMAGE_CACHE.glob("*.npy")) == cached and cached[0].stat().st_mtime_ns == stamp  # reused
    (folder / "dark" / "000.png").touch()  # the folder changed: decoded again, under another name
    _load_cached.cache_clear()
    load_dataset(cfg)
    assert len(list(IMAGE_CACHE.glob("*.npy"))) == 2


@pytest.mark.slow  # a trial process's Keras import and a study, ~19 s: run by .ci/run after the default suite
def test_a_study_on_a_disk_cached_folder_trains_in_a_trial_process(tmp_path: Path) -> None:
    """Covered in the default run by: tests/data/test_npy_source.py::test_automl_run_on_a_npy_folder[True-process]
    (memory-mapped rows of .npy files handed to a trial process, as the disk cache's are) and
    test_a_study_with_cache_none_decodes_in_its_trial_process below (an image folder in a trial process); the disk
    cache itself: test_disk_cache_streams_rows_and_is_reused_while_the_folder_holds above (no training)."""
    import automl
    from automl.testing import write_pipeline

    folder = _folder(tmp_path, per_class=24, size=16)
    space = {"block": "cnn", "params": {"conv_blocks": 1, "filters": 4, "dense_units": 8, "lr": 0.01}}
    path = write_pipeline(tmp_path, data={"source": "image_folder", "path": str(folder), "image_size": [16, 16],
                                          "cache": "disk"},
                          space=space, study={"trials": 1}, train={"epochs": 2, "isolation": "process"})
    result = automl.run(path)
    assert result.best_value is not None and result.best_value > 0.6  # dark vs light: easy once it trains
    assert result.test_metrics


@pytest.mark.fresh_folder  # it checks what is (not) written into a fresh folder
def test_cache_none_decodes_rows_when_read_and_writes_nothing(tmp_path: Path) -> None:
    import pickle

    from automl.data.images import ImageFiles
    from automl.data.loader import _load_cached

    folder = _folder(tmp_path, per_class=10, size=12)
    data = load_dataset(DataConfig(source="image_folder", path=folder, image_size=[8, 8], cache="none"))
    assert isinstance(data.x_train, ImageFiles) and isinstance(data.x_test, ImageFiles)  # the split stays lazy
    assert data.x_train.shape[1:] == (8, 8, 3) and data.x_train.dtype == np.uint8
    assert not (tmp_path / "mlruns").exists()  # nothing written, not even the cache's folder
    _load_cached.cache_clear()
    disk = load_dataset(DataConfig(source="image_folder", path=folder, image_size=[8, 8], cache="memory"))
    np.testing.assert_array_equal(np.asarray(data.x_train), disk.x_train)  # the cache's very pixels
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(data.x_val))[1:3], disk.x_val[1:3])  # another process


def test_cache_none_is_checked_on_a_sample_and_a_bad_cache_value_is_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from automl.cli import app
    from automl.testing import write_pipeline

    folder = _folder(tmp_path, per_class=3, size=8)
    (folder / "dark" / "000.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"^p.yaml: data.path: dark/000.png under .* cannot be decoded as an image"):
        load_dataset(DataConfig(source="image_folder", path=folder, cache="none"), file="p.yaml")
    path = write_pipeline(tmp_path, data={"source": "image_folder", "path": str(folder), "cache": "sometimes"})
    result = CliRunner().invoke(app, ["validate", str(path)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith(f"{path}: data.cache: ") and "none" in lines[0], lines[0]


def test_a_study_with_cache_none_decodes_in_its_trial_process(tmp_path: Path) -> None:
    import automl
    from automl.testing import write_pipeline

    folder = _folder(tmp_path, per_class=16, size=12)
    space = {"block": "cnn", "params": {"conv_blocks": 1, "filters": 4, "dense_units": 8, "lr": 0.01}}
    path = write_pipeline(tmp_path, data={"source": "image_folder", "path": str(folder), "image_size": [12, 12],
                                          "cache": "none"},
                          space=space, study={"trials": 1}, train={"epochs": 2, "isolation": "process"})
    result = automl.run(path)
    assert result.best_value is not None and result.test_metrics
    assert not (tmp_path / "mlruns" / ".cache").exists()  # decoded on the fly: no image cache
    splits = list((tmp_path / "mlruns").rglob("x_train.images.json"))  # the trial process got the file list
    assert len(splits) == 1 and not list((tmp_path / "mlruns").rglob("x_train.npy"))
