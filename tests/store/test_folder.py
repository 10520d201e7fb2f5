"""The study folder: reserved names, what --new may delete, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from automl.errors import ConfigError, StudyError
from automl.store.folder import MARKER, StudyFolder, atomic_path, check_name, read_json, write_json

pytestmark = pytest.mark.fresh_folder  # what the study folder writes, file by file


@pytest.mark.parametrize("name", ["artifacts", "keras_tuner", "mlflow.db", "optuna.db", "ui.log", "Artifacts",
                                  "optuna.db-journal", "mlflow.db.lock", "quickstart-student", "quickstart-tflite"])
def test_names_the_stores_own_are_reserved(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_name(name, file="p.yaml")
    assert str(err.value).startswith("p.yaml: name: ") and "reserved" in str(err.value)


def test_the_storage_files_in_mlruns_are_reserved() -> None:
    with pytest.raises(ConfigError, match="'mine.db' is reserved"):
        check_name("mine.db", stores=("sqlite:///mlruns/mine.db",))
    check_name("mine.db", stores=("sqlite:///elsewhere/mine.db",))  # not under mlruns/: no clash
    for name in ("quickstart", "student", "tflite", "my.study-2"):
        check_name(name)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_clear_deletes_only_what_automl_writes(tmp_path: Path) -> None:
    folder = StudyFolder("s", tmp_path)
    folder.claim()
    for path in (folder.best_model, folder.best_info, folder.student_model, folder.export_dir / "best_int8.tflite",
                 folder.candidate(3)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (folder.path / "notes.txt").write_text("the user's own file")
    (folder.path / "mine").mkdir()
    (folder.path / "mine" / "data.csv").write_text("a,b")
    deleted = folder.clear()
    assert folder.best_model in deleted and folder.export_dir in deleted and folder.marker in deleted
    assert _tree(folder.path) == {"notes.txt": b"the user's own file", "mine/data.csv": b"a,b"}


def test_clear_removes_an_emptied_folder_and_refuses_another_studys(tmp_path: Path) -> None:
    folder = StudyFolder("s", tmp_path)
    folder.claim()
    folder.best_model.write_text("x")
    folder.clear()
    assert not folder.path.exists()

    other = tmp_path / "t"
    other.mkdir()
    (other / MARKER).write_text(json.dumps({"study": "u"}))
    (other / "best.keras").write_text("u's model")
    with pytest.raises(StudyError, match="belongs to study 'u'"):
        StudyFolder("t", tmp_path).clear()
    with pytest.raises(StudyError, match="belongs to study 'u'"):
        StudyFolder("t", tmp_path).claim()
    assert (other / "best.keras").read_text() == "u's model"


def test_an_unmarked_folder_of_an_earlier_release_is_adopted(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "best.keras").write_text("m")
    folder = StudyFolder("old", tmp_path)
    folder.claim()
    assert folder.owner() == "old" and folder.best_model.read_text() == "m"


def test_atomic_writes_keep_the_old_file_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "best.json"
    write_json(target, {"trial": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"trial": 2, "trunc')
        raise RuntimeError("killed mid-write")
    assert read_json(target) == {"trial": 1}
    assert os.listdir(tmp_path) == ["best.json"]  # no temporary file left


def test_read_json_of_a_damaged_file_is_none(tmp_path: Path) -> None:
    (tmp_path / "best.json").write_text('{"trial": 2, "trunc')
    assert read_json(tmp_path / "best.json") is None
    assert read_json(tmp_path / "missing.json") is None


def test_a_batch_larger_than_the_training_split_is_noted(tmp_path: Path) -> None:
    from automl.api import validate
    from automl.testing import write_pipeline

    path = write_pipeline(tmp_path, train={"batch_size": 4096})
    assert validate(path).notes == [f"{path}: train.batch_size 4096 is larger than the training split (120 rows): "
                                    "each epoch is one step of all rows"]
    assert validate(write_pipeline(tmp_path, name="ok")).notes == []


def test_one_model_loader_and_one_error_for_every_caller(tmp_path: Path) -> None:
    """store.folder.load_model serves the study, the exporter and the teacher; each words ModelLoadError its way."""
    from automl.errors import ExportError
    from automl.export.exporter import _load
    from automl.store.folder import ModelLoadError, load_model

    bad = tmp_path / "best.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError) as err:
        load_model(bad)
    assert err.value.path == bad and err.value.reason.startswith("not a zip archive")
    assert str(err.value) == f"{bad} is not a Keras model Keras can load: {err.value.reason}"
    with pytest.raises(ExportError) as exported:
        _load(bad)
    assert str(exported.value) == f"cannot load {bad} as a Keras model: {err.value.error}"
    assert err.value.error.split(":")[0].isidentifier()  # Keras's own error, after its type
