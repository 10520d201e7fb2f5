"""A student trial's teacher comes from the one model loader (automl.store.folder.load_model), once per process."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.store.folder import ModelLoadError
from automl.trial.runner import load_teacher


def test_the_teacher_is_loaded_once_and_a_bad_file_is_a_model_load_error(tmp_path: Path) -> None:
    import keras

    path = tmp_path / "teacher.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    first = load_teacher(str(path))
    assert load_teacher(str(path)) is first and first.count_params() == 10
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="is not a Keras model Keras can load: not a zip archive"):
        load_teacher(str(bad))
