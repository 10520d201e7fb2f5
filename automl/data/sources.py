"""Data sources: built-in scikit-learn sets, generated sets, CSV and NPZ files, folders of .npy files, image
folders -> (x, y).

Every source returns raw features exactly as a caller of the exported model would pass them; the
model's own preprocessing layers standardize them. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl._text import first_line
from automl.config.models import DataConfig
from automl.data.batches import STREAM_BYTES
from automl.data.rows import Rows
from automl.errors import DataError

#: the values of a split column (``data.split_column``) and of :attr:`RawData.split`
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test"}


@dataclass
class RawData:
    x: np.ndarray | Rows | None  # None while ``frame`` waits to be encoded (CSV: on the training rows only)
    y: np.ndarray
    feature_names: list[str] | None = None
    encoding: dict[str, Any] | None = None
    target_kind: str | None = None  # "classification" / "regression" when the source knows
    #: the user's own split, one of "train" / "val" / "test" per row (fixed splits); None: automl splits
    split: np.ndarray | None = None
    #: CSV: the raw feature columns; encoded by :func:`fit_encoding` on the training rows, then :func:`apply_encoding`
    frame: Any = None
    categorical: str = "onehot"


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
    """``x`` and ``y`` (automl splits them), or fixed splits: ``x_train, y_train`` with ``x_val, y_val`` and
    ``x_test, y_test`` where the user has them (a missing one is split off the training rows)."""
    path = Path(str(cfg.path))
    parts: list[tuple[str, np.ndarray, np.ndarray]] = []
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.keys())
            if "x_train" in keys or "y_train" in keys:
                for name, suffix in (("train", "train"), ("val", "val"), ("test", "test")):
                    pair = [k in keys for k in (f"x_{suffix}", f"y_{suffix}")]
                    if pair == [True, True]:
                        parts.append((name, npz[f"x_{suffix}"], npz[f"y_{suffix}"]))
                    elif any(pair) or name == "train":
                        raise DataError(f"{path.name} must hold both `x_{suffix}` and `y_{suffix}`, got {keys}",
                                        file=file, path="data.path")
            elif "x" in keys and "y" in keys:
                parts.append(("all", npz["x"], npz["y"]))
            else:
                raise DataError(f"{path.name} must hold arrays `x` and `y` (or `x_train`, `y_train` and optionally "
                                f"`x_val`, `y_val`, `x_test`, `y_test`), got {keys}", file=file, path="data.path")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path.name} as .npz: {exc}", file=file, path="data.path") from None
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for name, x, y in parts:
        which = "" if name == "all" else f"_{name}"
        y = _labels(y, _check_pair(x, y, which, xs[0] if xs else None, file), file)
        xs.append(x.astype(np.float32))
        ys.append(y)
        labels.append(np.asarray([name] * len(x), dtype=object))
    if len(parts) == 1 and parts[0][0] == "all":
        return RawData(x=xs[0], y=ys[0])
    return RawData(x=np.concatenate(xs), y=np.concatenate(ys), split=np.concatenate(labels))


@source("npy")
def _npy(cfg: DataConfig, file: str) -> RawData:
    """A folder of ``.npy`` files, read a batch of rows at a time (never whole: :class:`Rows`): ``x.npy`` and
    ``y.npy`` (automl splits them), or fixed splits ``x_train.npy``, ``y_train.npy`` with ``x_val.npy``,
    ``y_val.npy`` and ``x_test.npy``, ``y_test.npy`` where the user has them (a missing one is split off the
    training rows), as ``npz`` names them. ``x`` keeps its dtype (uint8 pixels stay uint8: the model's
    preprocessing makes the floats)."""
    folder = Path(str(cfg.path))
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder (source npy needs one holding x.npy and y.npy, or x_train.npy and "
                        "y_train.npy)", file=file, path="data.path")
    names = sorted(p.name for p in folder.glob("*.npy"))
    if "x_train.npy" in names or "y_train.npy" in names:
        groups = [(name, f"_{name}") for name in ("train", "val", "test")]
    elif "x.npy" in names and "y.npy" in names:
        groups = [("all", "")]
    else:
        raise DataError(f"{folder.name} must hold x.npy and y.npy (or x_train.npy, y_train.npy and optionally "
                        f"x_val.npy, y_val.npy, x_test.npy, y_test.npy), got {names or 'no .npy file'}", file=file,
                        path="data.path")
    xs: list[Rows] = []
    ys: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for name, which in groups:
        pair = [f"{k}{which}.npy" in names for k in ("x", "y")]
        if pair != [True, True]:
            if any(pair) or name in ("train", "all"):
                raise DataError(f"{folder.name} must hold both x{which}.npy and y{which}.npy, got {names}", file=file,
                                path="data.path")
            continue
        try:
            x = Rows([folder / f"x{which}.npy"])
            y = np.load(folder / f"y{which}.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read x{which}.npy / y{which}.npy under {folder.name} as .npy: "
                            f"{first_line(exc)}", file=file, path="data.path") from None
        y = _labels(np.asarray(y), _check_pair(x, y, which, xs[0] if xs else None, file), file)
        if xs and x.dtype != xs[0].dtype:  # one memory map per file, read as one array: one dtype
            raise DataError(f"x{which} has dtype {x.dtype}, x_train {xs[0].dtype}", file=file, path="data.path")
        xs.append(x)
        ys.append(y)
        labels.append(np.asarray([name] * len(y), dtype=object))
    paths = [p for x in xs for p in x.paths]
    if len(xs) == 1 and groups[0][0] == "all":
        return RawData(x=Rows(paths), y=ys[0])
    return RawData(x=Rows(paths), y=np.concatenate(ys), split=np.concatenate(labels))


def _check_pair(x: Any, y: Any, which: str, first: Any, file: str) -> str:
    """``x{which}`` and ``y{which}`` agree (length, rank, dtype, the first split's sample shape); returns ``which``."""
    if len(x) != len(y):
        raise DataError(f"x{which} and y{which} must have the same length, got {len(x)} and {len(y)}", file=file,
                        path="data.path")
    if x.ndim < 2 or x.ndim > 4:
        raise DataError(f"x{which} must have rank 2, 3 or 4 (N, ...), got shape {x.shape}", file=file,
                        path="data.path")
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise DataError(f"x{which} must be numeric, got dtype {x.dtype}", file=file, path="data.path")
    if first is not None and x.shape[1:] != first.shape[1:]:
        raise DataError(f"x{which} has samples of shape {x.shape[1:]}, x_train {first.shape[1:]}", file=file,
                        path="data.path")
    return which


def _labels(y: np.ndarray, which: str, file: str) -> np.ndarray:
    """``y{which}`` as one label per row: (N, 1) flattened, one-hot (N, C) turned into class indices."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
        y = y.argmax(axis=1)  # one-hot labels
    if y.ndim != 1:
        raise DataError(f"y{which} must have shape (N,) (or one-hot (N, C)), got {y.shape}", file=file,
                        path="data.path")
    return y


@source("image_folder")
def _image_folder(cfg: DataConfig, file: str) -> RawData:
    """One sub-folder of images per class; the class is the sub-folder's name.

    The folder is listed (no image read), then decoded once, resized to ``image_size``, into a uint8 ``.npy``
    file under :data:`IMAGE_CACHE` named by the listing's fingerprint (every file's path, size and modification
    time, the size and the color mode), written chunk by chunk so that decoding takes memory independent of the
    number of images. Later trials, sessions and studies reuse it while the fingerprint holds. ``data.cache``
    then loads it whole (``memory``) or hands the splits on as rows read by batches (``disk``,
    :class:`~automl.data.rows.Rows`); ``auto`` loads up to :data:`MEMORY_BYTES` of pixels. Pixels stay uint8
    (0-255) until they reach the model, whose own preprocessing makes the floats. ``none`` writes nothing: the
    splits are rows of image files (:class:`~automl.data.images.ImageFiles`) decoded when a batch is read, after
    one image per class is decoded here as a check.
    """
    path = Path(str(cfg.path))
    if not path.is_dir():
        raise DataError(f"{path} is not a folder (image_folder needs one sub-folder per class)", file=file,
                        path="data.path")
    paths, labels, classes = _list_images(path, file)
    size, channels = tuple(int(v) for v in cfg.image_size), _CHANNELS[cfg.color_mode]
    if cfg.cache == "none":  # decoded when a batch is read, in the process that reads it: nothing written
        from automl.data.images import ImageFiles, decoder

        decoder(size, cfg.color_mode)  # Keras's import first: then TensorFlow decodes the sample below
        sample = [paths[int(np.flatnonzero(labels == c)[0])] for c in np.unique(labels)]  # one image per class
        bad, why = _undecodable_image(sample, channels)
        if bad:
            raise DataError(f"{os.path.relpath(bad, path)} under {path} cannot be decoded as an image: {why}",
                            file=file, path="data.path")
        return RawData(x=ImageFiles(paths, size, cfg.color_mode), y=np.asarray(classes, dtype=object)[labels],
                       target_kind="classification")
    cached = _decoded(paths, size, cfg.color_mode, path, file)
    shape = (len(paths), *size, channels)
    pixels = int(np.prod(shape, dtype=np.int64))
    x: np.ndarray | Rows = Rows([cached])
    if cfg.cache == "memory" or (cfg.cache == "auto" and pixels <= MEMORY_BYTES):
        x = np.load(cached)
    return RawData(x=x, y=np.asarray(classes, dtype=object)[labels], target_kind="classification")


#: where image_folder keeps its decoded pixels (relative to the working directory, beside the studies' stores)
IMAGE_CACHE = Path("mlruns") / ".cache" / "images"
#: data.cache auto: the decoded pixels are loaded whole up to this many bytes, else read by batches: the line
#: above which a split in memory would be fed to Keras by batches anyway (automl.data.batches)
MEMORY_BYTES = STREAM_BYTES
#: the file types image_folder reads (as keras.utils.image_dataset_from_directory does)
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def _list_images(path: Path, file: str) -> tuple[list[str], np.ndarray, list[str]]:
    """Every image under ``path``'s sub-folders (sorted), its class index, and the class names."""
    classes = sorted(d.name for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    paths: list[str] = []
    labels: list[int] = []
    for i, name in enumerate(classes):
        found = sorted(str(p) for p in (path / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        paths += found
        labels += [i] * len(found)
    if not paths:
        raise DataError(f"no images found under {path} (one sub-folder of .png / .jpg / .bmp / .gif files per "
                        "class)", file=file, path="data.path")
    if len(set(labels)) < 2:
        raise DataError(f"cannot read images from {path}: only one class ({classes[labels[0]]}) holds images; "
                        "image_folder needs one sub-folder per class, at least two", file=file, path="data.path")
    return paths, np.asarray(labels, dtype=np.int64), classes


def _fingerprint(paths: list[str], size: tuple[int, ...], color_mode: str) -> str:
    import hashlib

    digest = hashlib.sha256(f"{size} {color_mode}".encode())
    for p in paths:
        stat = os.stat(p)
        digest.update(f"{p}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _decoded(paths: list[str], size: tuple[int, ...], color_mode: str, folder: Path, file: str) -> str:
    """The uint8 ``.npy`` of every image in ``paths``, decoded and resized (bilinear, as Keras's
    ``image_dataset_from_directory``): made once, atomically, in chunks of :data:`DECODE_BATCH` images."""
    target = (IMAGE_CACHE / f"{_fingerprint(paths, size, color_mode)}.npy").absolute()
    if target.is_file():
        return str(target)
    import tensorflow as tf

    from automl.data.images import decoder

    channels = _CHANNELS[color_mode]
    load = decoder(size, color_mode)  # imports Keras first (automl.runtime), then TensorFlow is safe to use

    made = [d for d in (target.parent, *target.parent.parents)[:3] if not d.exists()]  # mlruns/.cache/images
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp")
    images = tf.data.Dataset.from_tensor_slices(paths).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    try:
        with open(tmp, "wb") as out:  # plain writes: a memory map would count every page in this process
            np.lib.format.write_array_header_1_0(out, {"descr": np.dtype(np.uint8).str, "fortran_order": False,
                                                       "shape": (len(paths), *size, channels)})
            try:
                for chunk in images.batch(DECODE_BATCH).as_numpy_iterator():
                    out.write(np.ascontiguousarray(chunk).tobytes())
            except Exception as exc:  # TensorFlow names the op, never the file: find the file ourselves
                bad, why = _undecodable_image(paths, channels)
                where = f"{os.path.relpath(bad, folder)} under {folder}" if bad else f"an image under {folder}"
                raise DataError(f"{where} cannot be decoded as an image: {why or _first_line(exc)}", file=file,
                                path="data.path") from None
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        if not target.exists():  # a folder that cannot load leaves no folders behind either
            for d in made:
                with contextlib.suppress(OSError):
                    d.rmdir()
    return str(target)


#: images decoded per chunk written to the cache
DECODE_BATCH = 256


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


def _read_csv(path: Path, file: str, key: str) -> Any:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
        if frame.shape[1] == 1:  # maybe not comma-separated: let the sniffer find the delimiter
            frame = pd.read_csv(path, sep=None, engine="python")
    except Exception as exc:  # pandas raises many types for a bad file
        raise DataError(f"cannot read {path.name} as CSV: {first_line(exc)}", file=file,
                        path=key) from None
    return frame


@source("csv")
def _csv(cfg: DataConfig, file: str) -> RawData:
    import pandas as pd

    path = Path(str(cfg.path))
    frame = _read_csv(path, file, "data.path")
    target = str(cfg.target)
    if target not in frame.columns:
        from automl._text import did_you_mean

        cols = [str(c) for c in frame.columns]
        if not _reads_as_header(cols):  # a file that is no CSV of ours: quote none of its content
            raise DataError(f"column '{target}' not in {path.name}: its first line is not a header of column names "
                            "(a CSV for automl starts with one)", file=file, path="data.target")
        raise DataError(f"column '{target}' not in {path.name}{did_you_mean(target, cols)} "
                        f"(columns: {', '.join(cols[:20])})", file=file, path="data.target")
    split: np.ndarray | None = None
    extra = {"val": cfg.validation_path, "test": cfg.test_path}
    if any(extra.values()):  # separate files: the main file is the training split
        parts, labels = [frame], [np.asarray(["train"] * len(frame), dtype=object)]
        for name, other in extra.items():
            if other is None:
                continue
            key = "data.validation_path" if name == "val" else "data.test_path"
            part = _read_csv(Path(str(other)), file, key)
            missing = [str(c) for c in frame.columns if c not in part.columns]
            if missing:
                raise DataError(f"{Path(str(other)).name} lacks column(s) of {path.name}: {', '.join(missing[:10])}",
                                file=file, path=key)
            parts.append(part[frame.columns])
            labels.append(np.asarray([name] * len(part), dtype=object))
        frame = pd.concat(parts, ignore_index=True)
        split = np.concatenate(labels)
    elif cfg.split_column:
        split = _split_column(frame, str(cfg.split_column), target, path, file)
        frame = frame.drop(columns=[cfg.split_column])
    keep = frame[target].notna().to_numpy()
    frame = frame[keep]
    split = split[keep] if split is not None else None
    if len(frame) < 10:
        raise DataError(f"{path.name} needs at least 10 rows with a target, got {len(frame)}", file=file,
                        path="data.path")
    y = frame.pop(target).to_numpy()
    if frame.shape[1] == 0:
        raise DataError(f"{path.name} has no feature columns besides '{target}'", file=file, path="data.target")
    return RawData(x=None, y=y, frame=frame.reset_index(drop=True), split=split, categorical=cfg.categorical)


def _reads_as_header(columns: list[str]) -> bool:
    """Whether a CSV's first line reads as column names: none empty (pandas' ``Unnamed: N``) and none a number.

    A file that is not a data table (``/etc/shadow`` given as data.path) has a first line of values, and an
    error message must not quote them.

    >>> _reads_as_header(["age", "income", "churned"]), _reads_as_header(["root", "*", "20228", "Unnamed: 3"])
    (True, False)
    """
    for name in columns:
        if name.startswith("Unnamed: "):
            return False
        try:
            float(name)
        except ValueError:
            continue
        return False
    return True


def _split_column(frame: Any, column: str, target: str, path: Path, file: str) -> np.ndarray:
    """``data.split_column``'s values as train / val / test (one-line errors for anything else)."""
    if column not in frame.columns:
        from automl._text import did_you_mean

        cols = [str(c) for c in frame.columns]
        hint = did_you_mean(column, cols) if _reads_as_header(cols) else ""
        raise DataError(f"column '{column}' not in {path.name}{hint}", file=file, path="data.split_column")
    if column == target:
        raise DataError(f"the split column '{column}' is the target", file=file, path="data.split_column")
    values = frame[column].astype("string").str.strip().str.lower().fillna("<missing>")
    bad = sorted(set(values.unique().tolist()) - set(SPLIT_NAMES))
    if bad:
        raise DataError(f"column '{column}' has value(s) {', '.join(repr(b) for b in bad[:5])}: each row must be "
                        "train, val (or validation) or test", file=file, path="data.split_column")
    return np.asarray([SPLIT_NAMES[v] for v in values], dtype=object)


MAX_CATEGORIES = 50


def fit_encoding(frame: Any, file: str = "", categorical: str = "onehot") -> dict[str, Any]:
    """How raw columns become numbers, learnt from ``frame`` (the training rows: nothing of the validation or
    test rows leaks into the statistics).

    Numeric columns stay as they are, a missing value becoming the column's training median; text columns
    become one-hot columns over the categories seen in training (a category seen only later is all zeros),
    or, with ``categorical="embedding"``, one column of codes (1 + the category's index in ``categories``; 0
    for a category not seen in training) that the model embeds; ``embeddings`` in the encoding lists
    ``[feature index, number of codes]`` for each. A missing text value is the category ``<missing>``.

    A text column with more than MAX_CATEGORIES distinct values where most values are unique (an id, a
    free-text field) carries no learnable category and is dropped; the encoding records it.
    """
    import pandas as pd

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
            names.append(str(col))
            spec.append({"column": str(col), "kind": "numeric", "fill": fill})
            continue
        values = series.astype("string").fillna("<missing>")
        cats = sorted(values.unique().tolist())
        if len(cats) > MAX_CATEGORIES and len(cats) > 0.5 * len(values):
            dropped.append({"column": str(col), "reason": f"{len(cats)} distinct text values"})
            continue
        if categorical == "embedding":
            embeddings.append([len(names), len(cats) + 1])
            names.append(f"{col}#code")
            spec.append({"column": str(col), "kind": "embedding", "categories": cats})
            continue
        names += [f"{col}={c}" for c in cats]
        spec.append({"column": str(col), "kind": "onehot", "categories": cats})
    if not spec:
        raise DataError(f"no usable feature column (dropped: {', '.join(d['column'] for d in dropped)})",
                        file=file, path="data.path")
    encoding: dict[str, Any] = {"columns": spec, "features": names, "dropped": dropped,
                                "fitted_on": "training rows", "unseen_category": "all zeros (one-hot) or code 0"}
    if embeddings:
        encoding["embeddings"] = embeddings
    return encoding


def apply_encoding(frame: Any, encoding: dict[str, Any]) -> np.ndarray:
    """``frame``'s rows as the model's input, by an encoding of :func:`fit_encoding` (any rows: training,
    validation, test, or new raw rows to predict)."""
    import pandas as pd

    columns: list[np.ndarray] = []
    for col in encoding["columns"]:
        series = frame[col["column"]]
        if col["kind"] == "numeric":
            if pd.api.types.is_bool_dtype(series):
                series = series.astype(float)
            numbers = pd.to_numeric(series, errors="coerce")  # text in a numeric column: missing
            columns.append(numbers.fillna(col["fill"]).to_numpy(dtype=np.float32)[:, None])
            continue
        values = series.astype("string").fillna("<missing>").to_numpy()
        cats = col["categories"]
        if col["kind"] == "embedding":
            codes = {c: i + 1 for i, c in enumerate(cats)}
            columns.append(np.asarray([codes.get(v, 0) for v in values], dtype=np.float32)[:, None])
        else:
            columns.append((values[:, None] == np.asarray(cats, dtype=object)[None, :]).astype(np.float32))
    return np.concatenate(columns, axis=1)
