"""Data sources: built-in scikit-learn sets, generated sets, CSV and NPZ files, image folders -> (x, y).

Every source returns raw features exactly as a caller of the exported model would pass them; the
model's own preprocessing layers standardize them. Nothing is downloaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl.config.models import DataConfig
from automl.errors import DataError


@dataclass
class RawData:
    x: np.ndarray
    y: np.ndarray
    feature_names: list[str] | None = None
    encoding: dict[str, Any] | None = None
    target_kind: str | None = None  # "classification" / "regression" when the source knows


SOURCES: dict[str, Callable[[DataConfig, str], RawData]] = {}


def source(name: str) -> Callable[[Callable[[DataConfig, str], RawData]], Callable[[DataConfig, str], RawData]]:
    def deco(fn: Callable[[DataConfig, str], RawData]) -> Callable[[DataConfig, str], RawData]:
        SOURCES[name] = fn
        return fn

    return deco


def _sklearn(loader: str, *, image: bool = False) -> Callable[[DataConfig, str], RawData]:
    def load(cfg: DataConfig, file: str) -> RawData:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader)()
        x = np.asarray(bunch.data, dtype=np.float32)
        if image:
            x = np.asarray(bunch.images, dtype=np.float32)[..., None]  # (N, 8, 8, 1), pixels 0-16
        names = None if image else [str(n) for n in bunch.feature_names]
        return RawData(x=x, y=np.asarray(bunch.target), feature_names=names, target_kind="classification")

    return load


source("digits")(_sklearn("load_digits", image=True))
source("breast_cancer")(_sklearn("load_breast_cancer"))
source("wine")(_sklearn("load_wine"))
source("iris")(_sklearn("load_iris"))


@source("synthetic")
def _synthetic(cfg: DataConfig, file: str) -> RawData:
    """Generated data: tabular (make_classification / make_regression), sequences or images."""
    from sklearn.datasets import make_classification, make_regression

    rng = np.random.default_rng(0)
    shape = tuple(cfg.shape) if cfg.shape else (cfg.features,)
    n_features = int(np.prod(shape))
    if cfg.classes == 0:
        x, y = make_regression(n_samples=cfg.samples, n_features=n_features, n_informative=min(n_features, 8),
                               noise=cfg.noise * 10, random_state=0)
        return RawData(x.reshape((-1, *shape)).astype(np.float32), y.astype(np.float32),
                       target_kind="regression")
    if len(shape) == 1:
        informative = max(2, min(n_features // 2, 10))
        while cfg.classes > 2**informative:
            informative += 1
        if informative > n_features:
            raise DataError(f"{cfg.classes} classes need more than {n_features} features", file=file,
                            path="data.features")
        x, y = make_classification(n_samples=cfg.samples, n_features=n_features, n_informative=informative,
                                   n_redundant=0, n_classes=cfg.classes, flip_y=cfg.noise, random_state=0)
        return RawData(x.astype(np.float32), y, target_kind="classification")
    # sequences / images: one smooth random template per class, plus noise and a random shift
    y = rng.integers(0, cfg.classes, size=cfg.samples)
    templates = rng.normal(size=(cfg.classes, *shape))
    for axis in range(len(shape) - 1):  # smooth along time / space so shapes carry the signal
        templates = (templates + np.roll(templates, 1, axis=axis + 1) + np.roll(templates, -1, axis=axis + 1)) / 3
    x = templates[y] + rng.normal(scale=0.5 + cfg.noise * 5, size=(cfg.samples, *shape)).astype(np.float32)
    shifts = rng.integers(-1, 2, size=cfg.samples)
    x = np.stack([np.roll(xi, s, axis=0) for xi, s in zip(x, shifts, strict=True)])
    return RawData(x.astype(np.float32), y, target_kind="classification")


@source("npz")
def _npz(cfg: DataConfig, file: str) -> RawData:
    path = Path(str(cfg.path))
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.keys())
            if "x" not in keys or "y" not in keys:
                raise DataError(f"{path.name} must hold arrays `x` and `y`, got {keys}", file=file, path="data.path")
            x, y = npz["x"], npz["y"]
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path.name} as .npz: {exc}", file=file, path="data.path") from None
    if len(x) != len(y):
        raise DataError(f"x and y must have the same length, got {len(x)} and {len(y)}", file=file, path="data.path")
    if x.ndim < 2 or x.ndim > 4:
        raise DataError(f"x must have rank 2, 3 or 4 (N, ...), got shape {x.shape}", file=file, path="data.path")
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise DataError(f"x must be numeric, got dtype {x.dtype}", file=file, path="data.path")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
        y = y.argmax(axis=1)  # one-hot labels
    if y.ndim != 1:
        raise DataError(f"y must have shape (N,) (or one-hot (N, C)), got {y.shape}", file=file, path="data.path")
    return RawData(x=x.astype(np.float32), y=y)


@source("image_folder")
def _image_folder(cfg: DataConfig, file: str) -> RawData:
    """One sub-folder of images per class, read with ``keras.utils.image_dataset_from_directory``.

    Images are resized to ``image_size`` and kept as raw pixel values (0-255, float32); the class is the
    sub-folder's name.
    """
    path = Path(str(cfg.path))
    if not path.is_dir():
        raise DataError(f"{path} is not a folder (image_folder needs one sub-folder per class)", file=file,
                        path="data.path")
    from automl.runtime import import_keras

    keras = import_keras()
    try:
        ds = keras.utils.image_dataset_from_directory(
            str(path), labels="inferred", label_mode="int", color_mode=cfg.color_mode,
            image_size=tuple(cfg.image_size), batch_size=256, shuffle=False, verbose=False)
    except ValueError as exc:  # no images, a single class, ...
        raise DataError(f"cannot read images from {path}: {str(exc).splitlines()[0]}", file=file,
                        path="data.path") from None
    images, labels = [], []
    try:
        for x, y in ds.as_numpy_iterator():
            images.append(x)
            labels.append(y)
    except Exception as exc:  # TensorFlow names the op, never the file: find the file ourselves
        bad, why = _undecodable_image(ds.file_paths, _CHANNELS[cfg.color_mode])
        where = f"{os.path.relpath(bad, path)} under {path}" if bad else f"an image under {path}"
        reason = why or _first_line(exc)
        raise DataError(f"{where} cannot be decoded as an image: {reason}", file=file, path="data.path") from None
    if not images:
        raise DataError(f"no images found under {path}", file=file, path="data.path")
    names = np.asarray(ds.class_names)
    return RawData(x=np.concatenate(images).astype(np.float32), y=names[np.concatenate(labels)],
                   target_kind="classification")


_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def _first_line(exc: BaseException) -> str:
    """The first line of an error without TensorFlow's ``{{function_node ...}}`` / ``[Op:...]`` decoration."""
    text = str(exc).strip()
    if text.startswith("{{") and "}}" in text:
        text = text[text.index("}}") + 2:].strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", line)[:200]


