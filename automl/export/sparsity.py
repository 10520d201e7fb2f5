"""Magnitude weight pruning on plain Keras 3 (``export.sparsity``): a short fine-tune on the training split during
which the smallest-magnitude weights of every Dense / EinsumDense / Conv kernel and of every recurrent cell's input
and recurrent kernels are zeroed, per layer, to a target sparsity that ramps up on a polynomial schedule.

The masks live in a :class:`PruningCallback`, never in the model: after every optimizer step the callback
multiplies each pruned kernel by its mask (so a zeroed weight stays zero whatever the optimizer's momentum
says), masks are recomputed on the schedule while the sparsity ramps, and at the end of training the final
masks are applied once more. What is left is the same model, with exact zeros in its kernels, which the normal
export path converts. Biases, normalization and embedding layers are left dense.

>>> callback = PruningCallback(model, target=0.5, ramp_steps=40)  # doctest: +SKIP
>>> model.fit(x, y, epochs=3, callbacks=[callback])  # doctest: +SKIP
>>> measure(model)["kernels"]  # doctest: +SKIP
0.5
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from automl.data.batches import eval_inputs, fit_inputs

#: (Keras layer class name, kernel attribute names) of the layers whose kernels are pruned. Keras 3 names a
#: DepthwiseConv's one weight ``kernel`` (SeparableConv's two ``depthwise_kernel`` and ``pointwise_kernel``); a name
#: a built layer lacks raises in :func:`prunable` rather than leaving that layer silently dense.
PRUNED = {
    "Dense": ("kernel",), "EinsumDense": ("kernel",),
    "Conv1D": ("kernel",), "Conv2D": ("kernel",), "Conv3D": ("kernel",),
    "Conv1DTranspose": ("kernel",), "Conv2DTranspose": ("kernel",), "Conv3DTranspose": ("kernel",),
    "DepthwiseConv1D": ("kernel",), "DepthwiseConv2D": ("kernel",),
    "SeparableConv1D": ("depthwise_kernel", "pointwise_kernel"),
    "SeparableConv2D": ("depthwise_kernel", "pointwise_kernel"),
    # recurrent layers hold their weights in a cell: input and recurrent kernels (as TF-MOT's prune registry)
    "LSTMCell": ("kernel", "recurrent_kernel"), "GRUCell": ("kernel", "recurrent_kernel"),
    "SimpleRNNCell": ("kernel", "recurrent_kernel"),
}
POWER = 3  # the polynomial schedule's exponent (TF-MOT's PolynomialDecay default)
RAMP = 2 / 3  # the sparsity reaches its target after this share of the fine-tune's steps


def schedule(step: int, target: float, ramp_steps: int, power: int = POWER) -> float:
    """Sparsity at optimizer step ``step``: 0 at step 0, ``target`` from ``ramp_steps`` on, in between
    ``target * (1 - (1 - step / ramp_steps) ** power)`` (fast early, flat near the target)."""
    if ramp_steps <= 0 or step >= ramp_steps:
        return target
    progress = max(step, 0) / ramp_steps
    return float(target * (1.0 - (1.0 - progress) ** power))


def _layers(model: Any) -> list[Any]:
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=True))
    return list(model.layers)


def prunable(model: Any) -> list[tuple[str, Any]]:
    """``(name, variable)`` of every kernel that pruning zeroes (see :data:`PRUNED`), nested layers included.

    Raises ExportError when a built layer of a pruned class has no such weight (a Keras rename): pruning would
    otherwise leave it dense without a word."""
    out, seen = [], set()
    for layer in _layers(model):
        for attr in PRUNED.get(type(layer).__name__, ()):
            var = getattr(layer, attr, None)
            if var is None and getattr(layer, "built", False):
                from automl.errors import ExportError

                names = sorted(w.path.rsplit("/", 1)[-1] for w in layer.weights)
                raise ExportError(f"layer '{layer.name}' ({type(layer).__name__}) has no weight `{attr}` to prune "
                                  f"(automl.export.sparsity.PRUNED); its weights are {names}")
            if var is None or id(var) in seen:
                continue
            seen.add(id(var))
            path = str(getattr(var, "path", "") or f"{layer.name}/{attr}")  # e.g. attention/query/kernel: unique
            out.append((path.removesuffix("/kernel"), var))
    return out


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """1.0 where a weight is kept, 0.0 for the ``round(sparsity * size)`` smallest magnitudes (exactly that
    many; ties broken by position)."""
    flat = np.abs(weights).ravel()
    k = int(round(sparsity * flat.size))
    mask = np.ones(flat.size, dtype=weights.dtype)
    if k > 0:
        mask[np.argpartition(flat, k - 1)[:k]] = 0.0
    return mask.reshape(weights.shape)


def _pruning_callback_class() -> Any:
    import keras

    class _PruningCallback(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self, model: Any, target: float, ramp_steps: int, frequency: int | None = None) -> None:
            super().__init__()
            self.kernels = prunable(model)
            self.target, self.ramp_steps = float(target), int(ramp_steps)
            self.frequency = frequency or max(1, self.ramp_steps // 20)
            self.step = 0
            self.sparsity = 0.0
            self.masks: list[Any] = []

        def _recompute(self, sparsity: float) -> None:
            import keras

            self.sparsity = sparsity
            self.masks = [keras.ops.convert_to_tensor(magnitude_mask(np.asarray(v.numpy()), sparsity))
                          for _, v in self.kernels]

        def _apply(self) -> None:
            import keras

            for (_, var), mask in zip(self.kernels, self.masks, strict=True):
                var.assign(keras.ops.multiply(var.value, keras.ops.cast(mask, var.dtype)))

        def on_train_begin(self, logs: Any = None) -> None:
            if not self.masks:
                self._recompute(schedule(self.step, self.target, self.ramp_steps))
                self._apply()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.step += 1
            if self.step <= self.ramp_steps and (self.step % self.frequency == 0 or self.step == self.ramp_steps):
                self._recompute(schedule(self.step, self.target, self.ramp_steps))
            self._apply()

        def on_train_end(self, logs: Any = None) -> None:
            self.finish()

        def finish(self) -> None:
            """The final masks at the target (training that stopped before the ramp ended gets them now)."""
            if self.sparsity != self.target or not self.masks:
                self._recompute(self.target)
            self._apply()

    return _PruningCallback


def PruningCallback(model: Any, target: float, ramp_steps: int, frequency: int | None = None) -> Any:  # noqa: N802
    """A Keras callback that prunes ``model``'s kernels to ``target`` sparsity: the schedule's sparsity is
    recomputed every ``frequency`` optimizer steps (default: 20 updates over the ramp) until ``ramp_steps``,
    and the masks are applied after every step and at the end of training."""
    return _pruning_callback_class()(model, target, ramp_steps, frequency)


def measure(model: Any) -> dict[str, Any]:
    """Exact zeros: their share in the pruned kernels (``kernels``), in all the model's weights (``all``), and per
    pruned kernel (``layers``)."""
    kernels = prunable(model)
    pruned_ids = {id(v) for _, v in kernels}
    layers = {}
    zk = nk = 0
    for name, var in kernels:
        w = np.asarray(var.numpy())
        zeros = int(np.sum(w == 0))
        layers[name] = round(zeros / max(w.size, 1), 4)
        zk, nk = zk + zeros, nk + w.size
    za = na = 0
    for var in model.weights:
        w = np.asarray(var.numpy())
        za += int(np.sum(w == 0)) if id(var) in pruned_ids else 0
        na += w.size
    return {"kernels": zk / max(nk, 1), "all": za / max(na, 1), "pruned_weights": nk, "total_weights": na,
            "layers": layers}


@dataclass
class FineTune:
    """What :func:`prune` did: the schedule and the fine-tune's last-epoch numbers."""

    target: float
    epochs: int
    steps: int
    ramp_steps: int
    learning_rate: float
    history: dict[str, list[float]]
    kept_epoch: int  # 1-based: the epoch whose weights were kept (lowest val_loss among those at the target)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "epochs": self.epochs, "steps": self.steps, "ramp_steps": self.ramp_steps,
                "schedule": f"polynomial (power {POWER}) from 0 to {self.target:g} over {self.ramp_steps} of "
                            f"{self.steps} steps, then constant", "learning_rate": self.learning_rate,
                "kept_epoch": self.kept_epoch, "history": self.history}


