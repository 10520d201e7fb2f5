"""mobilenet: MobileNetV2/V3-style inverted residuals (expand, depthwise, squeeze-excite, project)."""

from __future__ import annotations

from typing import Any

from automl.builders.activations import activation
from automl.builders.blocks.base import BLOCKS, Block, BuildContext, conv_unit, head, kernel_args, layer_hyperparameters
from automl.builders.normalizations import normalize
from automl.space.params import Param, choice, fixed, float_range, int_range

STAGE_CHANNELS = (16, 24, 40, 80, 112)
#: ``stem_stride: auto`` halves the resolution in the stem from this short side (pixels) up
AUTO_STEM_MIN = 32
STEM_STRIDES = ("auto", 1, 2)


def stem_stride(value: Any, size: int) -> int:
    """The stem conv's stride for ``stem_stride`` ``value`` on images whose short side is ``size`` pixels: ``auto``
    halves from :data:`AUTO_STEM_MIN` up (MobileNet's own stem has stride 2), keeps tiny images (8x8 digits) whole.

    >>> stem_stride("auto", 96), stem_stride("auto", 8), stem_stride(1, 96)
    (2, 1, 1)
    """
    if value in (None, "auto"):
        return 2 if size >= AUTO_STEM_MIN else 1
    return int(value)


def _divisible(value: float, divisor: int = 8) -> int:
    """MobileNet's channel rounding: a multiple of ``divisor``, never below 90% of ``value``."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


@BLOCKS.register("mobilenet")
class MobileNetBlock(Block):
    name = "mobilenet"
    ranks = (4,)
    description = ("A 3x3 stem conv of stride `stem_stride` (auto: 2, as MobileNet's, when the images' short side is "
                   f"at least {AUTO_STEM_MIN} px, else 1), then `stages` stages of `blocks` inverted residual blocks "
                   "(1x1 expansion by `expansion`, depthwise conv, optional squeeze-excite, linear 1x1 projection); "
                   "`width_multiplier` scales every channel count.")

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        return {
            "stem_stride": fixed("auto"),
            "stages": int_range(1, 3),
            "blocks": int_range(1, 2),
            "width_multiplier": choice(0.5, 0.75, 1.0, 1.5),
            "expansion": choice(2, 4, 6),
            "kernel_size": choice(3, 5),
            "squeeze_excite": choice(False, True),
            **layer_hyperparameters(activation=fixed("hard_swish"), normalization=fixed("batch"),
                                    initializer="he_normal"),
            "dropout": float_range(0.0, 0.5, step=0.1),
            "dense_units": fixed(0),
        }

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        import keras

        wm = float(hp["width_multiplier"])
        size = min(ctx.input_shape[0], ctx.input_shape[1])
        channels = _divisible(16 * wm)
        stride = stem_stride(hp.get("stem_stride", "auto"), size)
        x = conv_unit(x, 2, channels, 3, hp, "mobilenet_stem", strides=stride)
        size = (size + 1) // 2 if stride == 2 else size
        for s in range(int(hp["stages"])):
            out = _divisible(STAGE_CHANNELS[min(s + 1, len(STAGE_CHANNELS) - 1)] * wm)
            for b in range(int(hp["blocks"])):
                strides = 2 if s > 0 and b == 0 and size >= 2 else 1
                x = self._inverted_residual(x, hp, channels, out, strides, f"mobilenet_s{s}b{b}")
                channels = out
                size = (size + 1) // 2 if strides == 2 else size
        x = conv_unit(x, 2, _divisible(4 * channels), 1, hp, "mobilenet_top")
        return head(keras.layers.GlobalAveragePooling2D(name="mobilenet_gap")(x), hp, "mobilenet")

    @staticmethod
    def _inverted_residual(x: Any, hp: dict[str, Any], channels: int, out: int, strides: int, name: str) -> Any:
        import keras

        inputs = x
        expanded = channels * int(hp["expansion"])
        if expanded != channels:
            x = conv_unit(x, 2, expanded, 1, hp, f"{name}_expand")
        x = keras.layers.DepthwiseConv2D(int(hp["kernel_size"]), strides=strides, padding="same", use_bias=False,
                                         name=f"{name}_depthwise")(x)
        x = normalize(x, hp, f"{name}_depthwise_norm")
        x = activation(hp, f"{name}_depthwise_act")(x)
        if hp.get("squeeze_excite"):
            se = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
            se = keras.layers.Conv2D(_divisible(expanded / 4), 1, activation="relu", name=f"{name}_se_reduce")(se)
            se = keras.layers.Conv2D(expanded, 1, activation="hard_sigmoid", name=f"{name}_se_expand")(se)
            x = keras.layers.Multiply(name=f"{name}_se")([x, se])
        x = keras.layers.Conv2D(out, 1, padding="same", use_bias=False, name=f"{name}_project",
                                **kernel_args(hp))(x)
        x = normalize(x, hp, f"{name}_project_norm")
        if strides == 1 and channels == out:
            x = keras.layers.Add(name=f"{name}_add")([inputs, x])
        return x
