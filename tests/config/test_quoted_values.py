"""Errors raised while a space is turned into a model quote a user's value through ``show``: a megabyte value
gives one short line, never a megabyte message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from automl.builders.registry import Registry
from automl.builders.training import class_weights
from automl.errors import ConfigError

MEGA = "x" * 1_000_000


def _short(error: ConfigError) -> str:
    text = str(error)
    assert "\n" not in text and len(text) < 400, text[:1000]
    return text


def test_an_unknown_flip_is_quoted_short() -> None:
    from automl.builders.augmentation import augment

    with pytest.raises(ConfigError) as info:
        augment(None, {"flip": MEGA}, rank=4)
    assert _short(info.value).startswith("flip: expected one of none, horizontal, vertical, horizontal_and_vertical, "
                                         "got 'xxx")


@pytest.mark.parametrize(
    ("spec", "start"),
    [
        ({MEGA: 1.0}, "class_weight: 'xxx"),  # not a class
        ({"a": MEGA}, "class_weight: weights must be numbers >= 0, got 'a': 'xxx"),
        (MEGA, "class_weight: expected none, balanced or a mapping class -> weight, got 'xxx"),
    ],
)
def test_a_bad_class_weight_is_quoted_short(spec: Any, start: str) -> None:
    with pytest.raises(ConfigError) as info:
        class_weights({"class_weight": spec}, np.array([0, 1, 1]), 2, ["a", "b"])
    assert _short(info.value).startswith(start)


def test_many_long_class_names_are_listed_short() -> None:
    names = [f"{i}" + "n" * 10_000 for i in range(1000)]
    with pytest.raises(ConfigError) as info:
        class_weights({"class_weight": {"nope": 1.0}}, np.array([0, 1]), 1000, names)
    assert _short(info.value).startswith("class_weight: 'nope' is not a class (classes: ")


def test_a_config_without_a_name_is_quoted_short() -> None:
    blocks: Registry[object] = Registry("block")
    with pytest.raises(ConfigError) as info:
        blocks.get({"config": {"units": MEGA}})
    assert _short(info.value).startswith("a block config needs a `name`, got {'config': {'units': 'xxx")
