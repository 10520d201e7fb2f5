"""Quantization-aware fine-tuning on plain Keras 3 (the int8 recovery ladder's rung 4, ``qat``).

tensorflow-model-optimization works with Keras 2 only, so this is written on Keras 3 ops and a callback:

1. :func:`fold_batchnorm` clones the model with every BatchNormalization that follows a Dense / Conv /
   DepthwiseConv layer (no activation between) folded into that layer's kernel and bias, as the TFLite
   converter folds it before it quantizes: the kernel that is fake-quantized is the one the file will hold.
2. :func:`finetune` trains the clone for a few epochs BinaryConnect style: before each batch every kernel the
   converter quantizes is replaced by its int8 grid value (:func:`fake_quant`, symmetric, per output channel
   or per tensor, as ``export.per_channel`` asks); the gradient taken there (the straight-through estimator)
   updates the float weights, which are put back before the next batch. At the end the kernels are snapped to
   the grid, so the converter's own weight quantization reproduces them exactly. Adam's rate decays to 0
   (cosine), so the last epoch settles on the grid instead of jumping between its steps.

Activation ranges are not learned: the converter calibrates them on representative samples afterwards, as for
plain int8 (with a learned range a fake-quant op would have to sit where the converter fuses conv + batch norm
+ activation; calibrated ranges need no placement).

>>> folded = fold_batchnorm(model)  # doctest: +SKIP
>>> record = finetune(folded, x_train, y_train, task="classification", epochs=5, lr=1e-3)  # doctest: +SKIP
>>> content = convert(folded, "int8", options)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.data.batches import fit_inputs

#: Keras layer class -> {kernel attribute: the kernel axes that index the output channels TFLite quantizes by}
QUANTIZED: dict[str, dict[str, tuple[int, ...]]] = {
    "Dense": {"kernel": (-1,)},
    "Conv1D": {"kernel": (-1,)}, "Conv2D": {"kernel": (-1,)}, "Conv3D": {"kernel": (-1,)},
    "DepthwiseConv1D": {"kernel": (-2, -1)}, "DepthwiseConv2D": {"kernel": (-2, -1)},
    "SeparableConv1D": {"depthwise_kernel": (-2, -1), "pointwise_kernel": (-1,)},
    "SeparableConv2D": {"depthwise_kernel": (-2, -1), "pointwise_kernel": (-1,)},
    "Conv1DTranspose": {"kernel": (-2,)}, "Conv2DTranspose": {"kernel": (-2,)},
    "Conv3DTranspose": {"kernel": (-2,)},
}
#: the layers a following BatchNormalization is folded into (one kernel, output channels as in QUANTIZED)
FOLDABLE = ("Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D")
LEVELS = 127  # TFLite int8 weights: symmetric, in [-127, 127], zero point 0


def fake_quant(x: Any, channel_axes: tuple[int, ...] | None = (-1,), levels: int = LEVELS) -> Any:
    """``x`` rounded to the symmetric int8 grid (scale ``max|x| / 127`` per index of ``channel_axes``, or one
    scale for the tensor when ``None``), with the straight-through estimator: the value is the grid value, the
    gradient passes as if the rounding were the identity.

    >>> import keras
    >>> [round(float(v), 4) for v in fake_quant(keras.ops.convert_to_tensor([1.0, 0.3, 0.003]), None)]
    [1.0, 0.2992, 0.0]
    """
    from keras import ops

    x = ops.convert_to_tensor(x)
    rank = len(x.shape)
    kept = () if channel_axes is None else tuple(a % rank for a in channel_axes)
    reduce = tuple(a for a in range(rank) if a not in kept)
    top = ops.max(ops.abs(x), axis=reduce, keepdims=True) if reduce else ops.abs(x)
    scale = ops.where(top > 0, top / levels, ops.ones_like(top))
    q = ops.clip(ops.round(x / scale), -levels, levels) * scale
    return x + ops.stop_gradient(q - x)


def _linear(layer: Any) -> bool:
    return str(layer.get_config().get("activation", "linear")) == "linear"


def _bn_on_last_axis(bn: Any) -> bool:
    axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
    if axis is None:
        return False
    rank = len(bn.input.shape)
    return axis % rank == rank - 1


def foldable_pairs(model: Any) -> list[tuple[Any, Any]]:
    """``(layer, batch_norm)`` pairs of ``model`` (nested models included) where the BatchNormalization reads
    only that Dense / Conv / DepthwiseConv layer's output, that layer has no activation and no other reader,
    and the normalization runs over the last (channel) axis."""
    from automl.tflite.prepare import all_layers

    pairs = []
    for bn in all_layers(model):
        if type(bn).__name__ != "BatchNormalization" or len(getattr(bn, "_inbound_nodes", [])) != 1:
            continue
        parents = bn._inbound_nodes[0].parent_nodes
        if len(parents) != 1:
            continue
        layer = parents[0].operation
        if (type(layer).__name__ in FOLDABLE and len(layer._inbound_nodes) == 1 and len(layer._outbound_nodes) == 1
                and _linear(layer) and _bn_on_last_axis(bn)):
            pairs.append((layer, bn))
    return pairs


def _folded_weights(layer: Any, bn: Any) -> list[np.ndarray]:
    """``layer``'s kernel and bias with ``bn`` (inference mode) folded in."""
    weights = layer.get_weights()
    kernel = np.asarray(weights[0], dtype=np.float64)
    bias = np.asarray(weights[1], dtype=np.float64) if len(weights) > 1 else 0.0
    mean = np.asarray(bn.moving_mean.numpy(), dtype=np.float64)
    var = np.asarray(bn.moving_variance.numpy(), dtype=np.float64)
    gamma = np.asarray(bn.gamma.numpy(), dtype=np.float64) if bn.gamma is not None else 1.0
    beta = np.asarray(bn.beta.numpy(), dtype=np.float64) if bn.beta is not None else 0.0
    factor = gamma / np.sqrt(var + bn.epsilon)
    if type(layer).__name__.startswith("Depthwise"):  # kernel (..., in, multiplier): channel = in * mult + m
        kernel = kernel * np.reshape(factor, kernel.shape[-2:])
    else:
        kernel = kernel * factor
    return [kernel.astype(np.float32), np.asarray((bias - mean) * factor + beta, dtype=np.float32)]


