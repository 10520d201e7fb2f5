"""The data a study trains on: train / validation / test arrays plus what the model must know."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from automl.data.rows import Rows, concat, take


@dataclass
class Dataset:
    """Split arrays. ``x`` keeps the source's raw values (the model carries its own preprocessing).

    A source read from files (``npy``) gives :class:`~automl.data.rows.Rows` for ``x_*`` (row numbers over its
    files, read a batch at a time); labels are always arrays in memory."""

    x_train: np.ndarray | Rows
    y_train: np.ndarray
    x_val: np.ndarray | Rows
    y_val: np.ndarray
    x_test: np.ndarray | Rows
    y_test: np.ndarray
    task: str
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    #: the classes as the source holds them (``[0, 1]`` for integer labels, else the names): what predict writes
    class_values: list[Any] = field(default_factory=list)
    feature_names: list[str] | None = None
    encoding: dict[str, Any] | None = None
    source: str = ""
    task_rule: str = ""  # why ``task``: the pipeline's key, or the rule the target met (automl.data.loader.task_rule)
    fixed_split: bool = False  # the user's own train / val / test rows (data.split_column, separate files, NPZ)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def embeddings(self) -> tuple[tuple[int, int], ...]:
        """``(feature index, number of codes)`` of each CSV column the model embeds."""
        return tuple((int(i), int(n)) for i, n in (self.encoding or {}).get("embeddings", []))

    @property
    def rank(self) -> int:
        return self.x_train.ndim

    def folds(self, k: int, seed: int | None = 0, *, stratify: bool = True) -> list[Dataset]:
        """``k`` cross-validation splits of train + validation (stratified for classification when every
        class has ``k`` samples); the test split stays held out and is the same in each.
        """
        from sklearn.model_selection import KFold, StratifiedKFold

        x = concat([self.x_train, self.x_val])
        y = np.concatenate([self.y_train, self.y_val])
        state = 0 if seed is None else seed
        if stratify and self.task == "classification" and np.bincount(y.astype(np.int64)).min(initial=k) >= k:
            splits = StratifiedKFold(k, shuffle=True, random_state=state).split(x, y)
        else:
            splits = KFold(k, shuffle=True, random_state=state).split(x)
        return [replace(self, x_train=take(x, tr), y_train=y[tr], x_val=take(x, va), y_val=y[va]) for tr, va in splits]

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "task": self.task,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "train": len(self.x_train),
            "val": len(self.x_val),
            "test": len(self.x_test),
            "split": "fixed" if self.fixed_split else "random",
            "encoding": self.encoding,
        }
