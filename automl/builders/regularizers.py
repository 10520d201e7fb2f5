"""Kernel regularizers by name: none, l1, l2, l1_l2 (strengths from ``l1`` / ``l2``)."""

from __future__ import annotations

from typing import Any

from automl.builders.registry import Registry
from automl.space.params import Param, fixed, float_range

REGULARIZERS: Registry[Any] = Registry("regularizer")


@REGULARIZERS.register("none")
def _none(**_: Any) -> Any:
    return None


@REGULARIZERS.register("l1")
def _l1(l1: float = 1e-4, **_: Any) -> Any:
    import keras

    return keras.regularizers.L1(float(l1))


@REGULARIZERS.register("l2")
def _l2(l2: float = 1e-4, **_: Any) -> Any:
    import keras

    return keras.regularizers.L2(float(l2))


@REGULARIZERS.register("l1_l2")
def _l1_l2(l1: float = 1e-4, l2: float = 1e-4, **_: Any) -> Any:
    import keras

    return keras.regularizers.L1L2(l1=float(l1), l2=float(l2))


def regularizer_hyperparameters() -> dict[str, Param]:
    return {
        "regularizer": fixed("none"),
        "l1": float_range(1e-6, 1e-2, log=True).conditioned({"regularizer": ["l1", "l1_l2"]}),
        "l2": float_range(1e-6, 1e-2, log=True).conditioned({"regularizer": ["l2", "l1_l2"]}),
    }

