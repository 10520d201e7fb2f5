"""The block seam: a family of architectures with its hyperparameters and the data ranks it accepts.

Each block declares its hyperparameters with default search ranges (tunable by default, fixed when a
space gives a value). Keras is imported only when a block builds, so that validating a space stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.builders.activations import activation, activation_hyperparameters
from automl.builders.normalizations import normalize
from automl.builders.registry import Registry
from automl.space.params import Param, fixed

RANK_NAMES = {2: "tabular (N, F)", 3: "sequence (N, T, C)", 4: "image (N, H, W, C)"}


@dataclass(frozen=True)
class BuildContext:
    """What a block may know about the data and task it is built for."""

    input_shape: tuple[int, ...]
    task: str
    num_classes: int
    seed: int | None = None

    @property
    def rank(self) -> int:
        return len(self.input_shape) + 1


class ParamProblem(ValueError):
    """A value of hyperparameter ``name`` a block cannot use (the space resolver adds the file and key)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name, self.message = name, message


@dataclass(frozen=True)
class FineTuning:
    """A block's plan for two-phase training: ``frozen_epochs`` with layer ``layer`` (the backbone) frozen, then
    its top ``unfreeze`` fraction trainable at the learning rate times ``lr_factor``."""

    frozen_epochs: int
    unfreeze: float
    lr_factor: float
    layer: str


class Block:
    """A family of architectures; subclasses set ``name``, ``ranks`` and ``hyperparameters``."""

    name: str = ""
    ranks: tuple[int, ...] = ()
    description: str = ""
    #: the block takes the raw inputs (it preprocesses them itself), not the training split's normalization
    raw_inputs: bool = False

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        """Default search ranges; ``rank`` (None: any) drops those that do not apply to that data."""
        raise NotImplementedError

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        """Apply the block to Keras tensor ``x`` and return the feature tensor (rank 2)."""
        raise NotImplementedError

    def settle(self, params: dict[str, Param], base: Path) -> dict[str, Param]:
        """The block's resolved ``params`` (by hyperparameter name) as trials read them: files named relative to
        ``base`` (the space file's folder) made absolute and checked. Raises :class:`ParamProblem`."""
        return params

    def fine_tuning(self, hp: dict[str, Any]) -> FineTuning | None:
        """Two-phase training of a model of this block built with ``hp``; None: one plain fit."""
        return None

    def unfreeze_top(self, model: Any, plan: FineTuning) -> None:
        """Make ``model`` ready for phase two of ``plan`` (the trial recompiles it)."""

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


BLOCKS: Registry[Block] = Registry("block")


def layer_hyperparameters(*, activation: Param, normalization: Param | None = None,
                          initializer: str = "glorot_uniform") -> dict[str, Param]:
    """The per-layer choices most blocks share: activation (+ leaky_alpha), normalization, initializer."""
    out = activation_hyperparameters(activation)
    out["normalization"] = normalization or fixed("none")
    out["initializer"] = fixed(initializer)
    return out


def kernel_args(hp: dict[str, Any]) -> dict[str, Any]:
    """``kernel_initializer`` and ``kernel_regularizer`` for a Dense / Conv / RNN layer, from ``hp``."""
    from automl.builders.initializers import INITIALIZERS
    from automl.builders.regularizers import REGULARIZERS

    return {
        "kernel_initializer": INITIALIZERS.get(str(hp.get("initializer", "glorot_uniform"))),
        "kernel_regularizer": REGULARIZERS.get(str(hp.get("regularizer", "none")),
                                               l1=hp.get("l1", 1e-4), l2=hp.get("l2", 1e-4)),
    }


def conv_layer(dims: int, filters: int, kernel: int, hp: dict[str, Any], name: str, *, strides: int = 1,
               use_bias: bool = True) -> Any:
    import keras

    cls = keras.layers.Conv1D if dims == 1 else keras.layers.Conv2D
    return cls(filters, kernel, strides=strides, padding="same", use_bias=use_bias, name=name, **kernel_args(hp))


def conv_unit(x: Any, dims: int, filters: int, kernel: int, hp: dict[str, Any], name: str, *,
              strides: int = 1, act: bool = True) -> Any:
    """conv -> normalization -> activation (the usual unit of every conv block)."""
    x = conv_layer(dims, filters, kernel, hp, f"{name}_conv", strides=strides)(x)
    x = normalize(x, hp, f"{name}_norm")
    return activation(hp, f"{name}_act")(x) if act else x


def spatial_dropout(x: Any, hp: dict[str, Any], dims: int, name: str) -> Any:
    import keras

    rate = float(hp.get("spatial_dropout") or 0.0)
    if rate <= 0:
        return x
    cls = keras.layers.SpatialDropout1D if dims == 1 else keras.layers.SpatialDropout2D
    return cls(rate, name=name)(x)


def dense_stack(x: Any, hp: dict[str, Any], *, layers: int, units: int, prefix: str) -> Any:
    """Dense -> normalization -> activation -> dropout, ``layers`` times."""
    import keras

    for i in range(layers):
        x = keras.layers.Dense(units, name=f"{prefix}_dense{i}", **kernel_args(hp))(x)
        x = normalize(x, hp, f"{prefix}_norm{i}")
        x = activation(hp, f"{prefix}_act{i}")(x)
        if hp.get("dropout", 0.0) > 0:
            x = keras.layers.Dropout(hp["dropout"], name=f"{prefix}_dropout{i}")(x)
    return x


def head(x: Any, hp: dict[str, Any], prefix: str) -> Any:
    """Dropout on the pooled features, then an optional dense layer (``dense_units``, 0: none)."""
    import keras

    if hp.get("dropout", 0.0) > 0:
        x = keras.layers.Dropout(hp["dropout"], name=f"{prefix}_dropout")(x)
    if int(hp.get("dense_units") or 0) > 0:
        x = dense_stack(x, {**hp, "normalization": "none"}, layers=1, units=int(hp["dense_units"]),
                        prefix=f"{prefix}_head")
    return x
