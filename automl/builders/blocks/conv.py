"""Plain convolutional blocks: cnn (images) and cnn1d (sequences)."""

from __future__ import annotations

from typing import Any

from automl.builders.blocks.base import (
    BLOCKS,
    Block,
    BuildContext,
    conv_unit,
    head,
    layer_hyperparameters,
    spatial_dropout,
)
from automl.space.params import Param, choice, fixed, float_range, int_range


@BLOCKS.register("cnn")
class CNNBlock(Block):
    name = "cnn"
    ranks = (4,)
    description = "Conv-pool stacks (filters double per stack), then an optional dense layer."

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        return {
            "conv_blocks": int_range(1, 3),
            "filters": int_range(8, 64, log=True),
            "kernel_size": choice(3, 5),
            **layer_hyperparameters(activation=fixed("relu")),
            "spatial_dropout": fixed(0.0),
            "dropout": float_range(0.0, 0.5, step=0.1),
            "dense_units": choice(0, 64, 128),
        }

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        import keras

        height, width = ctx.input_shape[0], ctx.input_shape[1]
        k = int(hp["kernel_size"])
        for i in range(int(hp["conv_blocks"])):
            x = conv_unit(x, 2, int(hp["filters"]) * 2**i, k, hp, f"cnn{i}")
            x = spatial_dropout(x, hp, 2, f"cnn{i}_spatial_dropout")
            if height >= 2 and width >= 2:  # pool while there is something left to pool
                x = keras.layers.MaxPooling2D(2, padding="same", name=f"cnn_pool{i}")(x)
                height, width = (height + 1) // 2, (width + 1) // 2
        x = keras.layers.GlobalAveragePooling2D(name="cnn_gap")(x) if height * width > 16 else (
            keras.layers.Flatten(name="cnn_flatten")(x)
        )
        return head(x, hp, "cnn")


@BLOCKS.register("cnn1d")
class CNN1DBlock(Block):
    name = "cnn1d"
    ranks = (3,)
    description = "1-D conv-pool stacks over time (filters double per stack), global pooling, dense head."

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        return {
            "conv_blocks": int_range(1, 3),
            "filters": int_range(16, 128, log=True),
            "kernel_size": choice(3, 5, 7),
            **layer_hyperparameters(activation=fixed("relu"), normalization=choice("none", "batch")),
            "spatial_dropout": fixed(0.0),
            "pooling": choice("avg", "max"),
            "dropout": float_range(0.0, 0.5, step=0.1),
            "dense_units": choice(0, 64),
        }

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        import keras

        length = ctx.input_shape[0]
        for i in range(int(hp["conv_blocks"])):
            x = conv_unit(x, 1, int(hp["filters"]) * 2**i, int(hp["kernel_size"]), hp, f"cnn1d{i}")
            x = spatial_dropout(x, hp, 1, f"cnn1d{i}_spatial_dropout")
            if length >= 2:
                x = keras.layers.MaxPooling1D(2, padding="same", name=f"cnn1d_pool{i}")(x)
                length = (length + 1) // 2
        pool = keras.layers.GlobalMaxPooling1D if hp.get("pooling") == "max" else keras.layers.GlobalAveragePooling1D
        return head(pool(name="cnn1d_pool")(x), hp, "cnn1d")
