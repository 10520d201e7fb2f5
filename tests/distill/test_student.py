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


MLP = {"layers": 4, "units": 16, "activation": "relu", "dropout": 0.0, "optimizer": "adam", "lr": 1e-3}
X8 = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
SPEC8 = ModelSpec.from_arrays(X8, np.arange(50) % 10, "classification", 10)


def test_a_shallower_student_spends_its_budget_on_width() -> None:
    budget = build_model("mlp", MLP, SPEC8).count_params() // 2
    full_depth = fit_to_budget("mlp", MLP, SPEC8, budget)
    quarter = fit_to_budget("mlp", MLP, SPEC8, budget, depth=0.25)
    assert full_depth.hp["layers"] == 4 and quarter.hp["layers"] == 1
    assert quarter.hp["units"] > MLP["units"] > full_depth.hp["units"]  # wider than the teacher itself
    assert quarter.n_params <= budget and quarter.width > 1.0
    wider = {**quarter.hp, "units": quarter.hp["units"] + 1}
    assert build_model("mlp", wider, SPEC8).count_params() > budget  # the widest one-layer student that fits


def test_width_stops_at_max_width() -> None:
    huge = 10 ** 9
    fitted = fit_to_budget("mlp", MLP, SPEC8, huge, depth=0.5, max_width=4.0)
    assert fitted.hp["layers"] == 2 and fitted.hp["units"] == 64 and fitted.width == 4.0


@pytest.mark.parametrize("depth", [0.0, 1.5])
def test_a_depth_outside_zero_one_is_refused(depth: float) -> None:
    with pytest.raises(ValueError, match=r"`0 < depth <= 1` must hold, got depth="):
        fit_to_budget("mlp", MLP, SPEC8, 1000, depth=depth)


def test_depth_and_mixup_are_distill_parameters_fixed_or_searched() -> None:
    from pydantic import ValidationError

    from automl.config.models import DistillConfig
    from automl.space.params import CategoricalParam

    default = DistillConfig()  # type: ignore[call-arg]
    assert default.depth == FixedParam(value=1.0) and default.mixup == FixedParam(value=0.0)
    searched = DistillConfig(depth={"type": "categorical", "choices": [0.5, 1.0]}, mixup=0.2)  # type: ignore[call-arg]
    assert isinstance(searched.depth, CategoricalParam) and searched.mixup == FixedParam(value=0.2)
    with pytest.raises(ValidationError, match=r"`0 < value <= 1` must hold, got 2"):
        DistillConfig(depth=2)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match=r"`0 <= value <= 100` must hold, got -1"):
        DistillConfig(mixup=-1)  # type: ignore[call-arg]
