"""The default student: the teacher's block, narrowed to a parameter budget."""

from __future__ import annotations

import numpy as np
import pytest

from automl.builders.model import ModelSpec, build_model
from automl.distill.student import fit_to_budget, replay, scale
from automl.space.params import FixedParam, choice, float_range, int_range
from automl.space.space import Space

X = np.random.default_rng(0).normal(size=(50, 8, 8, 1)).astype(np.float32)
SPEC = ModelSpec.from_arrays(X, np.arange(50) % 10, "classification", 10)
CNN = {"conv_blocks": 2, "filters": 32, "kernel_size": 3, "activation": "relu", "dropout": 0.1,
       "dense_units": 128, "optimizer": "adam", "lr": 1e-3}


def test_scale_changes_widths_and_depths_only() -> None:
    hp = scale(CNN, 0.25, 0.5)
    assert hp["filters"] == 8 and hp["dense_units"] == 32 and hp["conv_blocks"] == 1
    assert {k: hp[k] for k in ("kernel_size", "activation", "dropout", "lr")} == {
        k: CNN[k] for k in ("kernel_size", "activation", "dropout", "lr")}
    assert scale(CNN, 0.0)["filters"] == 1  # never zero


@pytest.mark.parametrize("ratio", [0.25, 0.1, 0.02])
def test_fit_to_budget_is_the_widest_model_within_the_budget(ratio: float) -> None:
    teacher = build_model("cnn", CNN, SPEC).count_params()
    budget = int(ratio * teacher)
    fitted = fit_to_budget("cnn", CNN, SPEC, budget)
    assert fitted.n_params == build_model("cnn", fitted.hp, SPEC).count_params()
    assert fitted.n_params <= budget
    wider = scale(CNN, min(1.0, fitted.width + 0.1), fitted.depth)
    assert build_model("cnn", wider, SPEC).count_params() > budget or wider == fitted.hp


def test_depth_goes_down_when_width_alone_cannot_fit() -> None:
    x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    spec = ModelSpec.from_arrays(x, np.arange(50) % 10, "classification", 10)
    deep = {"layers": 3, "units": 64, "activation": "relu", "dropout": 0.0, "optimizer": "adam", "lr": 1e-3}
    one_layer = build_model("mlp", {**deep, "layers": 1, "units": 1}, spec).count_params()
    assert build_model("mlp", {**deep, "units": 1}, spec).count_params() > one_layer  # width alone: too big
    fitted = fit_to_budget("mlp", deep, spec, one_layer)
    assert fitted.hp["layers"] < 3 and fitted.n_params <= one_layer


def test_replay_rebuilds_a_trials_block_and_hyperparameters_with_fixed_values() -> None:
    space = Space(params={"block": FixedParam(value="mlp"), "layers": FixedParam(value=2),
                          "units": int_range(4, 64), "activation": choice("relu", "tanh"),
                          "dropout": FixedParam(value=0.0), "optimizer": FixedParam(value="adam"),
                          "lr": float_range(1e-4, 1e-1, log=True)})
    block, hp = replay(space, {"units": 17, "activation": "tanh", "lr": 0.01})
    assert block == "mlp"
    assert hp == {"layers": 2, "units": 17, "activation": "tanh", "dropout": 0.0, "optimizer": "adam", "lr": 0.01}
    with pytest.raises(KeyError, match="units"):
        replay(space, {"activation": "tanh", "lr": 0.01})
