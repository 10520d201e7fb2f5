"""The `mobilenet` block's stem: stride 2 (as MobileNet's own) on images of 32 px and more, stride 1 on tiny ones;
`stem_stride: 1` builds the full-resolution model the block built before `stem_stride` existed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from automl.builders.blocks.mobilenet import stem_stride
from automl.builders.model import ModelSpec, build_model
from automl.errors import ConfigError
from automl.space import SpaceFile, resolve_space
from automl.testing.fakes import FirstChoiceSuggester

#: a middle point of the block's space: two stages (the second halves), squeeze-excite
PARAMS = {"stages": 2, "blocks": 1, "width_multiplier": 0.5, "expansion": 2, "kernel_size": 3,
          "squeeze_excite": True, "dropout": 0.0}


def _model(size: int, channels: int = 3, **params: Any) -> Any:
    x = np.random.default_rng(0).integers(0, 256, (8, size, size, channels)).astype(np.float32)
    y = np.arange(8) % 3
    space = resolve_space(SpaceFile.model_validate({"block": "mobilenet", "params": {**PARAMS, **params}}), 4)
    block, hp = space.decode(space.sample(FirstChoiceSuggester()))
    return build_model(block, hp, ModelSpec.from_arrays(x, y, "classification", 3))


def _stem(model: Any) -> tuple[int, ...]:
    return tuple(model.get_layer("mobilenet_stem_conv").output.shape[1:3])


def _macs(model: Any) -> int:
    """Multiply-accumulates of the model's convolutions (a FLOP count up to a factor 2)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            h, w, c = layer.output.shape[1:]
            total += h * w * c * int(np.prod(layer.kernel_size))
        elif isinstance(layer, keras.layers.Conv2D):
            h, w, c = layer.output.shape[1:]
            total += h * w * c * int(layer.input.shape[-1]) * int(np.prod(layer.kernel_size))
    return total


def _configs(model: Any) -> dict[str, Any]:
    return {layer.name: layer.get_config() for layer in model.layers}


def test_auto_halves_in_the_stem_from_32_px_on_and_keeps_tiny_images_whole() -> None:
    assert [stem_stride("auto", s) for s in (8, 16, 31, 32, 96, 224)] == [1, 1, 1, 2, 2, 2]
    assert stem_stride(None, 96) == 2 and stem_stride(1, 96) == 1 and stem_stride(2, 8) == 2


def test_96px_images_leave_the_stem_at_48x48_and_the_model_is_about_4x_cheaper() -> None:
    auto, full = _model(96), _model(96, stem_stride=1)
    assert _stem(auto) == (48, 48) and _stem(full) == (96, 96)
    assert auto.get_layer("mobilenet_s1b0_depthwise").output.shape[1:3] == (24, 24)  # stage 2 halves again
    assert auto.count_params() == full.count_params()  # a stride changes the shapes, not the weights
    assert _macs(auto) < 0.3 * _macs(full)


def test_8x8_digits_keep_their_resolution() -> None:
    auto = _model(8, channels=1)
    assert _stem(auto) == (8, 8)
    assert _configs(auto) == _configs(_model(8, channels=1, stem_stride=1))  # the digits models are unchanged


def test_stem_stride_1_is_the_model_the_block_built_before() -> None:
    full, auto = _model(96, stem_stride=1), _model(96)
    assert full.get_layer("mobilenet_stem_conv").get_config()["strides"] == (1, 1)
    assert auto.get_layer("mobilenet_stem_conv").get_config()["strides"] == (2, 2)
    old, new = _configs(full), _configs(auto)
    assert list(old) == list(new)  # the same layers, by the same names
    differ = [name for name in old if old[name] != new[name]]
    assert differ == ["mobilenet_stem_conv"]  # only the stem's stride: everything after it is the same model
    assert [tuple(full.get_layer(name).output.shape[1:3]) for name in (
        "mobilenet_stem_act", "mobilenet_s0b0_depthwise", "mobilenet_s0b0_project")] == [(96, 96)] * 3


def test_stem_stride_can_be_searched_and_a_wrong_value_is_one_line() -> None:
    space = resolve_space(SpaceFile.model_validate(
        {"block": "mobilenet", "params": {"stem_stride": {"type": "categorical", "choices": [1, 2]}}}), 4)
    assert space.params["stem_stride"].tunable
    with pytest.raises(ConfigError) as info:
        resolve_space(SpaceFile.model_validate({"block": "mobilenet", "params": {"stem_stride": 3}}), 4,
                      file="s.yaml")
    assert str(info.value) == "s.yaml: params.stem_stride: expected auto, 1 or 2, got 3"
