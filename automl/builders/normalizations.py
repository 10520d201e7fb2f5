"""Normalization layers by name: none, batch, layer."""

from __future__ import annotations

from typing import Any

from automl.builders.registry import Registry

NORMALIZATIONS: Registry[Any] = Registry("normalization")


@NORMALIZATIONS.register("none")
def _none(name: str | None = None) -> Any:
    return None


@NORMALIZATIONS.register("batch")
def _batch(name: str | None = None) -> Any:
    import keras

    return keras.layers.BatchNormalization(name=name)


@NORMALIZATIONS.register("layer")
def _layer(name: str | None = None) -> Any:
    import keras

    return keras.layers.LayerNormalization(name=name)


def normalize(x: Any, hp: dict[str, Any], name: str) -> Any:
    """``x`` through the normalization ``hp["normalization"]`` names (unchanged for none)."""
    layer = NORMALIZATIONS.get(str(hp.get("normalization", "none")), name=name)
    return x if layer is None else layer(x)
