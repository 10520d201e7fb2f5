"""A study's folder, ``mlruns/<name>/``: the one owner of every path and file of a study.

The stores live beside the study folders (``mlruns/mlflow.db``, ``mlruns/optuna.db``, ``mlruns/artifacts/``,
``mlruns/keras_tuner/``), so a study name is checked against them (:func:`check_name`): a study named
``artifacts`` must never make ``--new`` delete every study's MLflow artifacts. A folder automl made carries
a marker (``.automl-study.json``, naming its study); ``--new`` deletes only the files the folder class names,
and only in a folder whose marker names this study (or an unmarked folder of an earlier release). Models and
JSON files are written atomically: a temporary file in the same folder, flushed to disk, then renamed over
the old one, so a kill during a save leaves the previous file whole.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from automl import faults
from automl._text import first_line, show
from automl.errors import ConfigError, StudyError
from automl.liveness import pid_alive

#: where every study's folder and the default stores live (relative to the working directory)
ROOT = Path("mlruns")
MARKER = ".automl-study.json"
#: entries of ``mlruns/`` that the stores own: no study may be named like them
STORE_ENTRIES = ("mlflow.db", "optuna.db", "artifacts", "keras_tuner", "ui.log", ".cache")
#: names automl derives from a study's name (the student study, the registered TFLite model)
DERIVED_SUFFIXES = ("-student", "-tflite")
_SQLITE_SIDE_FILES = ("", "-journal", "-wal", "-shm", ".lock")


def _sqlite_file(url: str | None) -> Path | None:
    prefix = "sqlite:///"
    if url and url.startswith(prefix) and ":memory:" not in url:
        return Path(url[len(prefix):])
    return None


def check_name(name: str, *, file: str | None = None, stores: tuple[str | None, ...] = (),
               root: Path = ROOT) -> None:
    """Raise ConfigError (``FILE: name: ...``) when ``name`` would resolve to a path the stores own.

    Reserved: the store entries of ``mlruns/`` (any case, for case-insensitive file systems), the SQLite
    files (and their journals) of ``stores`` when they lie in ``root``, and names ending in a suffix that
    automl derives from another study's name (``<x>-student`` is the student study of ``x``).

    >>> check_name("quickstart")
    >>> check_name("artifacts")
    Traceback (most recent call last):
    ...
    automl.errors.ConfigError: name: 'artifacts' is reserved: mlruns/artifacts is a folder or file of the stores
    """
    reserved = {f"{e}{side}".lower() if e.endswith(".db") else e.lower()
                for e in STORE_ENTRIES for side in _SQLITE_SIDE_FILES}
    root_abs = root.resolve()
    for url in stores:
        db = _sqlite_file(url)
        if db is not None and db.resolve().parent == root_abs:
            reserved |= {f"{db.name}{side}".lower() for side in _SQLITE_SIDE_FILES}
    if name.lower() in reserved or name.lower().endswith(".lock"):
        raise ConfigError(f"{show(name)} is reserved: {root.as_posix()}/{name} is a folder or file of the stores",
                          file=file, path="name")
    for suffix in DERIVED_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            raise ConfigError(f"{show(name)} is reserved: names ending in '{suffix}' are what automl names after "
                              f"study '{name[:-len(suffix)]}'; pick another name", file=file, path="name")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path, fault: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); once the block ends, it replaces ``path``.

    An exception (or a kill) inside the block leaves ``path`` as it was; the temporary file is removed.
    ``fault`` names the fault point (:mod:`automl.faults`) between the write and the rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        _fsync(tmp)
        if fault:
            faults.point(fault)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically."""
    write_bytes(path, json.dumps(data, indent=2, default=str).encode())


