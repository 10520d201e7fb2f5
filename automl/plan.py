"""Settle everything a study needs before it starts: data, resolved space, metric and direction.

This is where checks that need more than one file live (metric vs task, block vs data rank).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl._text import one_of
from automl._types import Objectives
from automl.builders.metrics import base_metric, direction_of, epoch_metric_names, metrics_for, scored_metrics
from automl.config.constraints import Constraint, parse_constraint
from automl.config.loader import Pipeline
from automl.config.models import MEASURED
from automl.data import Dataset, TaskContradiction, load_dataset
from automl.engines.warm import check_enqueue
from automl.errors import ConfigError
from automl.space.space import Space, resolve_space
from automl.store.access import driver_problem
from automl.store.folder import StudyFolder, check_name

DEFAULT_STORAGE = "sqlite:///mlruns/optuna.db"
#: the environment variable that supplies the Optuna storage when neither --storage nor study.storage does
#: (a Kubernetes Secret keeps the database password out of the pipeline file)
STORAGE_ENV = "AUTOML_STORAGE"


@dataclass
class Plan:
    pipeline: Pipeline
    data: Dataset
    space: Space
    metric: str
    direction: str
    storage: str
    epoch_metrics: tuple[str, ...] | None = None  # compiled into trial models; None: all
    #: ``study.objectives`` settled: one (metric, direction) each; empty without it (``metric`` and ``direction``).
    #: Every stage reads the objectives here, and "multi-objective?" from :attr:`multi_objective`
    objectives: Objectives = Objectives()
    #: ``study.constraints`` parsed (each on a metric known before training)
    constraints: tuple[Constraint, ...] = ()
    #: things a person should know before the study runs (valid, but probably not what was meant)
    notes: list[str] = field(default_factory=list)
    _precision: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.pipeline.name

    @property
    def epochs(self) -> int:
        """``train.epochs``: the epochs of a full trial (read here only; the engines' defaults derived from it
        are :class:`~automl.engines.base.StudySettings`')."""
        return self.pipeline.config.train.epochs

    @property
    def precision(self) -> str:
        """``train.precision`` resolved (``auto``: mixed_float16 on a GPU, else float32); every model of the study
        trains in it. Resolved when first asked, since ``auto`` needs the backend to count GPUs."""
        if self._precision is None:
            from automl.runtime import resolve_precision

            self._precision = resolve_precision(self.pipeline.config.train.precision)
        return self._precision

    @property
    def multi_objective(self) -> bool:
        return self.objectives.multi

    @property
    def directions(self) -> list[str]:
        """The engine's directions: one per objective (single-objective: ``[direction]``)."""
        return list(self.objectives.directions) or [self.direction]

    @property
    def headline(self) -> tuple[str, str]:
        """``(metric, direction)`` as a study's header names them: every objective of a multi-objective study,
        joined by `` / `` (``val_accuracy / tflite_latency_ms``, ``maximize / minimize``)."""
        if not self.multi_objective:
            return self.metric, self.direction
        return " / ".join(self.objectives.metrics), " / ".join(self.objectives.directions)

    @property
    def folder(self) -> StudyFolder:
        """``mlruns/<name>/``: the study's best model, later its student and exports."""
        return StudyFolder(self.pipeline.name)

    @property
    def output_dir(self) -> Path:
        return self.folder.path


def default_metric(task: str) -> str:
    return "val_accuracy" if task == "classification" else "val_loss"


def task_contradictions(pipeline: Pipeline, task: str, rule: str) -> ConfigError | None:
    """One error naming every key that contradicts ``task`` (which ``rule`` decided), or None.

    The keys: ``task`` itself, a ``study.metric`` of the other task, and a ``study.direction`` against the
    metric the study would then use; a metric that is no one's is left to :func:`settle_metric`'s did-you-mean.
    """
    cfg = pipeline.config
    wrong: dict[str, tuple[str, str]] = {}  # key -> (what it holds, what it should hold)
    if cfg.task is not None and cfg.task != task:
        wrong["task"] = (cfg.task, task)
    metric, other = cfg.study.metric, "regression" if task == "classification" else "classification"
    usable = metric is None or base_metric(metric) in metrics_for(task)
    if not usable and base_metric(str(metric)) in metrics_for(other):
        others = ", ".join(f"val_{m}" for m in metrics_for(task) if m != "loss")
        wrong["study.metric"] = (f"{metric} (a {other} metric)", f"{default_metric(task)} (or {others})")
    implied = direction_of(default_metric(task))
    if metric is None or "study.metric" in wrong:  # a metric that stays has its direction checked by the model
        if cfg.study.direction is not None and cfg.study.direction != implied:
            wrong["study.direction"] = (cfg.study.direction, f"{implied} ({default_metric(task)})")
    if not wrong or list(wrong) == ["study.direction"]:  # the direction alone is settle_metric's plain error
        return None
    held, fix = (", ".join(f"{k}: {v[i]}" for k, v in wrong.items()) for i in (0, 1))
    return ConfigError(f"the task is {task} ({rule}), which {held} contradict{'s' * (len(wrong) == 1)}: set {fix}, "
                       "or leave them out to have them inferred", file=pipeline.file)


def settle_metric(pipeline: Pipeline, task: str, rule: str = "") -> tuple[str, str]:
    contradiction = task_contradictions(pipeline, task, rule or f"task: {task}")
    if contradiction is not None:
        raise contradiction
    study = pipeline.config.study
    metric = study.metric or default_metric(task)
    known = metrics_for(task)
    if base_metric(metric) not in known:
        names = [f"val_{m}" for m in known] + list(known)
        raise ConfigError(one_of(metric, names, f"metric for {task}"), file=pipeline.file, path="study.metric")
    implied = direction_of(metric)
    if study.direction and implied and study.direction != implied:
        raise ConfigError(f"{metric} must be {implied}d, got direction={study.direction}", file=pipeline.file,
                          path="study.direction")
    direction = study.direction or implied
    if direction is None:
        raise ConfigError(f"cannot infer whether {metric} should be maximized: set study.direction",
                          file=pipeline.file, path="study.direction")
    return metric, direction


def settle_objectives(pipeline: Pipeline, task: str, metric: str, direction: str
                      ) -> tuple[Objectives, str, str]:
    """``study.objectives`` checked against the task: ``(objectives, metric, direction)``, where ``metric`` is
    what a trial's best epoch is chosen on: the first val_ objective (else the task's default metric).
    Without ``study.objectives``: ``(Objectives([(metric, direction)]), metric, direction)``."""
    objectives = pipeline.config.study.objectives
    if objectives is None:
        return Objectives([(metric, direction)]), metric, direction
    known = metrics_for(task)
    out = []
    for i, objective in enumerate(objectives):
        name = objective.metric
        if name not in MEASURED and base_metric(name) not in known:
            names = [f"val_{m}" for m in known] + list(MEASURED)
            raise ConfigError(one_of(name, names, f"objective metric for {task}"), file=pipeline.file,
                              path=f"study.objectives.{i}.metric")
        if objective.direction is None:
            raise ConfigError(f"cannot infer whether {name} should be maximized: set its direction",
                              file=pipeline.file, path=f"study.objectives.{i}.direction")
        out.append((name, objective.direction))
    scored = [(m, d) for m, d in out if m not in MEASURED]
    metric, direction = scored[0] if scored else (default_metric(task), str(direction_of(default_metric(task))))
    return Objectives(out), metric, direction


def settle_epoch_metrics(pipeline: Pipeline, task: str, metric: str, objectives: tuple[str, ...] = ()
                         ) -> tuple[str, ...]:
    """The metrics compiled into trial models: the cheap ones, ``train.epoch_metrics`` and the objectives'."""
    extra = pipeline.config.train.epoch_metrics
    known = scored_metrics(task)
    if extra != "all":
        for i, name in enumerate(extra):
            if name not in known:
                raise ConfigError(one_of(name, known, f"metric for {task}"), file=pipeline.file,
                                  path=f"train.epoch_metrics.{i}")
    if objectives and extra != "all":
        extra = [*extra, *(m for m in objectives if m not in extra)]
    return epoch_metric_names(task, metric, extra)


def storage_url(pipeline: Pipeline, explicit: str | None = None) -> str:
    """The Optuna storage of ``pipeline``: ``--storage`` > ``study.storage`` > ``$AUTOML_STORAGE`` > the default.

    A database whose driver is not installed is a ConfigError naming where the URL came from, with the
    password masked.
    """
    for url, where in ((explicit, "--storage"), (pipeline.config.study.storage, "study.storage"),
                       (os.environ.get(STORAGE_ENV), STORAGE_ENV)):
        if url:
            problem = driver_problem(url)
            if problem:
                raise ConfigError(problem, file=pipeline.file if where == "study.storage" else None, path=where)
            return url
    return DEFAULT_STORAGE


def make_plan(pipeline: Pipeline, *, storage: str | None = None) -> Plan:
    """Load the data and resolve the space for ``pipeline``; raises ConfigError / DataError."""
    cfg = pipeline.config
    storage = storage_url(pipeline, storage)
    check_name(pipeline.name, file=pipeline.file, stores=(storage, os.environ.get("MLFLOW_TRACKING_URI")))
    try:
        data = load_dataset(cfg.data, cfg.task, seed=cfg.seed, file=pipeline.file)
    except TaskContradiction as exc:  # reported with the metric and direction that contradict the target too
        raise task_contradictions(pipeline, exc.inferred.task, exc.inferred.rule) or exc from None
    space = resolve_space(pipeline.space, data.rank, file=pipeline.space_file, prefix=pipeline.space_prefix)
    metric, direction = settle_metric(pipeline, data.task, data.task_rule)
    objectives, metric, direction = settle_objectives(pipeline, data.task, metric, direction)
    if cfg.study.sampler == "grid":
        try:
            space.grid()
        except ValueError as exc:
            raise ConfigError(str(exc), file=pipeline.file, path="study.sampler") from None
    check_enqueue(space, cfg.study.enqueue, file=pipeline.file)
    notes = []
    if cfg.train.batch_size > len(data.x_train):
        notes.append(f"{pipeline.file}: train.batch_size {cfg.train.batch_size} is larger than the training split "
                     f"({len(data.x_train)} rows): each epoch is one step of all rows")
    extra = tuple(base_metric(m) for m, _ in objectives if m not in MEASURED and m != metric)
    return Plan(pipeline=pipeline, data=data, space=space, metric=metric, direction=direction, notes=notes,
                storage=storage, objectives=objectives if cfg.study.objectives is not None else Objectives(),
                constraints=tuple(parse_constraint(c) for c in cfg.study.constraints),
                epoch_metrics=settle_epoch_metrics(pipeline, data.task, metric, extra))


def target_info(plan: Plan) -> dict[str, Any]:
    """What ``target.json`` holds: how to read the models' outputs (and which input columns are not features)."""
    data, cfg = plan.data, plan.pipeline.config.data
    return {
        "task": data.task,
        "target": str(cfg.target) if cfg.source == "csv" and cfg.target is not None else None,
        "class_names": list(data.class_names),
        "class_values": list(data.class_values),
        "source": data.source,
        "input_shape": list(data.input_shape),
        "feature_names": list(data.feature_names or []),
        "not_features": [c for c in (cfg.target if cfg.source == "csv" else None, cfg.split_column) if c],
    }
