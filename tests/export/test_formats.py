"""The format contract: every format converts every model family with the real converter, and the file
runs in the ai-edge-litert interpreter with predictions that agree with Keras on the test samples."""

from __future__ import annotations

import numpy as np
import pytest

from automl.export import FORMATS, ConvertOptions, convert, inference_model
from automl.tflite.validate import keras_reference, run_tflite, validate
from tests.export.conftest import BUILDERS, Family

# How close each format's class probabilities must stay to Keras' (quantized formats: argmax agreement).
MAX_ABS_DIFF = {"float32": 1e-4, "float16": 2e-2}
MIN_AGREEMENT = {"float32": 1.0, "float16": 0.95, "dynamic": 0.9, "int8": 0.85}


def test_registry_lists_the_four_formats() -> None:
    assert FORMATS.names() == sorted(["float32", "float16", "dynamic", "int8"])


@pytest.mark.parametrize("fmt", ["float32", "float16", "dynamic", "int8"])
@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_format_converts_and_agrees_with_keras(families: dict[str, Family], family: str, fmt: str) -> None:
    fam = families[family]
    content = convert(inference_model(fam.model), fmt, ConvertOptions(representative=fam.x_train[:100]))
    expected = fam.model.predict(fam.x_test, verbose=0)
    got = run_tflite(content, fam.x_test)
    assert got.shape == expected.shape
    assert np.all(np.isfinite(got))
    if fmt in MAX_ABS_DIFF:
        assert np.abs(got - expected).max() < MAX_ABS_DIFF[fmt]
    agreement = np.mean(got.argmax(-1) == expected.argmax(-1))
    assert agreement >= MIN_AGREEMENT[fmt], f"{family}/{fmt}: agreement {agreement:.3f}"


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_int8_with_integer_io_records_scale_and_zero_point(families: dict[str, Family], io: str) -> None:
    fam = families["cnn"]
    content = convert(inference_model(fam.model), "int8", ConvertOptions(representative=fam.x_train[:100], io=io))
    ref = keras_reference(fam.model, fam.x_test, fam.y_test, "classification", runs=5)
    check = validate(content, "int8", ref, fam.x_test, fam.y_test, task="classification", max_drop=0.05,
                     latency_runs=5, io=io)
    assert check.input.dtype == io and check.output.dtype == io
    assert check.input.scale > 0 and check.output.scale > 0
    assert check.output.scale == pytest.approx(1 / 256)  # softmax in [0, 1]
    assert check.agreement is not None and check.agreement >= 0.85


def test_int8_without_samples_is_an_error(families: dict[str, Family]) -> None:
    from automl.errors import ExportError

    with pytest.raises(ExportError, match="representative samples"):
        convert(families["mlp"].model, "int8", ConvertOptions(representative=None))


def test_quantized_formats_are_smaller(families: dict[str, Family]) -> None:
    fam = families["cnn"]
    model = inference_model(fam.model)
    sizes = {fmt: len(convert(model, fmt, ConvertOptions(representative=fam.x_train[:50])))
             for fmt in ("float32", "float16", "int8")}
    assert sizes["float16"] < sizes["float32"]
    assert sizes["int8"] < sizes["float16"]


def test_per_tensor_int8_is_smaller_than_per_channel(families: dict[str, Family]) -> None:
    fam = families["cnn"]
    model = inference_model(fam.model)
    per_channel = convert(model, "int8", ConvertOptions(representative=fam.x_train[:50]))
    per_tensor = convert(model, "int8", ConvertOptions(representative=fam.x_train[:50], per_channel=False))
    assert len(per_tensor) < len(per_channel)
    got = run_tflite(per_tensor, fam.x_test)
    assert np.mean(got.argmax(-1) == fam.model.predict(fam.x_test, verbose=0).argmax(-1)) >= 0.8
