"""Tiny trained models of every family the exporter must handle, built once per test session.

mlp and cnn come from automl's own builder; LSTM, GRU and transformer models are built directly with Keras
in the same shape (Normalization -> block -> Dense ``logits`` -> softmax ``probs``), so the export tests do
not wait for those blocks to exist in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from automl.runtime import import_keras

SHAPES = {2: (8,), 3: (12, 3), 4: (8, 8, 1)}
CLASSES = 3


@dataclass
class Family:
    name: str
    model: Any
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def make_data(shape: tuple[int, ...], n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class templates plus noise, with an offset and scale so the model's Normalization matters."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, size=n)
    templates = rng.normal(size=(CLASSES, *shape))
    x = 3.0 + 2.0 * (templates[y] + rng.normal(scale=0.8, size=(n, *shape)))
    return x.astype(np.float32), y


def _head(keras: Any, inputs: Any, x: Any, name: str) -> Any:
    logits = keras.layers.Dense(CLASSES, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(logits), name=name)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _stem(keras: Any, x_train: np.ndarray) -> tuple[Any, Any]:
    inputs = keras.Input(shape=x_train.shape[1:], name="input")
    axes = tuple(range(x_train.ndim - 1))
    norm = keras.layers.Normalization(axis=-1, mean=x_train.mean(axis=axes), variance=x_train.var(axis=axes),
                                      name="normalize")
    return inputs, norm(inputs)


def recurrent_model(x_train: np.ndarray, kind: str = "LSTM") -> Any:
    keras = import_keras()
    inputs, x = _stem(keras, x_train)
    x = getattr(keras.layers, kind)(16, name=kind.lower())(x)
    x = keras.layers.Dropout(0.1, name="dropout")(x)
    return _head(keras, inputs, x, f"{kind.lower()}_model")


def transformer_model(x_train: np.ndarray) -> Any:
    keras = import_keras()
    inputs, x = _stem(keras, x_train)
    x = keras.layers.Dense(16, name="embed")(x)
    attn = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, name="attention")(x, x)
    x = keras.layers.LayerNormalization(name="norm1")(keras.layers.Add(name="res1")([x, attn]))
    ff = keras.layers.Dense(16, name="ff2")(keras.layers.Dense(32, activation="relu", name="ff1")(x))
    x = keras.layers.LayerNormalization(name="norm2")(keras.layers.Add(name="res2")([x, ff]))
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return _head(keras, inputs, x, "transformer_model")


def automl_model(block: str, x_train: np.ndarray, y_train: np.ndarray, hp: dict[str, Any]) -> Any:
    from automl.builders.model import ModelSpec, build_model

    spec = ModelSpec.from_arrays(x_train, y_train, "classification", CLASSES)
    return build_model(block, hp, spec)


BUILDERS = {
    "mlp": lambda x, y: automl_model("mlp", x, y, {"layers": 2, "units": 32, "activation": "relu", "dropout": 0.2,
                                                   "optimizer": "adam", "lr": 1e-2}),
    "cnn": lambda x, y: automl_model("cnn", x, y, {"conv_blocks": 2, "filters": 8, "kernel_size": 3,
                                                   "activation": "relu", "dropout": 0.2, "dense_units": 16,
                                                   "optimizer": "adam", "lr": 1e-2}),
    "lstm": lambda x, y: recurrent_model(x, "LSTM"),
    "gru": lambda x, y: recurrent_model(x, "GRU"),
    "transformer": lambda x, y: transformer_model(x),
}
RANKS = {"mlp": 2, "cnn": 4, "lstm": 3, "gru": 3, "transformer": 3}


def train_family(name: str, epochs: int = 8) -> Family:
    import_keras()
    import keras

    keras.utils.set_random_seed(0)
    x, y = make_data(SHAPES[RANKS[name]])
    model = BUILDERS[name](x[:180], y[:180])
    model.fit(x[:180], y[:180], epochs=epochs, batch_size=32, verbose=0)
    return Family(name, model, x[:180], y[:180], x[180:], y[180:])


@pytest.fixture(scope="session")
def families() -> dict[str, Family]:
    return {name: train_family(name) for name in BUILDERS}