def _best_at_target_class() -> Any:
    import keras

    class _BestAtTarget(keras.callbacks.Callback):  # type: ignore[misc]
        """Keeps the weights of the epoch with the lowest ``val_loss`` among those that ended with the masks at
        the target (the ramp over); the last epoch when there is no validation split."""

        def __init__(self, pruning: Any) -> None:
            super().__init__()
            self.pruning = pruning
            self.best = float("inf")
            self.weights: list[Any] | None = None
            self.epoch = 0

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if self.pruning.step < self.pruning.ramp_steps:
                return
            value = float((logs or {}).get("val_loss", float("nan")))
            if value != value:  # no validation: the last epoch
                value = -float(epoch)
            if value < self.best:
                self.best, self.epoch = value, epoch + 1
                self.weights = [np.array(w) for w in self.model.get_weights()]

        def on_train_end(self, logs: Any = None) -> None:
            if self.weights is not None:
                self.model.set_weights(self.weights)

    return _BestAtTarget


def training_loss(task: str, y: np.ndarray) -> tuple[Any, float, list[Any]]:
    """The fine-tunes' loss, its weight and metrics: cross-entropy on the model's probabilities, or the mean
    squared error in standardized units (divided by the target's variance), like the model's own loss."""
    import keras

    if task == "classification":
        return keras.losses.SparseCategoricalCrossentropy(), 1.0, ["accuracy"]
    return keras.losses.MeanSquaredError(), 1.0 / max(float(np.var(y)), 1e-12), ["mae"]


def prune(model: Any, data: Any, *, target: float, epochs: int, batch_size: int, learning_rate: float,
          seed: int = 0) -> FineTune:
    """Fine-tune ``model`` in place on ``data``'s training split while pruning its kernels to ``target``; of the
    epochs that end at the target, the one with the lowest validation loss is kept. On return the pruned kernels
    hold exact zeros and no mask is left anywhere."""
    import keras

    keras.utils.set_random_seed(seed)
    x, y = data.x_train, np.asarray(data.y_train)  # a split read from files goes to fit by batches
    steps_per_epoch = max(1, -(-len(x) // batch_size))
    steps = steps_per_epoch * epochs
    ramp = max(1, int(steps * RAMP))
    loss, weight, metrics = training_loss(data.task, y)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, loss_weights=[weight], metrics=metrics)
    callback = PruningCallback(model, target, ramp)
    keep = _best_at_target_class()(callback)
    val = eval_inputs(data.x_val, np.asarray(data.y_val), batch_size) if len(data.x_val) else None
    # the pruning callback first: an epoch's weights are kept with its masks applied
    history = model.fit(**fit_inputs(x, y, batch_size, seed=seed), epochs=epochs, validation_data=val,
                        callbacks=[callback, keep], verbose=0, shuffle=True)
    callback.finish()  # the restored epoch already has the final masks: this only makes sure
    return FineTune(target=target, epochs=epochs, steps=steps, ramp_steps=ramp, learning_rate=learning_rate,
                    history={k: [round(float(v), 6) for v in vals] for k, vals in history.history.items()},
                    kept_epoch=keep.epoch or epochs)
