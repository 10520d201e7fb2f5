"""Quantization-aware fine-tuning on Keras 3 (automl.export.qat): batch norms folded as the converter folds
them, the int8 weight grid with the straight-through estimator, a fine-tune that leaves the kernels on the grid
the converter stores."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from automl.export.qat import fake_quant, finetune, fold_batchnorm, quantized_kernels

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402


def _with_stats(model: Any) -> Any:
    """Non-trivial batch-norm statistics (a fresh layer's are 0 and 1: folding them would prove nothing)."""
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(size=beta.shape),
                               rng.normal(size=mean.shape), rng.uniform(0.5, 2, var.shape)])
    return model


def _cnn() -> Any:
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(8, 8, 2), name="input")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="conv_norm")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="depthwise")(x)
    x = keras.layers.BatchNormalization(name="depthwise_norm")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(5, activation="relu", name="dense")(x)  # an activation between: not folded
    x = keras.layers.BatchNormalization(name="dense_norm")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(x)
    return _with_stats(keras.Model(inputs, outputs, name="cnn"))


def test_fold_batchnorm_keeps_the_function_and_leaves_the_model_alone() -> None:
    model = _cnn()
    before = [w.copy() for w in model.get_weights()]
    folded, count = fold_batchnorm(model)
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 2)).astype(np.float32)
    assert count == 2  # conv and depthwise; dense has a ReLU before its norm
    kinds = {layer.name: type(layer).__name__ for layer in folded.layers}
    assert kinds["conv_norm"] == kinds["depthwise_norm"] == "FoldedBatchNorm"
    assert kinds["dense_norm"] == "BatchNormalization"
    assert folded.get_layer("depthwise").use_bias
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_fake_quant_rounds_to_the_int8_grid_and_passes_the_gradient_straight_through() -> None:
    import tensorflow as tf

    w = tf.Variable(np.array([[0.5, -2.0], [0.003, 0.9], [-1.0, 0.3]], dtype=np.float32))
    with tf.GradientTape() as tape:
        q = fake_quant(w, (-1,))
        loss = tf.reduce_sum(q * tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    grid = np.asarray(q) / (np.abs(w.numpy()).max(axis=0) / 127)  # per output channel (column)
    np.testing.assert_allclose(grid, np.round(grid), atol=1e-4)
    assert float(q[1, 0]) == 0.0 and float(q[1, 1]) == pytest.approx(57 * 2.0 / 127, rel=1e-6)  # 0.9 on 2/127
    np.testing.assert_allclose(tape.gradient(loss, w), [[1, 2], [3, 4], [5, 6]])  # the identity's gradient
    per_tensor = np.asarray(fake_quant(w, None)) / (2.0 / 127)
    np.testing.assert_allclose(per_tensor, np.round(per_tensor), atol=1e-4)


def test_finetune_leaves_every_quantized_kernel_on_its_grid() -> None:
    model, _ = fold_batchnorm(_cnn())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8, 8, 2)).astype(np.float32), rng.integers(0, 3, size=64)
    record = finetune(model, x, y, task="classification", epochs=2, lr=1e-3, batch_size=16)
    kernels = quantized_kernels(model)
    # conv, depthwise, dense (probs reads a batch norm the converter may fold into it: its grid is not its own)
    assert record.kernels == len(kernels) == 3 and record.steps == 8 and len(record.history["loss"]) == 2
    for var, axes in kernels:
        w = np.asarray(var.numpy())
        kept = tuple(a % w.ndim for a in axes)
        scale = np.abs(w).max(axis=tuple(a for a in range(w.ndim) if a not in kept), keepdims=True) / 127
        np.testing.assert_allclose(w / scale, np.round(w / scale), atol=1e-3)
