"""What the engine contract suite shares: the registered engines, the spaces, and a driver that plays
the study loop against a bare engine (no Keras), so most of the contract runs in seconds.

A new engine joins the suite by being registered in ``automl.engines`` (``ENGINE_SAMPLERS`` and its module).
"""

from __future__ import annotations

import math
from typing import Any

from automl.engines import ENGINE_SAMPLERS, Engine, get_engine, missing_extra
from automl.engines.base import StudySettings
from automl.space import Space, SpaceFile, resolve_space

ENGINES = list(ENGINE_SAMPLERS)
# a sampler whose optional extra is not installed (gp without torch) is left out; its one-line error is tested
CASES = [(engine, sampler) for engine, samplers in ENGINE_SAMPLERS.items() for sampler in samplers
         if missing_extra(sampler) is None]
STORAGE = "sqlite:///mlruns/optuna.db"

# Every kind of parameter: int (linear, log), float (log, stepped, conditional), categoricals of str and of
# bools, a condition on two parents, a fixed value; the block adds fixed defaults (some None) and
# conditions on fixed parents.
SPACE: dict[str, Any] = {"block": "mlp", "params": {
    "layers": {"type": "int", "low": 1, "high": 3},
    "units": {"type": "int", "low": 4, "high": 64, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
    "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
    "nesterov": {"type": "categorical", "choices": [True, False], "when": {"optimizer": "sgd", "layers": [2, 3]}},
    "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
}}
# Grid search needs a finite grid for every parameter (no continuous floats).
GRID_SPACE: dict[str, Any] = {"block": "mlp", "params": {
    "layers": {"type": "int", "low": 1, "high": 2},
    "units": 8,
    "dropout": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.1},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
    "momentum": {"type": "float", "low": 0.0, "high": 0.9, "step": 0.9, "when": {"optimizer": "sgd"}},
    "lr": {"type": "categorical", "choices": [0.01, 0.1]},
}}


def space_for(sampler: str, raw: dict[str, Any] | None = None) -> Space:
    chosen = raw or (GRID_SPACE if sampler == "grid" else SPACE)
    return resolve_space(SpaceFile.model_validate(chosen), 2, file="contract.yaml")


def make_engine(engine: str, sampler: str, *, name: str = "contract", seed: int | None = 0,
                pruner: str = "none", epochs: int = 2, space: Space | None = None, **extra: Any) -> Engine:
    """An engine on the contract's storage; ``extra``: more :class:`StudySettings` fields (options, warm starts)."""
    settings = StudySettings(name=name, space=space or space_for(sampler), sampler=sampler, pruner=pruner,
                             direction="maximize", seed=seed, storage=STORAGE, epochs=epochs, **extra)
    return get_engine(engine)(settings)


def score(values: dict[str, Any]) -> float:
    """A deterministic objective with a peak at lr = 0.01, so model-based samplers have a signal."""
    return 1.0 / (1.0 + abs(math.log10(float(values["lr"])) + 2.0)) - 0.01 * int(values.get("layers", 1))


def drive(engine: Engine, trials: int, *, state: str = "COMPLETE") -> list[dict[str, Any]]:
    """Play the study loop: ask, sample the space, report every epoch, tell. Returns the sampled values."""
    space, epochs = engine.settings.space, engine.settings.epochs
    drawn = []
    for _ in range(trials):
        trial = engine.ask()
        if trial is None:
            break
        values = space.sample(trial)
        drawn.append(values)
        budget = trial.epochs or epochs
        value = score(values)
        for epoch in range(budget):
            trial.report(epoch, value * (epoch + 1) / budget, {})
        if state == "FAIL":
            engine.tell(trial, "FAIL", None, {"fail_reason": f"boom {trial.number}"})
        else:
            engine.tell(trial, "COMPLETE", value, {"n_params": 1})
    return drawn
