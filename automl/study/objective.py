"""What the trials of a study train: the objectives that :class:`~automl.study.loop.Loop` runs.

The loop is the same for every study (ask -> sample -> run the trial -> record -> tell); an objective says
what a sampled configuration becomes (a :class:`~automl.trial.runner.TrialRequest`), how its MLflow run is
named, and where the best trial's model is kept. The loop knows objectives only by :class:`Objective`:

- :class:`TuneObjective`: the study of ``automl run``: the space's model trained on the labels; its best
  model is ``best.keras``.
- :class:`automl.distill.objective.StudentObjective`: the student study of ``automl distill``
  (``<name>-student``), a layer above the study: a smaller model trained by the distillation loss from a
  teacher; its best model is ``student.keras``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from automl._types import Objectives
from automl.builders.model import ModelSpec
from automl.builders.training import fit_values
from automl.engines.base import EngineTrial
from automl.plan import Plan, target_info
from automl.space.space import Space
from automl.store.folder import write_json
from automl.trial.runner import TrialRequest, TrialResult


class TuneObjective:
    """The tuning study: each trial trains the space's model on the labels."""

    prefix, role = "trial", "trial"  # MLflow: run `trial-<n>`, tag automl.role

    def __init__(self, plan: Plan) -> None:
        cfg = plan.pipeline.config
        self.plan = plan
        self.name, self.space = plan.name, plan.space
        self.epochs, self.batch_size = plan.epochs, cfg.train.batch_size
        self.sampler = cfg.study.sampler
        self.engine_options: dict[str, Any] = cfg.study.engine_options()
        self.budget: int | None = cfg.study.budget  # the study's total trials over every host (study.budget)
        self.best_path = plan.folder.best_model
        #: (metric, direction) of each objective of ``study.objectives`` (empty: the one ``plan.metric``)
        self.objectives: Objectives = plan.objectives
        self.constraints = plan.constraints
        self.measure = _measure_request(plan)

    def sample(self, trial: EngineTrial) -> dict[str, Any]:
        """The trial's configuration (every active value)."""
        # Hyperband's budget (trial.epochs) stands in for train.epochs, so the logged `epochs` is what it trains
        return fit_values(self.space.sample(trial), trial.epochs or self.epochs, self.batch_size)

    def request(self, trial: EngineTrial, values: dict[str, Any], spec: ModelSpec
                ) -> tuple[TrialRequest, dict[str, Any]]:
        """The trial's request, and the parameters its run logs."""
        cfg = self.plan.pipeline.config
        block, hp = self.space.decode(values)
        return TrialRequest(number=trial.number, block=block, hp=hp, spec=spec, metric=self.plan.metric,
                            direction=self.plan.direction, epochs=trial.epochs or hp["epochs"],
                            batch_size=hp["batch_size"], seed=cfg.seed, timeout=cfg.study.trial_timeout,
                            measure=self.measure, constraints=self.constraints), values

    def metrics(self, result: TrialResult) -> dict[str, float]:
        return {}

    def kept(self, number: int, value: float, params: dict[str, Any], **extra: Any) -> None:
        """Trial ``number`` is the best so far and its model was saved at :attr:`best_path`."""
        plan, folder = self.plan, self.plan.folder
        # the value of the first objective (the study's metric unless study.objectives puts another first)
        metric = plan.objectives[0].metric if plan.objectives else plan.metric
        builders = {"builders": self.space.builder_records()} if self.space.builders else {}
        folder.write_best_info({"trial": number, "value": value, "metric": metric, "params": params, **builders,
                                **extra})
        if plan.data.encoding:  # how raw CSV columns become the model's input tensor
            write_json(folder.encoding, plan.data.encoding)
        write_json(folder.target, target_info(plan))  # what the outputs mean, for predict without the data

    def for_workers(self) -> Callable[[Plan], Objective]:
        return TuneObjective


class Objective(Protocol):
    """What the loop asks of an objective (:class:`TuneObjective`, the distillation's ``StudentObjective``)."""

    prefix: str  # MLflow: a trial's run is `<prefix>-<n>`
    role: str  # MLflow: tag automl.role of a trial's run
    name: str  # the engine's study name
    space: Space
    sampler: str
    engine_options: dict[str, Any]
    epochs: int
    batch_size: int
    budget: int | None
    best_path: Path
    objectives: Objectives
    constraints: Any
    measure: Any

    def sample(self, trial: EngineTrial) -> dict[str, Any]: ...

    def request(self, trial: EngineTrial, values: dict[str, Any], spec: ModelSpec
                ) -> tuple[TrialRequest, dict[str, Any]]: ...

    def metrics(self, result: TrialResult) -> dict[str, float]: ...

    def kept(self, number: int, value: float, params: dict[str, Any], **extra: Any) -> None: ...

    def for_workers(self) -> Callable[[Plan], Objective]:
        """How a worker process makes this objective again from its own plan (picklable: spawned workers)."""
        ...


def _measure_request(plan: Plan) -> Any:
    """What the trials measure (``study.measure``), when an objective or a constraint needs a tflite_* metric;
    else None."""
    study = plan.pipeline.config.study
    if not study.measured:
        return None
    from automl.tflite.measure import MeasureRequest

    return MeasureRequest(**study.measure.model_dump(), lock=str(plan.folder.measure_lock.resolve()))
