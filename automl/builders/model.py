"""Sampled parameters + data description -> a compiled ``keras.Model`` that takes raw inputs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from automl.builders.blocks import BLOCKS, BuildContext, FineTuning
from automl.builders.metrics import keras_metrics
from automl.builders.optimizers import build_optimizer
from automl.data.rows import Split, moments


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
    precision: str = "float32"  # Keras dtype policy of the block: float32 | mixed_float16 | mixed_bfloat16

    @classmethod
    def from_arrays(cls, x: Split, y: np.ndarray, task: str, num_classes: int, *,
                    embeddings: tuple[tuple[int, int], ...] = (),
                    metrics: tuple[str, ...] | None = None, precision: str = "float32") -> ModelSpec:
        axes = tuple(range(x.ndim - 1))  # per feature / per channel
        mean, var = moments(x, axes)  # chunk by chunk: a split read from files is never in memory whole
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
            precision=precision,
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

    Under a mixed ``spec.precision`` the block computes in float16 / bfloat16 (variables stay float32); the
    input preprocessing and the head stay float32, so raw inputs cannot overflow and the outputs are float32.
    Keras wraps the optimizer in a ``LossScaleOptimizer`` for ``mixed_float16``.
    """
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(spec.precision)
    try:
        return _build(keras, block, hp, spec, batch_size, epochs)
    finally:
        keras.config.set_dtype_policy(previous)


def float32_copy(model: Any, block: str, hp: dict[str, Any], spec: ModelSpec, *, batch_size: int | None = None,
                 epochs: int | None = None) -> Any:
    """``model`` (trained under a mixed ``spec.precision``) as an all-float32 model with the same weights.

    Mixed precision keeps every variable in float32, so the weights carry over exactly; what is saved,
    distilled and exported is then an ordinary float32 model.
    """
    if spec.precision == "float32":
        return model
    copy = build_model(block, hp, replace(spec, precision="float32"), batch_size=batch_size, epochs=epochs)
    copy.set_weights(model.get_weights())
    copy.optimizer.build(copy.trainable_variables)  # saved with its slots, so loading it does not warn
    return copy


def fine_tuning(block: str, hp: dict[str, Any]) -> FineTuning | None:
    """The two-phase training plan of a model of ``block`` built with ``hp`` (None: one plain fit)."""
    from automl.builders import user

    return None if user.is_reference(block) else BLOCKS.get(block).fine_tuning(hp)


def start_phase_two(model: Any, block: str, hp: dict[str, Any], spec: ModelSpec, plan: FineTuning, *,
                    batch_size: int | None = None, epochs: int | None = None) -> Any:
    """``model`` after phase one of ``plan``: the backbone's top unfrozen and the model compiled again, with
    ``lr`` times ``plan.lr_factor`` (the schedule starts over at that rate)."""
    import keras

    BLOCKS.get(block).unfreeze_top(model, plan)
    scaled = {**hp, "lr": float(hp.get("lr") or 1e-3) * plan.lr_factor}
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(spec.precision)  # compile wraps the optimizer for mixed_float16
    try:
        return _compile(keras, model, scaled, spec, batch_size, epochs)
    finally:
        keras.config.set_dtype_policy(previous)


def _build(keras: Any, block: str, hp: dict[str, Any], spec: ModelSpec, batch_size: int | None,
           epochs: int | None) -> Any:
    from automl.builders import user
    from automl.builders.augmentation import augment

    if user.is_reference(block):
        return _compile(keras, _user_model(keras, block, hp, spec), hp, spec, batch_size, epochs)

    inputs = keras.Input(shape=spec.input_shape, name="input")
    x = augment(inputs, hp, len(spec.input_shape) + 1)
    if not BLOCKS.get(block).raw_inputs:  # a pretrained backbone preprocesses raw pixels its own way
        x = keras.layers.Normalization(axis=-1, mean=spec.x_mean, variance=spec.x_var, name="normalize",
                                       dtype="float32")(x)
    if spec.embeddings:
        from automl.builders.custom import ColumnEmbedding

        x = ColumnEmbedding([list(e) for e in spec.embeddings], name="embed_columns")(x)
    ctx = BuildContext(input_shape=spec.input_shape, task=spec.task, num_classes=spec.num_classes)
    x = BLOCKS.get(block).build(x, hp, ctx)
    if len(x.shape) != 2:  # a block that leaves a spatial/time axis
        x = keras.layers.Flatten(name="flatten")(x)
    if spec.task == "classification":
        logits = keras.layers.Dense(spec.num_classes, name="logits", dtype="float32")(x)
        outputs = keras.layers.Activation("softmax", name="probs", dtype="float32")(logits)
    else:
        z = keras.layers.Dense(1, name="output", dtype="float32")(x)
        outputs = keras.layers.Rescaling(scale=spec.y_std, offset=spec.y_mean, name="unscale", dtype="float32")(z)
        outputs = keras.layers.Reshape((), name="prediction", dtype="float32")(outputs)
    return _compile(keras, keras.Model(inputs, outputs, name=f"{block}_model"), hp, spec, batch_size, epochs)


