"""Load a pipeline's data: read the source, settle the task, encode labels, split."""

from __future__ import annotations

import functools
import json

import numpy as np

from automl.config.models import DataConfig
from automl.data.dataset import Dataset
from automl.data.sources import SOURCES, RawData
from automl.errors import DataError

MAX_CLASSES = 100


def infer_task(raw: RawData) -> str:
    """Classification for strings, booleans and small sets of integers; regression otherwise."""
    if raw.target_kind:
        return raw.target_kind
    y = raw.y
    if not np.issubdtype(y.dtype, np.number) or y.dtype == bool:
        return "classification"
    values = np.unique(y[~np.isnan(y)] if np.issubdtype(y.dtype, np.floating) else y)
    integral = np.all(np.equal(np.mod(values, 1), 0))
    if integral and len(values) <= min(MAX_CLASSES, max(2, len(y) // 5)):
        return "classification"
    return "regression"


def load_dataset(data: DataConfig, task: str | None = None, *, seed: int | None = 0, file: str = "") -> Dataset:
    """Read ``data`` and split it (stratified for classification) into train / validation / test."""
    key = json.dumps(data.model_dump(mode="json", exclude_unset=True), sort_keys=True)
    return _load_cached(key, task, seed, file)


@functools.lru_cache(maxsize=4)
def _load_cached(key: str, task: str | None, seed: int | None, file: str) -> Dataset:
    data = DataConfig.model_validate(json.loads(key))
    raw = SOURCES[data.source](data, file)
    task = task or infer_task(raw)
    x, y = raw.x, raw.y
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise DataError("features contain NaN or infinite values", file=file, path="data")
    class_names: list[str] = []
    if task == "classification":
        classes, y = np.unique(y.astype(str) if y.dtype == object else y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"classification needs at least 2 classes, got {len(classes)}", file=file,
                            path="data.target" if data.source == "csv" else "data")
        if len(classes) > MAX_CLASSES:
            raise DataError(f"at most {MAX_CLASSES} classes, got {len(classes)}; set `task: regression` for a "
                            "numeric target", file=file, path="task")
        class_names = [str(c) for c in classes]
        y = y.astype(np.int32)
    else:
        if not np.issubdtype(raw.y.dtype, np.number):
            raise DataError(f"regression needs a numeric target, got values like {raw.y[:3].tolist()}", file=file,
                            path="data.target" if data.source == "csv" else "task")
        y = y.astype(np.float32)
    parts = _split(len(x), y if task == "classification" and data.stratify else None,
                   data.validation_split, data.test_split, seed)
    (tr, va, te) = parts
    return Dataset(
        x_train=x[tr], y_train=y[tr], x_val=x[va], y_val=y[va], x_test=x[te], y_test=y[te],
        task=task, num_classes=len(class_names), class_names=class_names,
        feature_names=raw.feature_names, encoding=raw.encoding, source=data.source,
    )


def _split(n: int, strata: np.ndarray | None, val: float, test: float, seed: int | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    state = 0 if seed is None else seed

    def can_stratify(labels: np.ndarray | None, frac: float) -> np.ndarray | None:
        if labels is None:
            return None
        counts = np.bincount(labels)
        counts = counts[counts > 0]
        return labels if counts.min() >= 2 and frac * len(labels) >= len(counts) else None

    rest, te = train_test_split(idx, test_size=test, random_state=state, stratify=can_stratify(strata, test))
    sub = strata[rest] if strata is not None else None
    tr, va = train_test_split(rest, test_size=val / (1 - test), random_state=state,
                              stratify=can_stratify(sub, val / (1 - test)))
    return np.sort(tr), np.sort(va), np.sort(te)
