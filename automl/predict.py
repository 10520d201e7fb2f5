"""Predictions on new raw rows with a study's model: ``automl predict`` and :func:`load_model`.

The model takes the encoded features; the encoding (fitted on the training rows, ``encoding.json``) and what
the outputs mean (task, target column, class names: ``target.json``) are saved beside it in the study folder,
so predicting needs neither the training data nor the pipeline's data source. The encoding stays outside the
model (numpy / pandas), which keeps the Keras model backend-neutral.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl import _predict_io as io
from automl._text import first_line
from automl.errors import ConfigError, DataError, StudyError

if TYPE_CHECKING:
    from automl.config.loader import Pipeline
    from automl.store.folder import StudyFolder

MODELS = ("best", "student")
#: files that stand for a model elsewhere but not here (predict runs the Keras model, with its study's encoding)
_NOT_STUDIES = (".h5", ".onnx", ".csv", ".npz", ".npy", ".json")
#: the model files predict runs: Keras's own, and the shipped TFLite files (in the ai-edge-litert interpreter)
MODEL_FILES = (".keras", ".tflite")
#: the prediction column; one ``probability_<class>`` column per class follows it (classification)
PREDICTION = "prediction"


@dataclass
class LoadedModel:
    """A study's Keras model with what turns raw rows into its inputs and its outputs into predictions.

    >>> loaded = automl.load_model("pipelines/csv.yaml")  # doctest: +SKIP
    >>> loaded.predict(pandas.read_csv("examples/customers.csv")).head()  # doctest: +SKIP
    """

    model: Any  # keras.Model
    path: Path
    task: str
    class_names: list[str] = field(default_factory=list)
    class_values: list[Any] = field(default_factory=list)
    encoding: dict[str, Any] | None = None
    target: str | None = None
    feature_names: list[str] = field(default_factory=list)
    study: str | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.model.inputs[0].shape[1:])

    @property
    def columns(self) -> list[str]:
        """The raw columns a CSV must hold (the encoded ones); empty for array inputs."""
        if self.encoding:
            return [str(c["column"]) for c in self.encoding["columns"]]
        if self.feature_names and len(self.input_shape) == 1:
            return list(self.feature_names)
        return []

    def encode(self, data: Any, *, file: str = "") -> tuple[np.ndarray, list[str]]:
        """``data`` (a DataFrame of raw rows, or an array of raw features) as the model's input, and notes on what
        the encoding filled in (missing values, categories unseen in training)."""
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return self._encode_frame(data, file)
        x = io.numeric_array(data, file)
        if self.encoding and not (x.ndim == 2 and x.shape[1] == len(self.encoding["features"])):  # not encoded
            raise DataError(f"this model reads the raw columns {io.names(self.columns)}: pass a CSV file or a "
                            f"DataFrame, not an array of shape {x.shape}", file=file)
        io.check_range(x, None, file)
        # the encoding fills in raw columns only: a NaN here would be a NaN prediction (argmax: the first class)
        if x.dtype.kind == "f" and np.isnan(x).any():
            raise DataError(f"{int(np.isnan(x.reshape(len(x), -1)).any(axis=1).sum())} row(s) have missing values "
                            "(NaN); this model was trained on complete numeric rows", file=file)
        x = x.astype(np.float32, copy=False)
        return (x, []) if self.encoding else (self._shaped(x, file), [])

    def check_header(self, header: list[str], file: str) -> None:
        """Whether a CSV with these columns can be what the model reads, before any row is read: the columns it
        reads are there, and not too many others (numbers-only models: exactly their features, and the target)."""
        missing = [c for c in self.columns if c not in header]
        if missing:
            raise DataError(self._missing(missing), file=file)
        if self.columns:
            most = len(self.columns) + io.EXTRA_COLUMNS
            if len(header) > most:
                raise DataError(f"the header has {len(header)} columns; the model reads {len(self.columns)} "
                                f"({io.names(self.columns)}) and predict takes at most {io.EXTRA_COLUMNS} others",
                                file=file)
            return
        features = len(header) - (self.target in header)
        if features != int(np.prod(self.input_shape)):
            raise DataError(f"the model takes samples of {int(np.prod(self.input_shape))} numbers (shape "
                            f"{list(self.input_shape)}), got {features} column(s) besides the target: "
                            f"{io.names(header)}", file=file)

    def _missing(self, missing: list[str]) -> str:
        return (f"column(s) missing: {io.names(missing)} (the model was trained on "
                f"{io.names(self.columns, shown=20)})")

    def _shaped(self, x: np.ndarray, file: str) -> np.ndarray:
        shape = self.input_shape
        if x.shape[1:] == shape:
            return x
        if x.ndim >= 1 and len(x) and int(np.prod(x.shape[1:])) == int(np.prod(shape)):
            return x.reshape((len(x), *shape))
        raise DataError(f"the model takes samples of shape {list(shape)}, got {list(x.shape[1:])}", file=file)

    def _encode_frame(self, frame: Any, file: str) -> tuple[np.ndarray, list[str]]:
        import pandas as pd

        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataError(self._missing(missing), file=file)
        if not self.encoding:
            if self.columns:
                frame = frame[self.columns]
            else:  # numbers only: every column but the target's
                frame = frame.drop(columns=[c for c in (self.target,) if c and c in frame.columns])
            bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
            if bad:
                raise DataError(f"column(s) {', '.join(bad)} are not numeric; the model takes numbers", file=file)
            x = frame.to_numpy(dtype=np.float64)
            io.check_range(x, [str(c) for c in frame.columns], file)
            if np.isnan(x).any():
                raise DataError(f"{int(np.isnan(x).any(axis=1).sum())} row(s) have missing values; this model was "
                                "trained on complete numeric rows", file=file)
            return self._shaped(x.astype(np.float32), file), []
        from automl.data.sources import apply_encoding

        numeric = [c["column"] for c in self.encoding["columns"] if c["kind"] == "numeric"]
        if numeric:
            io.check_range(np.column_stack([_numbers(frame[c]).to_numpy(dtype=np.float64) for c in numeric]),
                           numeric, file, hint="; empty the cell to give it the training median")
        return apply_encoding(frame, self.encoding), _notes(frame, self.encoding)

    def predict(self, data: Any, *, file: str = "", batch_size: int = 256) -> Any:
        """A DataFrame, one row per input row: ``prediction`` (the class as the training labels had it, or the value
        in the target's units), then ``probability_<class>`` for each class; the input's id-like columns (those
        the encoding dropped) come first. Notes on filled-in values are in ``.attrs["notes"]``."""
        import pandas as pd

        x, notes = self.encode(data, file=file)
        if not len(x):
            raise DataError("no rows to predict", file=file)
        if self.path.suffix == ".tflite":  # the shipped file in the interpreter: its own safe points
            out = np.asarray(self.model.predict(x, batch_size=batch_size), dtype=np.float64)
        else:
            out = np.asarray(self.model.predict(x, batch_size=batch_size, verbose=0, callbacks=[_safe_points()]),
                             dtype=np.float64)
        index = data.index if isinstance(data, pd.DataFrame) else pd.RangeIndex(len(out))
        result = pd.DataFrame(index=index)
        if isinstance(data, pd.DataFrame) and self.encoding:
            for dropped in self.encoding.get("dropped", []):
                if dropped["column"] in data.columns:
                    result[dropped["column"]] = data[dropped["column"]]
        if self.task == "classification":
            labels = self.class_values or self.class_names or [str(i) for i in range(out.shape[1])]
            names = self.class_names or [str(v) for v in labels]
            result[PREDICTION] = pd.Series(np.asarray(labels, dtype=object)[out.argmax(axis=1)], index=result.index)
            for i, name in enumerate(names):
                result[f"probability_{name}"] = out[:, i]
        else:
            result[PREDICTION] = out.reshape(len(out), -1)[:, 0]
        result.attrs["notes"] = notes
        return result


def _safe_points() -> Any:
    """A Keras callback that makes the end of every prediction batch a safe point: a Ctrl-C or SIGTERM stops
    there (:func:`automl.signals.check`; fault point ``predict_batch``)."""
    import keras  # imported already, with the model

    from automl import faults, signals

    class SafePoints(keras.callbacks.Callback):  # type: ignore[misc]
        def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
            faults.point("predict_batch")
            signals.check()

    return SafePoints()


def _numbers(series: Any) -> Any:
    """A numeric column's values as the encoding reads them: booleans as 0 / 1, text as missing."""
    import pandas as pd

    return pd.to_numeric(series.astype(float) if pd.api.types.is_bool_dtype(series) else series, errors="coerce")


def _notes(frame: Any, encoding: dict[str, Any]) -> list[str]:
    """What the encoding filled in for ``frame``: missing numbers (the training median), unseen categories, and
    rows with every column missing (their prediction tells nothing of the row)."""
    notes = []
    empty = np.ones(len(frame), dtype=bool)
    for col in encoding["columns"]:
        series = frame[col["column"]]
        if col["kind"] == "numeric":
            missing = _numbers(series).isna().to_numpy()
            empty &= missing
            n = int(missing.sum())
            if n:
                notes.append(f"{col['column']}: {n} row(s) without a number, given the training median "
                             f"{col['fill']:g}")
            continue
        empty &= series.isna().to_numpy()
        values = series.astype("string").fillna("<missing>")
        unseen = sorted(set(values.unique().tolist()) - set(col["categories"]))
        if unseen:
            n = int(values.isin(unseen).sum())
            shown = ", ".join(repr(u) for u in unseen[:5]) + (", ..." if len(unseen) > 5 else "")
            how = "code 0" if col["kind"] == "embedding" else "all zeros"
            notes.append(f"{col['column']}: {n} row(s) with a category unseen in training ({shown}): {how}")
    if empty.any():
        notes.append(f"{int(empty.sum())} row(s) with every column the model reads missing: predicted from the "
                     "training medians (and the category <missing>) alone, nothing of the row")
    return notes


# -- finding the model and what describes it ------------------------------------------------------------------
def _study_source(source: Any, name: str | None, overrides: Any) -> tuple[StudyFolder, Pipeline | None, str]:
    """The study folder of ``source`` (a pipeline file or Pipeline, a study folder, or a study's name), the
    pipeline when there is one, and how to name the study in a hint."""
    from automl.config.loader import Pipeline, load_pipeline, parse_overrides
    from automl.store.folder import ROOT, StudyFolder

    if isinstance(source, Pipeline) or Path(str(source)).suffix in (".yaml", ".yml"):
        if isinstance(source, Pipeline):
            if overrides or name is not None:
                raise TypeError("overrides and name apply to a pipeline path, not a loaded Pipeline")
            pipeline = source
        else:
            items = dict(overrides if isinstance(overrides, Mapping) else parse_overrides(overrides or []))
            if name is not None:
                items["name"] = name
            pipeline = load_pipeline(source, items or None, check_data=False)  # the model needs no data
        hint = str(pipeline.file or source) + (f" --name {name}" if name is not None else "")
        return StudyFolder(pipeline.name), pipeline, hint
    if name is not None or overrides:
        raise ConfigError(f"--name and --set apply to a pipeline file, not to {source}", path="--name")
    path = Path(str(source))
    if path.is_file() or path.suffix in _NOT_STUDIES:
        raise ConfigError(f"{source} is a {path.suffix or 'plain'} file, not a study or pipeline: predict takes a "
                          "pipeline file (.yaml), a study folder (mlruns/NAME), a study's name, or a .keras / .tflite "
                          "model")
    if path.is_dir() or len(path.parts) > 1:  # a folder's path, there or not: named as given
        return StudyFolder(path.name, root=path.parent), None, "PIPELINE.yaml"
    return StudyFolder(str(source), root=ROOT), None, "PIPELINE.yaml"


def _owning_study(model: Path) -> Path:
    """The study folder a model file belongs to: its own folder (``best.keras``) or the one above an
    ``export/`` folder (``mlruns/<name>/export/best_int8.tflite``)."""
    from automl.store.folder import MARKER

    for folder in (model.parent, model.parent.parent):
        if (folder / MARKER).exists() or (folder / "target.json").exists():
            return folder
    raise StudyError(f"{model} is not in a study folder (mlruns/NAME/ or its export/): give the study as well, "
                     f"`automl predict PIPELINE.yaml DATA --model {model}`")


def _model_path(folder: StudyFolder, model: str | Path, hint: str) -> Path:
    if str(model) == "best":
        if not folder.best_model.exists():
            raise StudyError(f"{folder.best_model} is missing: study '{folder.name}' has no best model yet (run "
                             f"`automl run {hint}`; a study whose trials all failed has none)")
        return folder.best_model
    if str(model) == "student":
        if not folder.student_model.exists():
            raise StudyError(f"{folder.student_model} is missing: study '{folder.name}' has no distilled student "
                             f"(run `automl distill {hint}` first)")
        return folder.student_model
    path = Path(model)
    if path.suffix not in MODEL_FILES:
        raise ConfigError(f"expected best, student, a .keras or a .tflite file, got {str(model)!r}", path="--model")
    if not path.is_file():
        raise ConfigError(f"{path} does not exist", path="--model")
    return path


def _described(folder: StudyFolder, pipeline: Pipeline | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``target.json`` and ``encoding.json`` of the study; an earlier study without target.json is described by
    its pipeline's data (read again: the same training rows, so the same encoding)."""
    from automl.store.folder import read_json

    target, encoding = read_json(folder.target), read_json(folder.encoding)
    if target is not None and (encoding is not None or target.get("source") != "csv"):
        return target, encoding
    if pipeline is None:
        raise StudyError(f"{folder.target} is missing (a study from an earlier release): predict with the "
                         "pipeline file, whose data describes the model, or run the study again")
    from automl.plan import make_plan, target_info

    plan = make_plan(pipeline)
    return target_info(plan), plan.data.encoding


def load_model(source: str | Path | Pipeline, model: str | Path = "best", *, name: str | None = None,
               overrides: Any = None) -> LoadedModel:
    """A study's model (``best``, ``student`` or a ``.keras`` path) with its saved encoding and class names.

    ``source``: a pipeline file (its study, ``name`` / ``overrides`` as with ``--name`` / ``--set``), a study
    folder (``mlruns/<name>``), a study's name, or a ``.keras`` file in a study folder. Raises StudyError naming
    the file when the study or its model is missing.
    """
    from automl.store.folder import load_model as load_keras

    if isinstance(source, str | Path) and Path(source).suffix in MODEL_FILES:  # a model file of a study folder:
        if str(model) != "best":  # that study's encoding and target
            raise ConfigError(f"give either a model file ({source}) or --model, not both", path="--model")
        source, model = _owning_study(Path(source)), source
    folder, pipeline, hint = _study_source(source, name, overrides)
    if not folder.path.is_dir():
        raise StudyError(f"no study '{folder.name}' here ({folder.path} does not exist): run `automl run {hint}` "
                         "first")
    path = _model_path(folder, model, hint)
    target, encoding = _described(folder, pipeline)
    if path.suffix == ".tflite":  # the file a phone runs: no Keras, no TensorFlow
        from automl.tflite.validate import TFLiteModel

        try:
            keras_model: Any = TFLiteModel(path)
        except (OSError, ValueError, RuntimeError) as exc:
            raise StudyError(f"{path} is not a TFLite file the interpreter can load: "
                             f"{first_line(exc, 200)}") from None
    else:
        keras_model = load_keras(path)  # imports Keras once, without TensorFlow's start-up chatter
    loaded = LoadedModel(model=keras_model, path=path, task=str(target["task"]),
                         class_names=[str(c) for c in target.get("class_names") or []],
                         class_values=list(target.get("class_values") or []), encoding=encoding,
                         target=target.get("target"), feature_names=list(target.get("feature_names") or []),
                         study=folder.name)
    width = len(encoding["features"]) if encoding else None
    if width is not None and loaded.input_shape != (width,):
        raise StudyError(f"{path} takes inputs of shape {list(loaded.input_shape)}, but the study's encoding "
                         f"({folder.encoding}) makes {width} features: not a model of study '{folder.name}'")
    return loaded


# -- reading the rows -------------------------------------------------------------------------------------------
def read_rows(path: str | Path, model: LoadedModel | None = None) -> Any:
    """A CSV file as a DataFrame, or the features of an ``.npz`` (``x``, else ``x_test``, else its one array) or
    ``.npy`` file as an array; errors name the file. With ``model``, a CSV's header line is checked against the
    columns the model reads before any row is (:meth:`LoadedModel.check_header`)."""
    path = Path(path)
    if path.is_dir():
        raise DataError("is a folder: predict reads a CSV, .npz or .npy file", file=str(path))
    if not path.is_file():
        raise DataError("no such file", file=str(path))
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read as .npy: {exc}", file=str(path)) from None
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.keys())
                key = next((k for k in ("x", "x_test") if k in keys), keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise DataError(f"holds {keys}: predict reads the array `x` (or `x_test`)", file=str(path))
                return npz[key]
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read as .npz: {exc}", file=str(path)) from None
    header, delimiter = io.csv_header(path)
    if model is not None:
        model.check_header(header, str(path))
    return io.read_csv(path, delimiter)


def predict(source: str | Path | Pipeline, data: Any, *, model: str | Path = "best", output: str | Path | None = None,
            name: str | None = None, overrides: Any = None) -> Any:
    """Predictions of a study's model on ``data`` (a CSV / NPZ / NPY path, a DataFrame of raw rows or an array of
    raw features) as a DataFrame (:meth:`LoadedModel.predict`); written to ``output`` as CSV when given
    (spreadsheet-safe, atomically: a Ctrl-C or an error leaves an earlier file as it was)."""
    from automl import signals

    with signals.handling():  # Ctrl-C and SIGTERM stop after the batch of rows at hand (signals.Interrupted)
        loaded = load_model(source, model, name=name, overrides=overrides)
        file = str(data) if isinstance(data, str | Path) else ""
        rows = read_rows(data, loaded) if isinstance(data, str | Path) else data
        result = loaded.predict(rows, file=file)
        result.attrs["model"] = str(loaded.path)
        if output is not None:
            io.write_csv_file(result, Path(output))
    return result


__all__ = ["PREDICTION", "LoadedModel", "load_model", "predict", "read_rows"]