def fold_batchnorm(model: Any) -> tuple[Any, int]:
    """A clone of ``model`` with its foldable BatchNormalization layers (:func:`foldable_pairs`) folded into
    the layer before them (which gets a bias) and replaced by an identity layer; the other weights are copied. Returns
    the clone and the number of layers folded; ``model`` itself is left as it was."""
    import keras

    pairs = foldable_pairs(model)
    producers = {id(layer): bn for layer, bn in pairs}
    folded_bns = {id(bn) for _, bn in pairs}

    class FoldedBatchNorm(keras.layers.Layer):  # type: ignore[misc]
        """Where a folded batch norm was: passes its input on (and takes the mask a batch norm is called with)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
            return inputs

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

    def clone(layer: Any) -> Any:
        if id(layer) in folded_bns:
            return FoldedBatchNorm(name=layer.name)
        config = layer.get_config()
        if id(layer) in producers:
            config["use_bias"] = True
        return type(layer).from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    _copy_weights(model, copy, producers, folded_bns)
    return copy, len(pairs)


def _copy_weights(source: Any, target: Any, producers: dict[int, Any], skipped: set[int]) -> None:
    by_name = {layer.name: layer for layer in target.layers}
    for layer in source.layers:
        twin = by_name[layer.name]
        if id(layer) in skipped:
            continue
        if id(layer) in producers:
            twin.set_weights(_folded_weights(layer, producers[id(layer)]))
        elif hasattr(layer, "layers") and hasattr(twin, "layers") and type(layer).__name__ in (
                "Functional", "Sequential", "Model"):
            _copy_weights(layer, twin, producers, skipped)
        else:
            twin.set_weights(layer.get_weights())


def quantized_kernels(model: Any, per_channel: bool = True) -> list[tuple[Any, tuple[int, ...] | None]]:
    """``(variable, channel axes)`` of every kernel the converter quantizes to int8 weights (:data:`QUANTIZED`;
    ``None`` axes: one scale per tensor). Left out: a layer with a foldable BatchNormalization after it
    (:func:`foldable_pairs`; the converter folds it in first, so its grid is not this kernel's) and a layer that
    reads a BatchNormalization's output directly (the converter may fold that scale into the kernel too)."""
    from automl.tflite.prepare import all_layers

    layers = all_layers(model)
    changed = {id(layer) for layer, _ in foldable_pairs(model)}
    for layer in layers:
        nodes = getattr(layer, "_inbound_nodes", [])
        if any(type(parent.operation).__name__ == "BatchNormalization"
               for node in nodes for parent in node.parent_nodes):
            changed.add(id(layer))
    out, seen = [], set()
    for layer in layers:
        if id(layer) in changed:
            continue
        for attr, axes in QUANTIZED.get(type(layer).__name__, {}).items():
            var = getattr(layer, attr, None)
            if var is None or id(var) in seen:
                continue
            seen.add(id(var))
            out.append((var, axes if per_channel else None))
    return out


def _binary_connect_class() -> Any:
    import keras

    class _BinaryConnect(keras.callbacks.Callback):  # type: ignore[misc]
        """Forward and backward passes on the int8 grid values of the kernels; updates land on float copies."""

        def __init__(self, kernels: list[tuple[Any, tuple[int, ...] | None]]) -> None:
            super().__init__()
            self.kernels = kernels
            self.saved: list[tuple[Any, Any]] = []

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            from keras import ops

            self.saved = []
            for var, axes in self.kernels:
                real = ops.copy(var.value)
                grid = fake_quant(real, axes)
                var.assign(grid)
                self.saved.append((real, grid))

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            for (var, _), (real, grid) in zip(self.kernels, self.saved, strict=True):
                var.assign(real + (var.value - grid))  # the optimizer's step, applied to the float weights
            self.saved = []

        def snap(self) -> None:
            """Every kernel on its grid: what the converter will store."""
            for var, axes in self.kernels:
                var.assign(fake_quant(var.value, axes))

    return _BinaryConnect


@dataclass
class QatRecord:
    """What :func:`finetune` did (JSON-ready with :meth:`to_dict`)."""

    epochs: int
    lr: float
    batch_size: int
    steps: int
    kernels: int  # kernels fake-quantized
    per_channel: bool
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size, "steps": self.steps,
                "kernels": self.kernels, "per_channel": self.per_channel, "train_seconds": round(self.seconds, 3),
                "history": self.history}