def write_bytes(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically (a .tflite file, an HTML report)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``; None when it is missing or not a readable JSON object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def file_digest(path: Path) -> str:
    """The SHA-256 of a file (which teacher a student learned from)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: Any, path: Path, fault: str | None = None) -> None:
    """``model.save(path)`` atomically (Keras wants the ``.keras`` suffix, which the temporary file keeps)."""
    with atomic_path(path, fault) as tmp:
        model.save(tmp)


def copy_file(source: Path, path: Path) -> None:
    """Copy ``source`` to ``path`` atomically (a kept Pareto model becoming ``best.keras``)."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)


class ModelLoadError(StudyError):
    """A ``.keras`` file that Keras cannot load (truncated, not a model, a layer not registered here).

    Its message is ``<path> is not a Keras model Keras can load: <reason>``; a caller that words it its own way
    reads ``path``, ``reason`` (:func:`load_error`'s line) and ``error`` (Keras's own first line, after its type).
    """

    path: Path
    reason: str
    error: str


def load_model(path: Path, *, compile: bool = True) -> Any:
    """The one loader of automl's Keras models (a study's models, a teacher, a model to export): the builders
    recorded beside ``path`` imported first, Keras's notes silenced; raises :class:`ModelLoadError` naming the file
    (and Keras's first line) when it cannot. ``compile=False``: without the optimizer and loss (inference)."""
    import warnings

    from automl.builders.user import import_recorded
    from automl.runtime import import_keras

    keras = import_keras()
    import_recorded(path)  # a model of a user's builder: its custom layers are registered when its module imports
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optimizer-state notes of a model saved after training
            return keras.models.load_model(path, compile=compile)
    except Exception as exc:  # a truncated zip, a file that is not a model, a layer not registered here
        reason = load_error(Path(path), exc)
        error = ModelLoadError(f"{path} is not a Keras model Keras can load: {reason[:200]}")
        error.path, error.reason = Path(path), reason
        error.error = first_line(exc, 200, typed=True)
        raise error from None


def load_error(path: Path, exc: Exception) -> str:
    """Why Keras could not load ``path``, in one line (Keras calls a .keras file that is not a zip "not found")."""
    import zipfile

    if path.suffix == ".keras" and path.is_file() and not zipfile.is_zipfile(path):
        return "not a zip archive (a .keras file is one): truncated, or another format"
    return first_line(exc, typed=True).replace(str(path), path.name)


class StudyFolder:
    """``mlruns/<name>/`` and every file automl keeps there.

    >>> folder = StudyFolder("quickstart")
    >>> folder.best_model.as_posix(), folder.export_dir.as_posix()
    ('mlruns/quickstart/best.keras', 'mlruns/quickstart/export')
    """

    #: files and folders automl writes in a study folder: the only ones ``--new`` deletes
    OWNED = ("best.keras", "best.json", "builder.json", "encoding.json", "target.json", "student.keras",
             "student.json", "student_scratch.keras", "candidates", "export", "report.html", "data", "measure.lock",
             "trials", "pareto.json", "terms.json", "distilling", MARKER)
    #: what one ``automl distill`` publishes together: a run replaces all of them or none
    STUDENT_FILES = ("student.keras", "student_scratch.keras", "student.json")
    _PUBLISH = "publish.json"

    def __init__(self, name: str, root: Path = ROOT) -> None:
        self.name = name
        self.root = root
        self.path = root / name

    # -- the files --------------------------------------------------------------------------------------
    @property
    def best_model(self) -> Path:
        return self.path / "best.keras"

    @property
    def best_info(self) -> Path:
        return self.path / "best.json"

    @property
    def builder_info(self) -> Path:
        """The user's builders the study's models come from (path, function, SHA-256): loading imports them."""
        return self.path / "builder.json"

    @property
    def encoding(self) -> Path:
        return self.path / "encoding.json"

    @property
    def target(self) -> Path:
        """What the models' outputs mean without the training data: task, target column, class names (predict)."""
        return self.path / "target.json"

    @property
    def student_model(self) -> Path:
        return self.path / "student.keras"

    @property
    def student_info(self) -> Path:
        return self.path / "student.json"

    @property
    def scratch_model(self) -> Path:
        return self.path / "student_scratch.keras"

    @property
    def distill_stage(self) -> Path:
        """Where a running ``automl distill`` writes its students: the published ones stay untouched until it
        has finished (:meth:`publish_students`), so a killed run leaves the earlier students as they were."""
        return self.path / "distilling"

    def staged(self, path: Path) -> Path:
        """``path`` (one of :attr:`STUDENT_FILES`) in the distill stage."""
        return self.distill_stage / path.name

    def publish_students(self) -> None:
        """Replace the published students with the staged ones, all of them or none.

        The stage's file list is written first; a kill while the files move is finished by the next
        :meth:`settle_students` (roll forward), so the study never holds a mix of two runs' students. A file
        the run did not make (no scratch student) is removed, not left from the earlier run."""
        stage = self.distill_stage
        write_json(stage / self._PUBLISH, {"files": [n for n in self.STUDENT_FILES if (stage / n).exists()]})
        faults.point("publish_students")
        self._roll_forward()

    def settle_students(self) -> None:
        """Before a distill run: finish a publication a kill interrupted, or drop what a killed run staged."""
        if (self.distill_stage / self._PUBLISH).exists():
            self._roll_forward()
        self.drop_stage()

    def drop_stage(self) -> None:
        """Forget a run's staged students (it was stopped or failed): the published ones stay."""
        if not (self.distill_stage / self._PUBLISH).exists():
            shutil.rmtree(self.distill_stage, ignore_errors=True)

    def _roll_forward(self) -> None:
        stage = self.distill_stage
        files = (read_json(stage / self._PUBLISH) or {}).get("files", [])
        for name in self.STUDENT_FILES:
            if (stage / name).exists():
                os.replace(stage / name, self.path / name)
            elif name not in files:
                (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(stage, ignore_errors=True)

    @property
    def terms(self) -> Path:
        """What the study was created with: its split, seed, cv folds and budget (:mod:`automl.study.terms`)."""
        return self.path / "terms.json"

    @property
    def export_dir(self) -> Path:
        return self.path / "export"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def data_dir(self) -> Path:
        """Where the splits are written for trial processes to map (one folder per content hash)."""
        return self.path / "data"

    @property
    def candidates(self) -> Path:
        return self.path / "candidates"

    def candidate(self, trial: int) -> Path:
        """Where a worker keeps the model of a trial that was the best when it ended."""
        return self.candidates / f"trial-{trial}.keras"

    @property
    def measure_lock(self) -> Path:
        """The lock that lets one process at a time time a model (``study.measure``): every worker's trials."""
        return self.path / "measure.lock"

    @property
    def trials_dir(self) -> Path:
        """Models of the Pareto trials of a multi-objective study (dominated ones are deleted)."""
        return self.path / "trials"

    def trial_model(self, trial: int) -> Path:
        return self.trials_dir / f"{trial}.keras"

    @property
    def pareto(self) -> Path:
        """The Pareto front of a multi-objective study (trial, params, values), settled after each session."""
        return self.path / "pareto.json"

    # -- ownership --------------------------------------------------------------------------------------
    @property
    def marker(self) -> Path:
        return self.path / MARKER

    def owner(self) -> str | None:
        """The study named by the folder's marker; None when it has none (or it is unreadable)."""
        info = read_json(self.marker)
        return None if info is None else str(info.get("study"))

    def claim(self) -> None:
        """Create the folder (if needed) and mark it as this study's; refuse another study's folder."""
        owner = self.owner()
        if owner is not None and owner != self.name:
            raise StudyError(f"{self.path} belongs to study '{owner}' (see {self.marker}), not '{self.name}'")
        from automl.store.access import check_writable

        check_writable(self.path, "automl needs write access to the study folder")
        self.path.mkdir(parents=True, exist_ok=True)
        if owner is None:
            write_json(self.marker, {"study": self.name})
        self._sweep()

    def _sweep(self) -> None:
        """Remove the temporary files of atomic writes whose process died mid-write."""
        for tmp in self.path.glob(".*.tmp.*"):
            pid = tmp.name.rsplit(".tmp", 1)[0].rsplit(".", 1)[-1]
            if pid.isdigit() and not pid_alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def clear(self) -> list[Path]:
        """What ``--new`` deletes: the files this class names, in a folder that is this study's (or unmarked,
        from an earlier release); files automl did not write stay. Returns the deleted paths."""
        if not self.path.is_dir():
            return []
        owner = self.owner()
        if owner is not None and owner != self.name:
            raise StudyError(f"{self.path} belongs to study '{owner}' (see {self.marker}): not deleting it")
        deleted = []
        for entry in self.OWNED + tuple(p.name for p in self.path.glob("report_*.png")):
            target = self.path / entry
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            else:
                continue
            deleted.append(target)
        for tmp in self.path.glob(".*.tmp.*"):  # what a killed atomic write left
            tmp.unlink()
        if not any(self.path.iterdir()):
            self.path.rmdir()
        return deleted

    # -- reading and writing ----------------------------------------------------------------------------
    def read_best_info(self) -> dict[str, Any] | None:
        return read_json(self.best_info)

    def write_best_info(self, info: dict[str, Any]) -> None:
        write_json(self.best_info, info)

    def save_best(self, model: Any) -> None:
        save_model(model, self.best_model, fault="save_best")


__all__ = ["MARKER", "ROOT", "ModelLoadError", "StudyFolder", "atomic_path", "check_name", "copy_file", "load_error",
           "load_model", "read_json", "save_model", "write_bytes", "write_json"]