def _undecodable_image(paths: list[str], channels: int) -> tuple[str | None, str | None]:
    """The first of ``paths`` TensorFlow cannot read or decode (as Keras does), and why; (None, None) if none."""
    import tensorflow as tf

    for p in paths:
        try:
            tf.io.decode_image(tf.io.read_file(p), channels=channels, expand_animations=False)
        except Exception as exc:  # tf.errors.* for a bad file, an unreadable one, ...
            return p, _first_line(exc)
    return None, None


@source("csv")
def _csv(cfg: DataConfig, file: str) -> RawData:
    import pandas as pd

    path = Path(str(cfg.path))
    try:
        frame = pd.read_csv(path)
        if frame.shape[1] == 1:  # maybe not comma-separated: let the sniffer find the delimiter
            frame = pd.read_csv(path, sep=None, engine="python")
    except Exception as exc:  # pandas raises many types for a bad file
        raise DataError(f"cannot read {path.name} as CSV: {str(exc).splitlines()[0]}", file=file,
                        path="data.path") from None
    target = str(cfg.target)
    if target not in frame.columns:
        from automl._text import did_you_mean

        cols = [str(c) for c in frame.columns]
        raise DataError(f"column '{target}' not in {path.name}{did_you_mean(target, cols)} "
                        f"(columns: {', '.join(cols[:20])})", file=file, path="data.target")
    frame = frame.dropna(subset=[target])
    if len(frame) < 10:
        raise DataError(f"{path.name} needs at least 10 rows with a target, got {len(frame)}", file=file,
                        path="data.path")
    y = frame.pop(target).to_numpy()
    if frame.shape[1] == 0:
        raise DataError(f"{path.name} has no feature columns besides '{target}'", file=file, path="data.target")
    x, names, encoding = encode_frame(frame, file, categorical=cfg.categorical)
    return RawData(x=x, y=y, feature_names=names, encoding=encoding)


MAX_CATEGORIES = 50


def encode_frame(frame: Any, file: str = "", categorical: str = "onehot"
                 ) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """Numeric columns as they are (NaN -> the column median), others one-hot; returns the encoding.

    With ``categorical="embedding"`` a text column becomes one column of codes (1 + the category's index
    in ``categories``; 0 for a category not seen here) that the model embeds; ``embeddings`` in the encoding
    lists ``[feature index, number of codes]`` for each.

    A text column with more than MAX_CATEGORIES distinct values where most values are unique (an id, a
    free-text field) carries no learnable category and is dropped; the encoding records it.
    """
    import pandas as pd

    columns: list[np.ndarray] = []
    names: list[str] = []
    spec: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    embeddings: list[list[int]] = []
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_bool_dtype(series):
            series = series.astype(float)
        if pd.api.types.is_numeric_dtype(series):
            fill = float(series.median()) if series.notna().any() else 0.0
            columns.append(series.fillna(fill).to_numpy(dtype=np.float32)[:, None])
            names.append(str(col))
            spec.append({"column": str(col), "kind": "numeric", "fill": fill})
        else:
            values = series.astype("string").fillna("<missing>")
            cats = sorted(values.unique().tolist())
            if len(cats) > MAX_CATEGORIES and len(cats) > 0.5 * len(values):
                dropped.append({"column": str(col), "reason": f"{len(cats)} distinct text values"})
                continue
            if categorical == "embedding":
                codes = values.map({c: i + 1 for i, c in enumerate(cats)}).to_numpy(dtype=np.float32)
                embeddings.append([len(names), len(cats) + 1])
                columns.append(codes[:, None])
                names.append(f"{col}#code")
                spec.append({"column": str(col), "kind": "embedding", "categories": cats})
                continue
            onehot = (values.to_numpy()[:, None] == np.asarray(cats, dtype=object)[None, :]).astype(np.float32)
            columns.append(onehot)
            names += [f"{col}={c}" for c in cats]
            spec.append({"column": str(col), "kind": "onehot", "categories": cats})
    if not columns:
        raise DataError(f"no usable feature column (dropped: {', '.join(d['column'] for d in dropped)})",
                        file=file, path="data.path")
    x = np.concatenate(columns, axis=1)
    encoding: dict[str, Any] = {"columns": spec, "features": names, "dropped": dropped}
    if embeddings:
        encoding["embeddings"] = embeddings
    return x, names, encoding
