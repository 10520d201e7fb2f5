"""Optimizers by name, with their hyperparameters (conditional ones exist only for their optimizer).

>>> opt = OPTIMIZERS.get("sgd", learning_rate=0.01, momentum=0.9, nesterov=True)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from automl.builders.registry import Registry
from automl.space.params import Param, fixed, float_range

OPTIMIZERS: Registry[Any] = Registry("optimizer")


def optimizer_hyperparameters() -> dict[str, Param]:
    return {
        "optimizer": fixed("adam"),
        "lr": float_range(1e-4, 1e-2, log=True),
        "momentum": float_range(0.0, 0.99).conditioned({"optimizer": ["sgd", "rmsprop"]}),
        "nesterov": fixed(False).conditioned({"optimizer": ["sgd"]}),
        "weight_decay": float_range(1e-5, 1e-1, log=True).conditioned({"optimizer": ["adamw"]}),
        "clipnorm": fixed(None),
        "clipvalue": fixed(None),
    }


def _clip(hp: dict[str, Any]) -> dict[str, Any]:
    return {k: float(hp[k]) for k in ("clipnorm", "clipvalue") if hp.get(k) is not None}


@OPTIMIZERS.register("sgd")
def _sgd(learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False, **hp: Any) -> Any:
    import keras

    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=float(momentum), nesterov=bool(nesterov),
                                **_clip(hp))


@OPTIMIZERS.register("adam")
def _adam(learning_rate: Any = 0.001, **hp: Any) -> Any:
    import keras

    return keras.optimizers.Adam(learning_rate=learning_rate, **_clip(hp))


@OPTIMIZERS.register("adamw")
def _adamw(learning_rate: Any = 0.001, weight_decay: float = 0.004, **hp: Any) -> Any:
    import keras

    return keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=float(weight_decay), **_clip(hp))


@OPTIMIZERS.register("nadam")
def _nadam(learning_rate: Any = 0.001, **hp: Any) -> Any:
    import keras

    return keras.optimizers.Nadam(learning_rate=learning_rate, **_clip(hp))


@OPTIMIZERS.register("rmsprop")
def _rmsprop(learning_rate: Any = 0.001, momentum: float = 0.0, **hp: Any) -> Any:
    import keras

    return keras.optimizers.RMSprop(learning_rate=learning_rate, momentum=float(momentum), **_clip(hp))


@OPTIMIZERS.register("adagrad")
def _adagrad(learning_rate: Any = 0.001, **hp: Any) -> Any:
    import keras

    return keras.optimizers.Adagrad(learning_rate=learning_rate, **_clip(hp))


def build_optimizer(hp: dict[str, Any], *, steps_per_epoch: int | None = None, epochs: int | None = None) -> Any:
    """The Keras optimizer ``hp["optimizer"]`` names, its rate following ``hp``'s schedule.

    Schedules count in epochs; ``steps_per_epoch`` and ``epochs`` turn them into optimizer steps
    (defaults: ``hp["steps_per_epoch"]`` / ``hp["epochs"]``, else 1 step per epoch and 10 epochs).
    """
    from automl.builders.schedules import build_learning_rate

    spe = int(steps_per_epoch or hp.get("steps_per_epoch") or 1)
    total = int(epochs or hp.get("epochs") or 10)
    kwargs = {k: v for k, v in hp.items() if k not in ("optimizer", "lr", "learning_rate")}
    return OPTIMIZERS.get(str(hp.get("optimizer", "adam")), learning_rate=build_learning_rate(hp, spe, total),
                          **kwargs)
