"""automl's own Keras objects, registered so that a saved ``.keras`` model reloads.

Importing this module registers them (``automl.runtime.import_keras`` does); a script that loads a
model outside automl needs ``import automl.builders.custom`` first. Everything here imports Keras at
module level, which is why the rest of :mod:`automl.builders` imports it only when a model is built.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

_register = keras.saving.register_keras_serializable(package="automl")


# --- learning-rate schedules -------------------------------------------------------------------------


@_register
class Constant(LearningRateSchedule):
    """A constant rate as a schedule, so warmup and plateau can wrap it like any other."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)

    def __call__(self, step: Any) -> Any:
        return ops.convert_to_tensor(self.learning_rate, dtype="float32")

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate}


@_register
class Warmup(LearningRateSchedule):
    """Linear warmup from ``peak / warmup_steps`` to ``peak`` over ``warmup_steps``, then ``after``.

    ``after`` sees its steps counted from the end of the warmup, so its decay starts where warmup ends.
    """

    def __init__(self, after: LearningRateSchedule | dict[str, Any], warmup_steps: int, peak: float) -> None:
        self.after = after if isinstance(after, LearningRateSchedule) else keras.saving.deserialize_keras_object(
            after)
        self.warmup_steps = int(warmup_steps)
        self.peak = float(peak)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / float(max(1, self.warmup_steps))
        rest = ops.cast(self.after(ops.maximum(step - self.warmup_steps, 0.0)), "float32")
        return ops.where(step < self.warmup_steps, warm, rest)

    def get_config(self) -> dict[str, Any]:
        return {"after": keras.saving.serialize_keras_object(self.after), "warmup_steps": self.warmup_steps,
                "peak": self.peak}


@_register
class Scaled(LearningRateSchedule):
    """``schedule(step) * factor`` where ``factor`` is a variable that :class:`ReduceOnPlateau` lowers.

    Keras forbids setting the rate of an optimizer built with a schedule (its ReduceLROnPlateau does
    exactly that), so the plateau acts on this factor instead and composes with every schedule.
    """

    def __init__(self, schedule: LearningRateSchedule | dict[str, Any], factor: float = 1.0) -> None:
        self.schedule = schedule if isinstance(schedule, LearningRateSchedule) else (
            keras.saving.deserialize_keras_object(schedule))
        self.factor = keras.Variable(float(factor), dtype="float32", trainable=False, name="lr_factor")

    def __call__(self, step: Any) -> Any:
        return ops.cast(self.schedule(step), "float32") * ops.convert_to_tensor(self.factor)

    def get_config(self) -> dict[str, Any]:
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "factor": float(ops.convert_to_numpy(self.factor))}


class ReduceOnPlateau(keras.callbacks.Callback):
    """Multiply a :class:`Scaled` schedule's factor by ``factor`` when ``monitor`` stalls ``patience`` epochs."""

    def __init__(self, schedule: Scaled, *, monitor: str, mode: str, factor: float, patience: int,
                 min_delta: float = 0.0, min_factor: float = 1e-4) -> None:
        super().__init__()
        self.schedule, self.monitor, self.mode = schedule, monitor, mode
        self.factor, self.patience, self.min_delta, self.min_factor = factor, patience, min_delta, min_factor
        self.best: float | None = None
        self.wait = 0

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self._improved(float(value)):
            self.best, self.wait = float(value), 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            current = float(ops.convert_to_numpy(self.schedule.factor))
            self.schedule.factor.assign(max(self.min_factor, current * self.factor))
            self.wait = 0


# --- layers ------------------------------------------------------------------------------------------


@_register
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of each position to a (batch, tokens, dim) input."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def build(self, input_shape: Any) -> None:
        self.positions = self.add_weight(name="positions", shape=(int(input_shape[-2]), int(input_shape[-1])),
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x: Any) -> Any:
        return x + ops.cast(self.positions, x.dtype)[None, ...]


