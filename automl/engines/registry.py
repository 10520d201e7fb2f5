"""The engines' registry: which engines exist, what they offer, and the rule that a study name belongs to one
engine. Imports no tuning library (each engine module is imported when asked for), so validation stays fast."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from automl.engines.base import Engine, StudySettings, rename_or_new
from automl.errors import StudyError

# engine -> the samplers it offers (kept here, without importing the engines, for validation)
ENGINE_SAMPLERS: dict[str, tuple[str, ...]] = {
    "optuna": ("tpe", "random", "grid", "qmc", "cmaes", "gp", "nsga2", "nsga3"),
    "keras_tuner": ("random", "bayesian", "hyperband", "grid"),
}
# engine -> the pruners it offers; keras-tuner's early stopping is its Hyperband sampler; `dominated` is automl's
# own, for multi-objective studies only
ENGINE_PRUNERS: dict[str, tuple[str, ...]] = {
    "optuna": ("none", "median", "percentile", "successive_halving", "hyperband", "patient", "threshold",
               "dominated"),
    "keras_tuner": ("none", "median"),
}
# sampler -> (the module it needs beyond automl's dependencies, the extra that installs it)
SAMPLER_EXTRAS: dict[str, tuple[str, str]] = {"gp": ("torch", "gp")}
_MODULES = {"optuna": "automl.engines.optuna", "keras_tuner": "automl.engines.keras_tuner"}


def missing_extra(sampler: str) -> str | None:
    """Why ``sampler`` cannot run here (a one-line fix), or None when it can."""
    if sampler not in SAMPLER_EXTRAS:
        return None
    module, extra = SAMPLER_EXTRAS[sampler]
    if importlib.util.find_spec(module) is not None:
        return None
    return f"sampler '{sampler}' needs {module}, which is not installed: pip install 'automl[{extra}]'"


def get_engine(name: str) -> type[Engine]:
    """The :class:`Engine` subclass registered as ``name``."""
    module = importlib.import_module(_MODULES[name])
    cls: type[Engine] = module.ENGINE
    return cls


def _state_only(name: str, settings: StudySettings) -> Any:
    """Another engine's study, as far as checking it exists and deleting it, imported as lightly as possible:
    keras-tuner's state is a folder (no keras_tuner, no TensorFlow import)."""
    if name == "keras_tuner":
        from automl.engines._kt_store import StudyState

        return StudyState(settings.storage, settings.name)
    return get_engine(name)(settings)


def check_other_engines(engine: Engine, *, new: bool) -> None:
    """A study name belongs to one engine: another engine's study of that name is an error, or with
    ``new`` it is deleted (the user asked to start afresh)."""
    for name in _MODULES:
        if name == engine.name:
            continue
        other = _state_only(name, engine.settings)
        if not other.exists():
            continue
        if new:
            other.delete()
        else:
            raise StudyError(f"study '{engine.settings.name}' was made by engine '{name}', not '{engine.name}': "
                             f"{rename_or_new(engine.settings.name)}")