def _user_model(keras: Any, target: str, hp: dict[str, Any], spec: ModelSpec) -> Any:
    """The model of a user's builder (:mod:`automl.builders.user`) with automl's output layers after it.

    The builder's model is nested whole; a classifier's probabilities become ``logits`` (their logarithm: a
    softmax of it gives them back, and distillation reads it as any model's logits) and ``probs``; a
    regression's one unit becomes the ``prediction`` of shape (N,). Whatever the builder compiled is replaced.
    """
    from automl.builders import user
    from automl.builders.custom import LogProbabilities

    classes = spec.num_classes if spec.task == "classification" else None
    data = user.BuilderData(input_shape=tuple(spec.input_shape), num_classes=classes, task=spec.task,
                            x_mean=tuple(spec.x_mean), x_var=tuple(spec.x_var), y_mean=spec.y_mean,
                            y_std=spec.y_std)
    inner = user.call(target, hp, data)
    module, _, function = target.rpartition(user.SEP)
    name = f"{module.rpartition('/')[2]}{user.SEP}{function}"
    inputs = keras.Input(shape=spec.input_shape, name="input")
    y = inner(inputs)
    if isinstance(y, list | tuple | dict):
        raise ValueError(f"builder {name} returned a model with {len(y)} outputs; automl trains models with one")
    shape = tuple(y.shape)
    if classes is not None:
        if shape != (None, classes):
            raise ValueError(f"builder {name} returned a model whose output has shape {shape}; a classifier of "
                             f"{classes} classes ends in ({None}, {classes}) probabilities (a softmax)")
        logits = LogProbabilities(name="logits", dtype="float32")(y)
        outputs = keras.layers.Activation("softmax", name="probs", dtype="float32")(logits)
    else:
        if shape not in ((None, 1), (None,)):
            raise ValueError(f"builder {name} returned a model whose output has shape {shape}; a regression ends "
                             "in one unit, (None, 1)")
        outputs = keras.layers.Reshape((), name="prediction", dtype="float32")(y)
    return keras.Model(inputs, outputs, name=f"{inner.name}_automl")


def _compile(keras: Any, model: Any, hp: dict[str, Any], spec: ModelSpec, batch_size: int | None,
             epochs: int | None) -> Any:
    """Compile ``model`` with the space's optimizer and schedule, the task's loss and the study's metrics."""
    if spec.task == "classification":
        loss: Any = keras.losses.SparseCategoricalCrossentropy()
        if float(hp.get("label_smoothing") or 0.0) > 0:
            from automl.builders.custom import SparseSmoothedCrossentropy

            loss = SparseSmoothedCrossentropy(float(hp["label_smoothing"]))
        loss_weight = 1.0
    else:
        loss = keras.losses.MeanSquaredError()
        loss_weight = 1.0 / spec.y_std**2  # the loss reads in standardized units, metrics in raw units
    batch = int(batch_size or hp.get("batch_size") or 32)
    steps = max(1, -(-spec.train_size // batch)) if spec.train_size else None
    model.compile(optimizer=build_optimizer(hp, steps_per_epoch=steps, epochs=epochs), loss=loss,
                  loss_weights=[loss_weight], metrics=keras_metrics(spec.task, spec.num_classes, spec.metrics))
    return model