def finetune(model: Any, x_train: Any, y_train: np.ndarray, *, task: str, epochs: int, lr: float,
             batch_size: int = 32, per_channel: bool = True, seed: int = 0) -> QatRecord:
    """Quantization-aware fine-tune of ``model`` in place (already folded, see :func:`fold_batchnorm`): ``epochs``
    epochs of Adam from ``lr`` (cosine decay to 0) on the training split with the kernels on their int8 grid in
    every step; on return the kernels hold their grid values. The last epoch is kept (validation is left to the
    ladder's decision)."""
    import keras

    from automl.export.sparsity import training_loss

    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    kernels = quantized_kernels(model, per_channel)
    loss, weight, metrics = training_loss(task, y_train)
    steps = max(1, -(-len(x_train) // batch_size)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps)  # the last epochs settle on the grid
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, loss_weights=[weight], metrics=metrics)
    callback = _binary_connect_class()(kernels)
    # a split read from files (or a large one) goes in by batches, in a seeded order each epoch
    history = model.fit(**fit_inputs(x_train, np.asarray(y_train), batch_size, seed=seed), epochs=epochs,
                        callbacks=[callback], verbose=0, shuffle=True)
    callback.snap()
    return QatRecord(epochs=epochs, lr=lr, batch_size=batch_size, steps=steps, kernels=len(kernels),
                     per_channel=per_channel, seconds=time.perf_counter() - start,
                     history={k: [round(float(v), 6) for v in vals] for k, vals in history.history.items()})
