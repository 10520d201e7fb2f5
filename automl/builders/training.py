"""Training hyperparameters every space gets, with their defaults, and what a trial needs from them.

A space overrides any of these by name (``lr: {type: float, ...}`` to search, ``schedule: cosine`` to
fix). Conditional ones (``momentum`` for sgd/rmsprop, ``decay_rate`` for exponential/step, ...) keep
their condition unless the space gives its own ``when``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from automl._text import clip, show
from automl.builders.augmentation import augmentation_hyperparameters
from automl.builders.optimizers import optimizer_hyperparameters
from automl.builders.regularizers import regularizer_hyperparameters
from automl.builders.schedules import schedule_callbacks, schedule_hyperparameters
from automl.errors import ConfigError
from automl.space.params import Param, fixed, int_range

CLASS_WEIGHTS = ("none", "balanced")


def fit_hyperparameters() -> dict[str, Param]:
    """Batch size, epochs (null: the pipeline's ``train`` values), early stopping, class weights."""
    return {
        "batch_size": fixed(None),
        "epochs": fixed(None),
        "early_stopping": fixed(False),
        "patience": int_range(3, 10).conditioned({"early_stopping": [True]}),
        "min_delta": fixed(0.0).conditioned({"early_stopping": [True]}),
        "class_weight": fixed("none"),
        "label_smoothing": fixed(0.0),
    }


def training_hyperparameters() -> dict[str, Param]:
    """Every training hyperparameter with its default, in the order they are drawn."""
    return {**optimizer_hyperparameters(), **schedule_hyperparameters(), **regularizer_hyperparameters(),
            **fit_hyperparameters(), **augmentation_hyperparameters()}


def fit_values(values: dict[str, Any], epochs: int, batch_size: int) -> dict[str, Any]:
    """``values`` with ``batch_size`` / ``epochs`` filled from the pipeline's ``train`` section.

    A searched ``epochs`` is capped at ``train.epochs``.
    """
    out = dict(values)
    out["batch_size"] = int(values.get("batch_size") or batch_size)
    out["epochs"] = min(int(values.get("epochs") or epochs), epochs)
    return out


def training_callbacks(model: Any, hp: dict[str, Any], *, monitor: str, direction: str) -> list[Any]:
    """Reduce-on-plateau and early stopping, both watching ``monitor`` (the study's metric)."""
    import keras

    mode = "max" if direction == "maximize" else "min"
    callbacks = schedule_callbacks(model, hp, monitor=monitor, mode=mode)
    if hp.get("early_stopping"):
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=int(hp.get("patience", 5)),
                                                       min_delta=float(hp.get("min_delta") or 0.0)))
    return callbacks


def class_weights(hp: dict[str, Any], y: np.ndarray, num_classes: int,
                  class_names: Sequence[str] = ()) -> dict[int, float] | None:
    """Keras ``class_weight``: none, balanced (w_i = N / (C * n_i)) or a mapping class -> weight.

    A mapping names classes by index or by name; classes it leaves out weigh 1.
    """
    spec = hp.get("class_weight", "none")
    if spec in (None, "none", False):
        return None
    if spec == "balanced":
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=num_classes).astype(np.float64)
        n = counts.sum()
        return {i: float(n / (num_classes * c)) if c > 0 else 1.0 for i, c in enumerate(counts)}
    if isinstance(spec, dict):
        names = [str(c) for c in class_names]
        out = {i: 1.0 for i in range(num_classes)}
        for key, weight in spec.items():
            if str(key) in names:
                index = names.index(str(key))
            elif isinstance(key, int) and 0 <= key < num_classes:
                index = key
            else:
                raise ConfigError(f"class_weight: {show(key)} is not a class (classes: {clip(', '.join(names))})")
            if not isinstance(weight, int | float) or weight < 0:
                raise ConfigError(f"class_weight: weights must be numbers >= 0, got {show(key)}: {show(weight)}")
            out[index] = float(weight)
        return out
    raise ConfigError(f"class_weight: expected none, balanced or a mapping class -> weight, got {show(spec)}")
