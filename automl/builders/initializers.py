"""Kernel initializers by name (He, Glorot/Xavier, LeCun; normal and uniform)."""

from __future__ import annotations

from typing import Any

from automl.builders.registry import Registry

INITIALIZERS: Registry[Any] = Registry("initializer")


def _builtin(keras_name: str) -> Any:
    def make(**_: Any) -> Any:
        import keras

        return keras.initializers.get(keras_name)

    return make


for _name in ("he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "lecun_uniform"):
    INITIALIZERS.register(_name)(_builtin(_name))
