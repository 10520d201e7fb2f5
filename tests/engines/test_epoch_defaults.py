"""``train.epochs``' derived defaults are written once, on :class:`~automl.engines.base.StudySettings`, and both
engines read them there (tests/meta/test_settled_once.py keeps the formulas out of the engines)."""

from __future__ import annotations

import pytest

from automl.engines.base import StudySettings
from tests.engines.contract import STORAGE, space_for


def _settings(epochs: int) -> StudySettings:
    return StudySettings(name="e", space=space_for("random"), sampler="random", pruner="none", direction="maximize",
                         seed=0, storage=STORAGE, epochs=epochs)


@pytest.mark.parametrize(("epochs", "startup", "warmup", "most"), [(1, 3, 1, 1), (8, 8, 2, 8), (40, 10, 10, 40)])
def test_the_defaults_derived_from_train_epochs(epochs: int, startup: int, warmup: int, most: int) -> None:
    s = _settings(epochs)
    assert (s.startup_trials, s.warmup_epochs, s.max_epochs) == (startup, warmup, most)


def test_optuna_takes_its_defaults_from_the_settings() -> None:
    from tests.engines.contract import make_engine

    engine = make_engine("optuna", "tpe", name="defaults", pruner="hyperband", epochs=40)
    engine.open()
    study = engine.study  # type: ignore[attr-defined]
    assert study.sampler._n_startup_trials == engine.settings.startup_trials == 10
    assert study.pruner._max_resource == engine.settings.max_epochs == 40