@_register
class SinePositionEmbedding(keras.layers.Layer):
    """Adds the fixed sine/cosine position code of "Attention is all you need" (no weights)."""

    def __init__(self, max_wavelength: float = 10000.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_wavelength = float(max_wavelength)

    def call(self, x: Any) -> Any:
        tokens, dim = x.shape[-2], x.shape[-1]
        pos = ops.arange(tokens, dtype="float32")[:, None]
        i = ops.arange(dim, dtype="float32")[None, :]
        angle = pos / ops.power(self.max_wavelength, (2.0 * ops.floor(i / 2.0)) / float(dim))
        code = ops.where(ops.equal(ops.mod(i, 2.0), 0.0), ops.sin(angle), ops.cos(angle))
        return x + ops.cast(code, x.dtype)[None, ...]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


@_register
class LogProbabilities(keras.layers.Layer):
    """The logarithm of probabilities (clipped at ``floor``): the logits of a user's model that ends in a softmax.

    ``softmax(log p) == p``, so a ``probs`` softmax after it gives the probabilities back, and distillation reads
    it as it reads the logits of automl's own heads.
    """

    def __init__(self, floor: float = 1e-20, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.floor = float(floor)

    def call(self, p: Any) -> Any:
        p = ops.cast(p, "float32")
        return ops.log(ops.clip(p, self.floor, 1.0))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "floor": self.floor}


@_register
class ColumnEmbedding(keras.layers.Layer):
    """Replaces each code column of a tabular input by a learned embedding of its code.

    ``columns`` lists ``[feature index, number of codes]``; code 0 (and anything out of range) is the
    "unseen category" row. The other features pass through, followed by the embeddings.
    """

    def __init__(self, columns: list[list[int]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = [[int(i), int(n)] for i, n in columns]

    @staticmethod
    def width(codes: int) -> int:
        """Embedding width for ``codes`` categories: fastai's rule of thumb, capped at 16."""
        return int(min(16, round(1.6 * codes**0.56)))

    def build(self, input_shape: Any) -> None:
        coded = {i for i, _ in self.columns}
        self.keep = [j for j in range(int(input_shape[-1])) if j not in coded]
        self.tables = [self.add_weight(name=f"embedding_{i}", shape=(n, self.width(n)),
                                       initializer=keras.initializers.RandomUniform(-0.05, 0.05))
                       for i, n in self.columns]

    def call(self, x: Any) -> Any:
        parts = [ops.take(x, self.keep, axis=1)] if self.keep else []
        for (i, n), table in zip(self.columns, self.tables, strict=True):
            codes = ops.cast(ops.clip(ops.round(x[:, i]), 0, n - 1), "int32")
            parts.append(ops.take(table, codes, axis=0))
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        width = int(input_shape[-1]) - len(self.columns) + sum(self.width(n) for _, n in self.columns)
        return (input_shape[0], width)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "columns": self.columns}


# --- losses and metrics on sparse labels -------------------------------------------------------------


@_register
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing (Keras' sparse loss has no smoothing)."""

    def __init__(self, label_smoothing: float = 0.0, name: str = "sparse_smoothed_crossentropy",
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(labels, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@_register
class MacroScore(keras.metrics.Metric):
    """Macro-averaged precision, recall or F1 of the arg-max class against integer labels.

    Per-class true/false positives and false negatives accumulate over the epoch; classes never seen
    nor predicted count as 0 in the average, as scikit-learn's ``zero_division=0`` does.
    """

    def __init__(self, num_classes: int, kind: str = "f1", name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name or kind, **kwargs)
        if kind not in ("precision", "recall", "f1"):
            raise ValueError(f"Expected `kind` in precision, recall, f1. Received: kind={kind}")
        self.num_classes, self.kind = int(num_classes), kind
        shape = (self.num_classes,)
        self.tp = self.add_variable(shape=shape, initializer="zeros", name="tp")
        self.fp = self.add_variable(shape=shape, initializer="zeros", name="fp")
        self.fn = self.add_variable(shape=shape, initializer="zeros", name="fn")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        pred = ops.one_hot(ops.argmax(y_pred, axis=-1), self.num_classes)
        if sample_weight is not None:
            w = ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
            true, pred = true * w, pred * w
        self.tp.assign_add(ops.sum(true * pred, axis=0))
        self.fp.assign_add(ops.sum((1.0 - true) * pred, axis=0))
        self.fn.assign_add(ops.sum(true * (1.0 - pred), axis=0))

    def result(self) -> Any:
        precision = ops.divide_no_nan(self.tp, self.tp + self.fp)
        recall = ops.divide_no_nan(self.tp, self.tp + self.fn)
        if self.kind == "precision":
            score = precision
        elif self.kind == "recall":
            score = recall
        else:
            score = ops.divide_no_nan(2.0 * precision * recall, precision + recall)
        return ops.mean(score)

    def reset_state(self) -> None:
        for v in (self.tp, self.fp, self.fn):
            v.assign(ops.zeros_like(v))

    def get_config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "kind": self.kind, "name": self.name, "dtype": self.dtype}


@_register
class SparseAUC(keras.metrics.AUC):
    """ROC AUC from integer labels: one-vs-rest per class, averaged (binary: the usual AUC)."""

    def __init__(self, num_classes: int, name: str = "auc", **kwargs: Any) -> None:
        kwargs.pop("multi_label", None)
        kwargs.pop("num_labels", None)
        super().__init__(name=name, multi_label=True, num_labels=int(num_classes), **kwargs)
        self.num_classes = int(num_classes)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        if (sample_weight is None and isinstance(y_true, np.ndarray) and isinstance(y_pred, np.ndarray)
                and y_pred.shape == (y_true.size, self.num_classes)):
            return self._update_from_arrays(y_true, y_pred)
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        return super().update_state(labels, y_pred, sample_weight)

    def _update_from_arrays(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Keras's own bucketed update (``_update_confusion_matrix_variables_optimized``, evenly spaced
        thresholds with their epsilons) in numpy, for predictions scored once per trial: the same counts, so the
        same AUC, without the ``vectorized_map`` that TensorFlow converts on every eager call (~0.2-0.5 s a
        trial, most of the cost of scoring a small validation split)."""
        if not self._built:
            self._build(y_pred.shape)
        t = self.num_thresholds
        labels = np.eye(self.num_classes, dtype="float32")[np.asarray(y_true).reshape(-1).astype("int64")]
        pred = np.clip(np.asarray(y_pred, dtype="float32").reshape(labels.shape), 0.0, 1.0)
        buckets = np.maximum(np.ceil(pred * np.float32(t - 1)) - 1, 0).astype("int64")
        tp = np.empty((t, self.num_classes), "float64")
        fp = np.empty_like(tp)
        for c in range(self.num_classes):
            tp[:, c] = np.bincount(buckets[:, c], weights=labels[:, c], minlength=t)[::-1].cumsum()[::-1]
            fp[:, c] = np.bincount(buckets[:, c], weights=1.0 - labels[:, c], minlength=t)[::-1].cumsum()[::-1]
        positives, negatives = labels.sum(axis=0), (1.0 - labels).sum(axis=0)
        for variable, counts in ((self.true_positives, tp), (self.false_positives, fp),
                                 (self.false_negatives, positives - tp), (self.true_negatives, negatives - fp)):
            variable.assign(variable + counts.astype("float32"))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes}


__all__ = ["ColumnEmbedding", "Constant", "MacroScore", "PositionEmbedding", "ReduceOnPlateau", "Scaled",
           "SinePositionEmbedding", "SparseAUC", "SparseSmoothedCrossentropy", "Warmup"]
