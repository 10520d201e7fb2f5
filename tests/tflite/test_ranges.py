"""Clipped activation ranges (automl.tflite.ranges): a rare outlier in the calibration samples sets a tensor's
min/max range; the percentile range replaces it only where it is much narrower, the model's output keeps its
range, and the edited calibrated model quantizes to a plain int8 file."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(scope="module")
def calibrated() -> tuple[bytes, np.ndarray]:
    import keras
    import tensorflow as tf

    from automl.tflite.convert import FORMATS, ConvertOptions, quiet

    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="input")
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.Dense(8, name="hidden")(inputs)))
    x = np.random.default_rng(0).normal(size=(400, 4)).astype(np.float32)
    x[7, 2] = 1000.0  # one reading of one row: 1 value in 1600
    converter: Any = tf.lite.TFLiteConverter.from_keras_model(model)
    FORMATS.factory("int8")(converter, ConvertOptions(representative=x))
    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True
    with quiet():
        return bytes(converter.convert()), x


def test_the_outlier_sets_min_max_and_the_percentile_range_replaces_it(calibrated: tuple[bytes, np.ndarray]) -> None:
    from automl.tflite.ranges import activation_values, clip_ranges

    content, x = calibrated
    values = activation_values(content, x)
    edited, clipped = clip_ranges(content, values, 99.9, 4.0)
    by_name = {c.tensor: c for c in clipped}
    (inp,) = [c for name, c in by_name.items() if "input" in name]
    assert inp.was[1] == pytest.approx(1000.0) and inp.range[1] < 5.0 and inp.range[0] <= 0.0 <= inp.range[1]
    assert not any("Identity" in name or "StatefulPartitionedCall" in name for name in by_name)  # the output
    # a range that is not 1000x narrower stays min/max
    assert clip_ranges(content, values, 99.9, 1e6)[1] == []
    with pytest.raises(ValueError, match="`50 < percentile < 100` must hold, got percentile=100"):
        clip_ranges(content, values, 100, 4.0)


def test_the_edited_model_quantizes_to_plain_int8(calibrated: tuple[bytes, np.ndarray]) -> None:
    import tensorflow as tf
    from tensorflow.lite.python import convert as tf_convert

    from automl.export.recovery import integer_only
    from automl.tflite.convert import quiet
    from automl.tflite.ranges import activation_values, clip_ranges
    from automl.tflite.validate import _interpreter

    content, x = calibrated
    edited, _ = clip_ranges(content, activation_values(content, x), 99.9, 4.0)
    with quiet():
        file = bytes(tf_convert.mlir_quantize(edited, fully_quantize=False, input_data_type=tf.float32,
                                              output_data_type=tf.float32))
    assert integer_only(file)
    (quantized,) = [d for d in _interpreter(file, 1).get_tensor_details() if d["name"] == "tfl.quantize"]
    assert quantized["quantization"][0] < 10.0 / 255  # the input's int8 step: the clipped range's, not 1004 / 255
