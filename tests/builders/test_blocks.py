"""Every block on every data rank it accepts: builds, trains a step, round-trips its config, reloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.builders.blocks import BLOCKS
from automl.builders.model import ModelSpec, build_model
from automl.errors import ConfigError
from automl.space import SpaceFile, resolve_space
from automl.testing.fakes import FirstChoiceSuggester

SHAPES = {2: (6,), 3: (12, 3), 4: (8, 8, 1)}
# pretrained reads ImageNet weights by default (no network here) and builds a whole application: its own tests
# (test_pretrained.py) build it from a weights file
CASES = [(name, rank) for name in BLOCKS.names() if name != "pretrained" for rank in BLOCKS.get(name).ranks]


class LastChoiceSuggester(FirstChoiceSuggester):
    """The high end of every range and the last choice: the biggest model of a space."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return int(self._pick(name, high))

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return float(self._pick(name, high))

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self._pick(name, choices[-1])


def _model(name: str, rank: int, suggester: Any, *, n: int = 32) -> tuple[Any, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, *SHAPES[rank])).astype(np.float32)
    y = rng.integers(0, 3, size=n)
    space = resolve_space(SpaceFile.model_validate({"block": name}), rank)
    block, hp = space.decode(space.sample(suggester))
    return build_model(block, hp, ModelSpec.from_arrays(x, y, "classification", 3), batch_size=n, epochs=1), x, y


@pytest.mark.parametrize(("name", "rank"), CASES)
def test_block_trains_a_step_and_round_trips(name: str, rank: int, tmp_path: Path) -> None:
    import keras

    model, x, y = _model(name, rank, FirstChoiceSuggester())
    logs = model.fit(x, y, epochs=1, batch_size=len(x), verbose=0).history
    assert np.isfinite(logs["loss"][0]) and {"accuracy", "f1", "auc"} <= set(logs)
    expected = np.asarray(model(x[:4], training=False))
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(clone(x[:4], training=False)), expected, atol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(loaded(x[:4], training=False)), expected, atol=1e-5)


@pytest.mark.parametrize(("name", "rank"), CASES)
def test_the_biggest_configuration_of_each_block_builds(name: str, rank: int) -> None:
    model, x, _ = _model(name, rank, LastChoiceSuggester())
    assert model.output_shape == (None, 3) and model.count_params() > 0


@pytest.mark.parametrize(("name", "rank"), [(n, r) for n in BLOCKS.names() for r in (2, 3, 4)
                                            if r not in BLOCKS.get(n).ranks])
def test_a_block_on_data_it_cannot_take_is_a_one_line_error(name: str, rank: int) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_space(SpaceFile.model_validate({"block": name}), rank, file="s.yaml")
    kinds = {2: "tabular (N, F)", 3: "sequence (N, T, C)", 4: "image (N, H, W, C)"}
    assert str(info.value).startswith(f"s.yaml: block: '{name}' needs ")
    assert str(info.value).endswith(f"got {kinds[rank]} data") and "\n" not in str(info.value)


def test_cnn_on_tabular_data_names_what_it_needs() -> None:
    with pytest.raises(ConfigError, match=r"^s.yaml: block: 'cnn' needs image \(N, H, W, C\) data, "
                                          r"got tabular \(N, F\) data$"):
        resolve_space(SpaceFile.model_validate({"block": "cnn"}), 2, file="s.yaml")
