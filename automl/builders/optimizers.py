"""Optimizers by name, with the training hyperparameters every space gets by default."""

from __future__ import annotations

from typing import Any

from automl.builders.registry import Registry
from automl.space.params import Param, fixed, float_range

OPTIMIZERS: Registry[Any] = Registry("optimizer")


def training_hyperparameters() -> dict[str, Param]:
    """Defaults for the parameters every model consumes; a space overrides any of them."""
    return {
        "optimizer": fixed("adam"),
        "lr": float_range(1e-4, 1e-2, log=True),
        "momentum": float_range(0.0, 0.99).conditioned({"optimizer": ["sgd"]}),
    }


@OPTIMIZERS.register("sgd")
def _sgd(lr: float, momentum: float = 0.0, **_: Any) -> Any:
    import keras

    return keras.optimizers.SGD(learning_rate=lr, momentum=momentum)


@OPTIMIZERS.register("adam")
def _adam(lr: float, **_: Any) -> Any:
    import keras

    return keras.optimizers.Adam(learning_rate=lr)


@OPTIMIZERS.register("rmsprop")
def _rmsprop(lr: float, momentum: float = 0.0, **_: Any) -> Any:
    import keras

    return keras.optimizers.RMSprop(learning_rate=lr, momentum=momentum)


def build_optimizer(hp: dict[str, Any]) -> Any:
    """Build the Keras optimizer named by ``hp["optimizer"]`` from the sampled parameters."""
    kwargs = {k: v for k, v in hp.items() if k not in ("optimizer",)}
    return OPTIMIZERS.get(str(hp["optimizer"]), **kwargs)
