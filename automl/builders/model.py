"""Sampled parameters + data description -> a compiled ``keras.Model`` that takes raw inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from automl.builders.blocks import BLOCKS, BuildContext
from automl.builders.metrics import keras_metrics
from automl.builders.optimizers import build_optimizer


@dataclass(frozen=True)
class ModelSpec:
    """What a model is built for: shapes and target statistics, all plain data (picklable)."""

    input_shape: tuple[int, ...]
    task: str
    num_classes: int
    x_mean: list[float]
    x_var: list[float]
    y_mean: float = 0.0
    y_std: float = 1.0
    train_size: int = 0  # samples per epoch: schedules count epochs, optimizers count steps
    embeddings: tuple[tuple[int, int], ...] = ()  # (feature index, number of codes) of embedded columns
    metrics: tuple[str, ...] | None = None  # compiled (so logged per epoch); None: every metric of the task

    @classmethod
    def from_arrays(cls, x: np.ndarray, y: np.ndarray, task: str, num_classes: int, *,
                    embeddings: tuple[tuple[int, int], ...] = (),
                    metrics: tuple[str, ...] | None = None) -> ModelSpec:
        axes = tuple(range(x.ndim - 1))  # per feature / per channel
        x64 = x.astype(np.float64)
        mean, var = x64.mean(axis=axes), x64.var(axis=axes)
        for index, _ in embeddings:  # codes pass the normalization unchanged
            mean[index], var[index] = 0.0, 1.0
        spec = cls(
            input_shape=tuple(int(d) for d in x.shape[1:]),
            task=task,
            num_classes=num_classes,
            x_mean=mean.tolist(),
            x_var=var.tolist(),
            train_size=len(x),
            embeddings=tuple((int(i), int(n)) for i, n in embeddings),
            metrics=metrics,
        )
        if task == "regression":
            std = float(np.std(y)) or 1.0
            spec = cls(**{**spec.__dict__, "y_mean": float(np.mean(y)), "y_std": std})
        return spec


def build_model(block: str, hp: dict[str, Any], spec: ModelSpec, *, batch_size: int | None = None,
                epochs: int | None = None) -> Any:
    """Build and compile: [augmentation] -> Normalization (train statistics) -> block -> task head.

    Classification heads end in ``logits`` (Dense) then ``probs`` (softmax), so distillation can read
    the logits; regression heads rescale to the target's units, so the model predicts raw values.
    ``batch_size`` and ``epochs`` (default: ``hp``'s, else 32 and 10) size the learning-rate schedule.
    """
    import keras

    from automl.builders.augmentation import augment

    inputs = keras.Input(shape=spec.input_shape, name="input")
    x = augment(inputs, hp, len(spec.input_shape) + 1)
    x = keras.layers.Normalization(axis=-1, mean=spec.x_mean, variance=spec.x_var, name="normalize")(x)
    if spec.embeddings:
        from automl.builders.custom import ColumnEmbedding

        x = ColumnEmbedding([list(e) for e in spec.embeddings], name="embed_columns")(x)
    ctx = BuildContext(input_shape=spec.input_shape, task=spec.task, num_classes=spec.num_classes)
    x = BLOCKS.get(block).build(x, hp, ctx)
    if len(x.shape) != 2:  # a block that leaves a spatial/time axis
        x = keras.layers.Flatten(name="flatten")(x)
    if spec.task == "classification":
        logits = keras.layers.Dense(spec.num_classes, name="logits")(x)
        outputs = keras.layers.Activation("softmax", name="probs")(logits)
        loss: Any = keras.losses.SparseCategoricalCrossentropy()
        if float(hp.get("label_smoothing") or 0.0) > 0:
            from automl.builders.custom import SparseSmoothedCrossentropy

            loss = SparseSmoothedCrossentropy(float(hp["label_smoothing"]))
        loss_weight = 1.0
    else:
        z = keras.layers.Dense(1, name="output")(x)
        outputs = keras.layers.Rescaling(scale=spec.y_std, offset=spec.y_mean, name="unscale")(z)
        outputs = keras.layers.Reshape((), name="prediction")(outputs)
        loss = keras.losses.MeanSquaredError()
        loss_weight = 1.0 / spec.y_std**2  # the loss reads in standardized units, metrics in raw units
    model = keras.Model(inputs, outputs, name=f"{block}_model")
    batch = int(batch_size or hp.get("batch_size") or 32)
    steps = max(1, -(-spec.train_size // batch)) if spec.train_size else None
    model.compile(optimizer=build_optimizer(hp, steps_per_epoch=steps, epochs=epochs), loss=loss,
                  loss_weights=[loss_weight], metrics=keras_metrics(spec.task, spec.num_classes, spec.metrics))
    return model
