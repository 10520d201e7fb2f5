"""Load a pipeline's data: read the source, settle the task, encode labels, split."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from automl._text import show
from automl.config.models import DataConfig
from automl.data.dataset import Dataset
from automl.data.rows import all_finite, take
from automl.data.sources import SOURCES, RawData, apply_encoding, fit_encoding
from automl.errors import DataError

MAX_CLASSES = 100
#: integer targets with more distinct values than this, that are also more than INTEGER_FRACTION of the rows, are
#: counts or amounts (regression), not classes
INTEGER_CLASSES = 20
INTEGER_FRACTION = 0.05


@dataclass(frozen=True)
class TaskRule:
    """The task a target implies, the rule that decided it, and whether the other task is impossible."""

    task: str
    rule: str
    certain: bool = False


class TaskContradiction(DataError):
    """The pipeline's ``task`` is one the target cannot be (text for regression, fractions for classes)."""

    def __init__(self, given: str, inferred: TaskRule, *, file: str = "") -> None:
        super().__init__(f"{given}, but the target is {inferred.task} ({inferred.rule})", file=file, path="task")
        self.given = given
        self.inferred = inferred


def task_rule(raw: RawData) -> TaskRule:
    """What the target says the task is, first rule that holds:

    1. the source knows (scikit-learn sets, generated data, image folders);
    2. text or true/false values: classification (certain: regression needs numbers);
    3. a value that is not an integer (2.75): regression (certain: classes are not fractions);
    4. more than MAX_CLASSES (100) distinct integers: regression (certain: no classifier has that many classes);
    5. more than INTEGER_CLASSES (20) distinct integers that are also more than INTEGER_FRACTION (5 %) of the rows:
       regression (a count or an amount);
    6. otherwise (few distinct integers): classification.

    A pipeline's ``task`` overrides rules 5 and 6 and contradicts 2, 3 and 4 (:class:`TaskContradiction`).
    """
    if raw.target_kind:
        return TaskRule(raw.target_kind, f"the source's targets are {raw.target_kind} labels")
    y = raw.y
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        kind = "true/false" if y.dtype == bool or set(np.unique(y.astype(str))) <= {"True", "False"} else "text"
        return TaskRule("classification", f"{kind} values, e.g. {show(y[0] if len(y) else '')}", certain=True)
    values = np.unique(y[~np.isnan(y)] if np.issubdtype(y.dtype, np.floating) else y)
    fractional = values[np.mod(values, 1) != 0]
    if len(fractional):
        return TaskRule("regression", f"values that are not integers, e.g. {show(float(fractional[0]))}", certain=True)
    n, rows = len(values), len(y)
    if n > MAX_CLASSES:
        return TaskRule("regression", f"{n} distinct integer values, more than {MAX_CLASSES} classes", certain=True)
    if n > INTEGER_CLASSES and n > INTEGER_FRACTION * rows:
        return TaskRule("regression", f"{n} distinct integer values: more than {INTEGER_CLASSES} and more than "
                        f"{INTEGER_FRACTION:.0%} of the {rows} rows")
    return TaskRule("classification", f"{n} distinct integer values (at most {INTEGER_CLASSES}, or at most "
                    f"{INTEGER_FRACTION:.0%} of the {rows} rows)")


def infer_task(raw: RawData) -> str:
    """``classification`` or ``regression``, as :func:`task_rule` decides."""
    return task_rule(raw).task


def load_dataset(data: DataConfig, task: str | None = None, *, seed: int | None = 0, file: str = "") -> Dataset:
    """Read ``data`` and split it (stratified for classification) into train / validation / test."""
    key = json.dumps(data.model_dump(mode="json", exclude_unset=True), sort_keys=True)
    return _load_cached(key, task, seed, file)


