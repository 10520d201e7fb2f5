"""The int8 recovery message (issue 24): layers that stayed float are named inside a user's nested model (not
"functional"), and each rung is numbered once, with its steps' drops."""

from __future__ import annotations

from automl.export.recovery import Step, _tried, layer_names


def test_a_layer_inside_a_nested_model_is_named_not_its_container() -> None:
    import keras

    inputs = keras.Input((4,))
    inner = keras.Model(inputs, keras.layers.Dense(3, name="wide_dense")(inputs), name="functional")
    outer_in = keras.Input((4,))
    outer = keras.Model(outer_in, keras.layers.Dense(2, name="logits")(inner(outer_in)), name="tiny")
    nodes = ["tiny/functional/wide_dense_1/MatMul;tiny/functional/wide_dense_1/BiasAdd", "tiny/logits/MatMul",
             "tiny/functional/Identity", "unknown_tensor"]
    assert layer_names(outer, nodes) == ["wide_dense", "logits", "functional", "unknown_tensor"]


def test_each_rung_is_numbered_once() -> None:
    def step(rung: int, name: str, drop: float) -> Step:
        return Step(rung, name, name, drop, 100, False, True, 0.1, {})

    steps = [step(1, "calibration", 0.041), step(2, "per_channel", 0.04), step(3, "float_layers", 0.039),
             step(3, "float_layers", 0.028), step(3, "float_layers", 0.021)]
    assert _tried(steps, lambda d: f"{(d or 0) * 100:.2f} pt") == (
        "1:calibration 4.10 pt, 2:per_channel 4.00 pt, 3:float_layers 3.90 pt / 2.80 pt / 2.10 pt")
