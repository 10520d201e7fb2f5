"""Activations by name, as Keras accepts them."""

from __future__ import annotations

from typing import Any

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu", "swish", "selu")


def get_activation(name: str) -> Any:
    """Return what ``keras.layers.Activation`` accepts for ``name``."""
    from automl._text import one_of
    from automl.errors import ConfigError

    if name not in ACTIVATIONS:
        raise ConfigError(one_of(name, ACTIVATIONS, "activation"))
    return name
