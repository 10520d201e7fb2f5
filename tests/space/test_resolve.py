"""Resolving a space: block defaults, conditions, multi-block namespacing, grids, fingerprints."""

from __future__ import annotations

import pytest

from automl.errors import ConfigError
from automl.space import SpaceFile, resolve_space
from automl.testing.fakes import FirstChoiceSuggester


def _space(raw: dict, rank: int | None = 2):
    return resolve_space(SpaceFile.model_validate(raw), rank, file="s.yaml")


def test_fixed_values_are_not_tunable_and_defaults_fill_the_rest() -> None:
    space = _space({"block": "mlp", "params": {"units": 32}})
    values = space.sample(FirstChoiceSuggester())
    assert values["units"] == 32 and "units" not in space.tunable(values)
    assert {"layers", "activation", "dropout", "lr"} <= set(space.tunable(values))


def test_inactive_conditional_parameters_are_never_drawn() -> None:
    raw = {"block": "mlp", "params": {
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}}}}
    space = _space(raw)
    adam = FirstChoiceSuggester()
    assert "momentum" not in space.sample(adam) and "momentum" not in adam.asked
    sgd = FirstChoiceSuggester({"optimizer": "sgd"})
    assert "momentum" in space.sample(sgd)


def test_a_parent_is_drawn_before_its_children_whatever_the_file_order() -> None:
    raw = {"block": "mlp", "params": {
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]}}}
    names = list(_space(raw).params)
    assert names.index("optimizer") < names.index("momentum")


def test_multi_block_defaults_are_namespaced_and_conditioned_on_the_block() -> None:
    space = _space({"block": {"type": "categorical", "choices": ["mlp", "cnn"]}}, rank=None)
    assert space.blocks == ["mlp", "cnn"]
    assert "cnn.dropout" in space.params and "mlp.dropout" in space.params
    values = space.sample(FirstChoiceSuggester({"block": "cnn"}))
    block, hp = space.decode(values)
    assert block == "cnn" and "filters" in hp and "units" not in hp
    assert not any(k.startswith("mlp.") for k in values)


def test_blocks_that_do_not_fit_the_data_rank_drop_out_of_a_choice() -> None:
    space = _space({"block": {"type": "categorical", "choices": ["mlp", "cnn"]}}, rank=4)
    assert space.blocks == ["cnn"]


def test_conditions_form_no_cycle() -> None:
    raw = {"block": "mlp", "params": {
        "units": {"type": "int", "low": 4, "high": 8, "when": {"layers": 2}},
        "layers": {"type": "int", "low": 1, "high": 3, "when": {"units": 4}}}}
    with pytest.raises(ConfigError, match="conditions form a cycle"):
        _space(raw)


def test_grid_needs_a_step_on_every_float_and_names_it() -> None:
    space = _space({"block": "mlp"})
    with pytest.raises(ValueError, match="`lr` has none"):
        space.grid()
    grid = _space({"block": "mlp", "params": {"lr": {"type": "float", "low": 0.01, "high": 0.03,
                                                      "step": 0.01}}}).grid()
    assert grid["lr"] == [0.01, 0.02, 0.03]
    assert "momentum" not in grid  # its condition (sgd) can never hold under the fixed adam


def test_fingerprint_changes_with_the_space() -> None:
    a = _space({"block": "mlp"}).fingerprint()
    assert a == _space({"block": "mlp"}).fingerprint()
    assert a != _space({"block": "mlp", "params": {"units": 8}}).fingerprint()
