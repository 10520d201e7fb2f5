"""Activations: a registry of Keras layers, so parametrized ones (leaky_relu's alpha) fit the same way.

>>> layer = ACTIVATIONS.get("leaky_relu", alpha=0.01)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from automl.builders.registry import Registry
from automl.space.params import Param, float_range

ACTIVATIONS: Registry[Any] = Registry("activation")


def _builtin(keras_name: str) -> Any:
    def make(name: str | None = None, **_: Any) -> Any:
        import keras

        return keras.layers.Activation(keras_name, name=name)

    return make


for _name in ("relu", "elu", "gelu", "swish", "tanh", "sigmoid", "selu", "hard_swish"):
    ACTIVATIONS.register(_name)(_builtin("hard_silu" if _name == "hard_swish" else _name))


@ACTIVATIONS.register("leaky_relu")
def _leaky_relu(name: str | None = None, alpha: float = 0.01, **_: Any) -> Any:
    import keras

    return keras.layers.LeakyReLU(negative_slope=float(alpha), name=name)


def activation_hyperparameters(default: Param) -> dict[str, Param]:
    """``activation`` with ``default``, and ``leaky_alpha`` (the negative slope), active for leaky_relu."""
    return {
        "activation": default,
        "leaky_alpha": float_range(0.01, 0.3, log=True).conditioned({"activation": ["leaky_relu"]}),
    }


def activation(hp: dict[str, Any], name: str, key: str = "activation") -> Any:
    """The activation layer ``hp[key]`` names (``leaky_alpha`` sets leaky_relu's slope)."""
    return ACTIVATIONS.get(str(hp.get(key, "relu")), name=name, alpha=float(hp.get("leaky_alpha", 0.01)))
