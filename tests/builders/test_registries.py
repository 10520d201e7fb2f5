"""The registry contract: every family's `get(name | config | instance)`, one-line errors, docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.builders.activations import ACTIVATIONS
from automl.builders.blocks import BLOCKS
from automl.builders.blocks.rnn import CELLS
from automl.builders.docs import DESCRIPTIONS, render
from automl.builders.initializers import INITIALIZERS
from automl.builders.normalizations import NORMALIZATIONS
from automl.builders.optimizers import OPTIMIZERS
from automl.builders.regularizers import REGULARIZERS
from automl.builders.schedules import SCHEDULES
from automl.builders.training import training_hyperparameters
from automl.errors import ConfigError

# family -> the arguments every entry's factory needs
FAMILIES = {
    "activation": (ACTIVATIONS, {}),
    "initializer": (INITIALIZERS, {}),
    "normalization": (NORMALIZATIONS, {}),
    "optimizer": (OPTIMIZERS, {"learning_rate": 0.01}),
    "regularizer": (REGULARIZERS, {}),
    "schedule": (SCHEDULES, {"lr": 0.01, "steps_per_epoch": 2, "epochs": 3}),
    "rnn cell": (CELLS, {"units": 4}),
    "block": (BLOCKS, {}),
}
ENTRIES = [(family, name) for family, (registry, _) in FAMILIES.items() for name in registry]


def test_the_issue_lists_are_all_registered() -> None:
    assert set(BLOCKS.names()) == {"mlp", "cnn", "cnn1d", "resnet", "mobilenet", "pretrained", "rnn", "transformer"}
    assert {"relu", "leaky_relu", "elu", "gelu", "swish", "tanh", "sigmoid", "hard_swish"} <= set(ACTIVATIONS)
    assert set(OPTIMIZERS.names()) == {"sgd", "adam", "adamw", "nadam", "rmsprop", "adagrad"}
    assert set(SCHEDULES.names()) == {"constant", "exponential", "step", "polynomial", "cosine", "cosine_restarts"}
    assert set(REGULARIZERS.names()) == {"none", "l1", "l2", "l1_l2"}
    assert set(NORMALIZATIONS.names()) == {"none", "batch", "layer"}
    assert {"he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal"} <= set(INITIALIZERS)


@pytest.mark.parametrize(("family", "name"), ENTRIES)
def test_get_accepts_a_name_a_config_and_an_instance(family: str, name: str) -> None:
    registry, kwargs = FAMILIES[family]
    by_name = registry.get(name, **kwargs)
    by_config = registry.get({"name": name, "config": kwargs})
    assert type(by_name) is type(by_config)
    if by_name is not None:  # normalization / regularizer "none" build nothing
        assert registry.get(by_name) is by_name


@pytest.mark.parametrize("family", list(FAMILIES))
def test_an_unknown_name_is_a_one_line_error_with_a_suggestion(family: str) -> None:
    registry, _ = FAMILIES[family]
    name = registry.names()[0]
    with pytest.raises(ConfigError, match=rf"unknown {family} '{name}x'; did you mean '{name}'\?") as info:
        registry.get(name + "x")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", BLOCKS.names())
def test_a_block_round_trips_through_its_config(name: str) -> None:
    block = BLOCKS.get(name)
    again = BLOCKS.get(block.get_config())
    assert type(again) is type(block) and again.get_config() == block.get_config()


@pytest.mark.parametrize("name", BLOCKS.names())
def test_block_hyperparameters_never_shadow_training_ones(name: str) -> None:
    assert not set(BLOCKS.get(name).hyperparameters()) & set(training_hyperparameters())


def test_every_hyperparameter_is_described_and_docs_are_current(repo: Path) -> None:
    names = set(training_hyperparameters())
    for block in BLOCKS.names():
        names |= set(BLOCKS.get(block).hyperparameters())
    assert names - set(DESCRIPTIONS) == set()
    assert (repo / "docs" / "spaces.md").read_text() == render(), \
        "docs/spaces.md is stale: python -m automl.builders.docs > docs/spaces.md"
