"""Tuning engines behind one seam. The only package that imports optuna (or keras_tuner).

The engine modules are imported lazily so that reading and validating a pipeline stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from automl.engines.base import Engine, EngineTrial, TrialRecord

# engine -> the samplers it offers (kept here, without importing the engines, for validation)
ENGINE_SAMPLERS: dict[str, tuple[str, ...]] = {
    "optuna": ("tpe", "random", "grid"),
}
_MODULES = {"optuna": "automl.engines.optuna"}


def get_engine(name: str) -> type[Engine]:
    """The :class:`Engine` subclass registered as ``name``."""
    module = importlib.import_module(_MODULES[name])
    cls: type[Engine] = module.ENGINE
    return cls


def list_studies(storage: str) -> list[dict[str, Any]]:
    """Every study in an Optuna storage: name, trial counts, best value."""
    from automl.engines.optuna import list_studies as _list

    return _list(storage)


__all__ = ["ENGINE_SAMPLERS", "Engine", "EngineTrial", "TrialRecord", "get_engine", "list_studies"]
