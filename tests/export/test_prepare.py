"""The exported graph: training-only layers left out, recurrent layers unrolled, weights unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from automl.errors import ExportError
from automl.export import ConvertOptions, convert, inference_model
from automl.runtime import import_keras
from automl.tflite.prepare import all_layers
from tests.export.conftest import Family, make_data


def _op_names(content: bytes) -> set[str]:
    from ai_edge_litert.interpreter import Interpreter

    return {op["op_name"] for op in Interpreter(model_content=content)._get_ops_details()}


def _augmented_model() -> tuple[object, np.ndarray]:
    keras = import_keras()
    x, _ = make_data((8, 8, 1), n=32)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.RandomFlip("horizontal", name="flip")(inputs)
    h = keras.layers.GaussianNoise(0.3, name="noise")(h)
    h = keras.layers.Conv2D(4, 3, name="conv")(h)
    h = keras.layers.SpatialDropout2D(0.2, name="sdrop")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dropout(0.5, name="drop")(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(h)), x


def test_training_only_layers_are_left_out() -> None:
    model, x = _augmented_model()
    prepared = inference_model(model)
    kinds = {type(layer).__name__ for layer in all_layers(prepared)}
    assert not kinds & {"RandomFlip", "GaussianNoise", "SpatialDropout2D", "Dropout"}
    assert "Identity" in kinds
    np.testing.assert_allclose(prepared.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    ops = _op_names(convert(prepared, "float32"))
    assert not any("RANDOM" in op or "MULTINOMIAL" in op for op in ops), ops


def test_recurrent_layers_are_unrolled_with_the_same_weights(families: dict[str, Family]) -> None:
    fam = families["lstm"]
    prepared = inference_model(fam.model)
    lstm = prepared.get_layer("lstm")
    assert lstm.get_config()["unroll"] is True
    assert "Dropout" not in {type(layer).__name__ for layer in prepared.layers}
    np.testing.assert_allclose(prepared.predict(fam.x_test, verbose=0), fam.model.predict(fam.x_test, verbose=0),
                               atol=1e-5)


def test_bidirectional_recurrent_layers_are_unrolled_and_convert() -> None:
    keras = import_keras()
    x, _ = make_data((6, 2), n=16)
    inputs = keras.Input((6, 2))
    h = keras.layers.Bidirectional(keras.layers.GRU(4), name="bi")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(h))
    prepared = inference_model(model)
    assert prepared.get_layer("bi").forward_layer.get_config()["unroll"] is True
    content = convert(prepared, "int8", ConvertOptions(representative=x))
    assert len(content) > 0


def test_a_model_without_anything_to_rewrite_is_exported_as_is(families: dict[str, Family]) -> None:
    keras = import_keras()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert inference_model(model) is model


def test_an_lstm_without_unroll_and_a_dynamic_batch_is_not_builtin(families: dict[str, Family]) -> None:
    """Why the exporter unrolls: the raw graph needs TensorList ops, and the error names the layer."""
    with pytest.raises(ExportError, match="layer 'lstm' \\(LSTM\\) cannot be expressed in TFLite builtin ops"):
        convert(families["lstm"].model, "float32")


def test_a_variable_length_sequence_is_a_clear_error() -> None:
    keras = import_keras()
    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.LSTM(4, name="seq")(inputs)))
    with pytest.raises(ExportError, match="layer 'seq' \\(LSTM\\) needs a fixed sequence length"):
        inference_model(model)
