"""Model blocks: the feature extractor between a model's preprocessing and its head.

Each block declares the data ranks it accepts and its hyperparameters with default search ranges
(tunable by default, fixed when a space gives a value). Keras is imported only when a block builds, so
that validating a space stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automl.builders.registry import Registry
from automl.space.params import Param, choice, fixed, float_range, int_range

RANK_NAMES = {2: "tabular (N, F)", 3: "sequence (N, T, C)", 4: "image (N, H, W, C)"}


@dataclass(frozen=True)
class BuildContext:
    """What a block may know about the data and task it is built for."""

    input_shape: tuple[int, ...]
    task: str
    num_classes: int
    seed: int | None = None


class Block:
    """A family of architectures; subclasses set ``name``, ``ranks`` and ``hyperparameters``."""

    name: str = ""
    ranks: tuple[int, ...] = ()
    description: str = ""

    def hyperparameters(self) -> dict[str, Param]:
        raise NotImplementedError

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        """Apply the block to Keras tensor ``x`` and return the feature tensor (rank 2)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


BLOCKS: Registry[Block] = Registry("block")


def _activation(name: str) -> Any:
    from automl.builders.activations import get_activation

    return get_activation(name)


def _dense_stack(x: Any, hp: dict[str, Any], *, layers: int, units: int, prefix: str) -> Any:
    import keras

    for i in range(layers):
        x = keras.layers.Dense(units, name=f"{prefix}_dense{i}")(x)
        x = keras.layers.Activation(_activation(hp["activation"]), name=f"{prefix}_act{i}")(x)
        if hp.get("dropout", 0.0) > 0:
            x = keras.layers.Dropout(hp["dropout"], name=f"{prefix}_dropout{i}")(x)
    return x


@BLOCKS.register("mlp")
class MLPBlock(Block):
    name = "mlp"
    ranks = (2,)
    description = "Dense layers of equal width (tabular data)."

    def hyperparameters(self) -> dict[str, Param]:
        return {
            "layers": int_range(1, 3),
            "units": int_range(16, 256, log=True),
            "activation": choice("relu", "tanh"),
            "dropout": float_range(0.0, 0.5, step=0.1),
        }

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        return _dense_stack(x, hp, layers=int(hp["layers"]), units=int(hp["units"]), prefix="mlp")


@BLOCKS.register("cnn")
class CNNBlock(Block):
    name = "cnn"
    ranks = (4,)
    description = "Conv-pool stacks (filters double per stack), then an optional dense layer."

    def hyperparameters(self) -> dict[str, Param]:
        return {
            "conv_blocks": int_range(1, 3),
            "filters": int_range(8, 64, log=True),
            "kernel_size": choice(3, 5),
            "activation": fixed("relu"),
            "dropout": float_range(0.0, 0.5, step=0.1),
            "dense_units": choice(0, 64, 128),
        }

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        import keras

        height, width = ctx.input_shape[0], ctx.input_shape[1]
        k = int(hp["kernel_size"])
        for i in range(int(hp["conv_blocks"])):
            filters = int(hp["filters"]) * 2**i
            x = keras.layers.Conv2D(filters, k, padding="same", name=f"cnn_conv{i}")(x)
            x = keras.layers.Activation(_activation(hp["activation"]), name=f"cnn_act{i}")(x)
            if height >= 2 and width >= 2:  # pool while there is something left to pool
                x = keras.layers.MaxPooling2D(2, padding="same", name=f"cnn_pool{i}")(x)
                height, width = (height + 1) // 2, (width + 1) // 2
        x = keras.layers.GlobalAveragePooling2D(name="cnn_gap")(x) if height * width > 16 else (
            keras.layers.Flatten(name="cnn_flatten")(x)
        )
        if hp.get("dropout", 0.0) > 0:
            x = keras.layers.Dropout(hp["dropout"], name="cnn_dropout")(x)
        if int(hp.get("dense_units", 0)) > 0:
            x = _dense_stack(x, hp, layers=1, units=int(hp["dense_units"]), prefix="cnn_head")
        return x