@functools.lru_cache(maxsize=4)
def _load_cached(key: str, task: str | None, seed: int | None, file: str) -> Dataset:
    data = DataConfig.model_validate(json.loads(key))
    raw = SOURCES[data.source](data, file)
    inferred = task_rule(raw)
    if task is not None and task != inferred.task and inferred.certain:
        raise TaskContradiction(task, inferred, file=file)
    task_why = f"task: {task} in the pipeline" if task else inferred.rule
    task = task or inferred.task
    y = raw.y
    class_names: list[str] = []
    class_values: list[object] = []
    if task == "classification":
        classes, y = np.unique(y.astype(str) if y.dtype == object else y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"classification needs at least 2 classes, got {len(classes)}", file=file,
                            path="data.target" if data.source == "csv" else "data")
        if len(classes) > MAX_CLASSES:
            raise DataError(f"at most {MAX_CLASSES} classes, got {len(classes)}; set `task: regression` for a "
                            "numeric target", file=file, path="task")
        class_names = [str(c) for c in classes]
        class_values = [c.item() if isinstance(c, np.generic) else c for c in classes]
        y = y.astype(np.int32)
    else:
        if not np.issubdtype(raw.y.dtype, np.number):
            raise DataError(f"regression needs a numeric target, got values like {raw.y[:3].tolist()}", file=file,
                            path="data.target" if data.source == "csv" else "task")
        y = y.astype(np.float32)
    strata = y if task == "classification" and data.stratify else None
    if raw.split is None:
        tr, va, te = _split(len(y), strata, data.validation_split, data.test_split, seed)
    else:
        tr, va, te = _fixed_split(raw.split, strata, data.validation_split, data.test_split, seed, file)
    x, encoding, names = raw.x, raw.encoding, raw.feature_names
    if raw.frame is not None:  # every statistic of the encoding from the training rows only
        encoding = fit_encoding(raw.frame.iloc[tr], file, raw.categorical)
        x, names = apply_encoding(raw.frame, encoding), list(encoding["features"])
    assert x is not None
    if not all_finite(x):
        raise DataError("features contain NaN or infinite values", file=file, path="data")
    return Dataset(  # the splits of a source read from files stay lazy: row numbers over its files
        x_train=take(x, tr), y_train=y[tr], x_val=take(x, va), y_val=y[va], x_test=take(x, te), y_test=y[te],
        task=task, num_classes=len(class_names), class_names=class_names, class_values=class_values,
        feature_names=names, encoding=encoding, source=data.source, task_rule=task_why,
        fixed_split=raw.split is not None,
    )


def _fixed_split(split: np.ndarray, strata: np.ndarray | None, val: float, test: float, seed: int | None,
                 file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The user's own rows per split; a split the user did not give is taken off the training rows (the
    same fraction of them as ``validation_split`` / ``test_split`` of all rows)."""
    from sklearn.model_selection import train_test_split

    rows = {name: np.flatnonzero(split == name) for name in ("train", "val", "test")}
    if len(rows["train"]) < 2:
        raise DataError(f"the fixed split has {len(rows['train'])} training row(s)", file=file, path="data")
    state = 0 if seed is None else seed
    for name, frac in (("test", test), ("val", val)):
        if len(rows[name]):
            continue
        train = rows["train"]
        labels = strata[train] if strata is not None else None
        keep, taken = train_test_split(train, test_size=frac, random_state=state,
                                       stratify=_stratifiable(labels, frac))
        rows["train"], rows[name] = np.sort(keep), np.sort(taken)
    return rows["train"], rows["val"], rows["test"]


def _stratifiable(labels: np.ndarray | None, frac: float) -> np.ndarray | None:
    if labels is None:
        return None
    counts = np.bincount(labels)
    counts = counts[counts > 0]
    return labels if counts.min() >= 2 and frac * len(labels) >= len(counts) else None


def _split(n: int, strata: np.ndarray | None, val: float, test: float, seed: int | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    state = 0 if seed is None else seed

    rest, te = train_test_split(idx, test_size=test, random_state=state, stratify=_stratifiable(strata, test))
    sub = strata[rest] if strata is not None else None
    tr, va = train_test_split(rest, test_size=val / (1 - test), random_state=state,
                              stratify=_stratifiable(sub, val / (1 - test)))
    return np.sort(tr), np.sort(va), np.sort(te)
