"""resnet: residual stages with identity shortcuts, and projection shortcuts where the shape changes."""

from __future__ import annotations

from typing import Any

from automl.builders.activations import activation
from automl.builders.blocks.base import (
    BLOCKS,
    Block,
    BuildContext,
    conv_layer,
    conv_unit,
    head,
    layer_hyperparameters,
    spatial_dropout,
)
from automl.builders.normalizations import normalize
from automl.space.params import Param, choice, fixed, float_range, int_range


@BLOCKS.register("resnet")
class ResNetBlock(Block):
    name = "resnet"
    ranks = (3, 4)
    description = ("A stem conv, then `stages` stages of `blocks` basic residual blocks; filters double and "
                   "the resolution halves at each new stage (1-D convs for sequences, 2-D for images).")

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        return {
            "stages": int_range(1, 3),
            "blocks": int_range(1, 2),
            "filters": choice(16, 32, 64),
            "kernel_size": fixed(3),
            **layer_hyperparameters(activation=fixed("relu"), normalization=fixed("batch"),
                                    initializer="he_normal"),
            "spatial_dropout": fixed(0.0),
            "dropout": float_range(0.0, 0.5, step=0.1),
            "dense_units": fixed(0),
        }

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        import keras

        dims = ctx.rank - 2
        size = min(ctx.input_shape[:dims])
        k = int(hp["kernel_size"])
        channels = int(hp["filters"])
        x = conv_unit(x, dims, channels, k, hp, "resnet_stem")
        for s in range(int(hp["stages"])):
            filters = int(hp["filters"]) * 2**s
            for b in range(int(hp["blocks"])):
                strides = 2 if s > 0 and b == 0 and size >= 2 else 1
                name = f"resnet_s{s}b{b}"
                y = conv_unit(x, dims, filters, k, hp, f"{name}a", strides=strides)
                y = conv_unit(y, dims, filters, k, hp, f"{name}b", act=False)
                if strides != 1 or channels != filters:  # projection shortcut: 1x1 conv to the new shape
                    x = conv_layer(dims, filters, 1, hp, f"{name}_proj", strides=strides)(x)
                    x = normalize(x, hp, f"{name}_proj_norm")
                x = keras.layers.Add(name=f"{name}_add")([x, y])
                x = activation(hp, f"{name}_out")(x)
                channels = filters
                size = (size + 1) // 2 if strides == 2 else size
            x = spatial_dropout(x, hp, dims, f"resnet_s{s}_spatial_dropout")
        pool = keras.layers.GlobalAveragePooling1D if dims == 1 else keras.layers.GlobalAveragePooling2D
        return head(pool(name="resnet_gap")(x), hp, "resnet")
