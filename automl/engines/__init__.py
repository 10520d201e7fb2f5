"""Tuning engines behind one seam. The only package that imports optuna (or keras_tuner).

The engine modules are imported lazily so that reading and validating a pipeline stays fast.
"""

from __future__ import annotations

from typing import Any

from automl.engines.base import Engine, EngineTrial, StudySettings, TrialRecord
from automl.engines.registry import (
    ENGINE_PRUNERS,
    ENGINE_SAMPLERS,
    SAMPLER_EXTRAS,
    check_other_engines,
    get_engine,
    missing_extra,
)


def list_studies(storage: str) -> list[dict[str, Any]]:
    """Every study of every engine stored at ``storage``: name, engine, trial counts, best value."""
    from automl.engines._kt_store import list_studies as _kt_list
    from automl.engines.optuna import list_studies as _optuna_list

    return _optuna_list(storage) + _kt_list(storage)


__all__ = ["ENGINE_PRUNERS", "ENGINE_SAMPLERS", "SAMPLER_EXTRAS", "Engine", "EngineTrial", "StudySettings",
           "TrialRecord", "check_other_engines", "get_engine", "list_studies", "missing_extra"]
