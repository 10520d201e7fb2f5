"""The engine seam: create/resume a study, ask for parameters, report epochs, tell outcomes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from automl._types import Objectives
from automl.space.space import Space
from automl.states import TrialState


def continuable(changes: list[str], blocking: list[str], builder_change: str = "") -> bool:
    """Whether a study can go on under a changed space (``--continue``): something changed, nothing that blocks
    (:func:`~automl.space.space.space_changes`), and no builder file was edited."""
    return bool(changes) and not blocking and not builder_change


def space_refusal(name: str, changes: list[str], blocking: list[str], extra: str = "") -> str:
    """Why a stored study refuses the pipeline's space: what changed, and the ways on."""
    shown = "; ".join((blocking or changes)[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
    what = f" ({shown})" if shown else ""
    if not continuable(changes, blocking, extra):
        return f"study '{name}' exists with a different search space{what}{extra}: {rename_or_new(name)}"
    return (f"study '{name}' exists with a different search space{what}: run with --continue to go on with its "
            f"trials under the new space, or {rename_or_new(name)}")


def rename_or_new(name: str) -> str:
    """The way out when a stored study does not fit the pipeline: another name, or start this one afresh."""
    return (f"use --name NEW_NAME for a study of its own (or another `name` in the pipeline), or --new to start "
            f"'{name}' afresh (its trials are deleted)")


#: the trial attribute where automl records whether a trial met ``study.constraints``
FEASIBLE = "automl.feasible"


@dataclass
class TrialRecord:
    """A finished (or running) trial as any engine describes it."""

    number: int
    state: TrialState  # COMPLETE | PRUNED | FAIL | RUNNING | WAITING
    value: float | None  # the first objective's value
    params: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    values: list[float] | None = None  # every objective's value (multi-objective studies), in their order

    @property
    def feasible(self) -> bool:
        """Whether the trial met ``study.constraints`` (a trial of a study without constraints always does)."""
        return self.attrs.get(FEASIBLE) is not False


class EngineTrial(ABC):
    """One asked trial: a :class:`~automl.space.params.Suggester` plus the pruning channel."""

    number: int
    #: epochs this trial may train, when the engine decides it (Hyperband's budget); None: ``train.epochs``
    epochs: int | None = None
    #: why :meth:`should_prune` last said yes, when the engine says more than "pruned after epoch N"
    prune_reason: str | None = None

    @property
    def engine_id(self) -> str:
        """The trial's id in the engine's own storage (Optuna's trial id, keras-tuner's ``"0003"``)."""
        return str(self.number)

    def tags(self) -> dict[str, Any]:
        """Extra tags for the trial's MLflow run; every engine gives ``automl.engine_trial_id``."""
        return {"automl.engine_trial_id": self.engine_id}

    @abstractmethod
    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    @abstractmethod
    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float: ...

    @abstractmethod
    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...

    @abstractmethod
    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None: ...

    @abstractmethod
    def should_prune(self) -> bool: ...

    def measured(self, values: dict[str, float]) -> None:
        """What the trial knew of its model before training (``params_count``, ``tflite_*``), once, before its
        first epoch; ``pruner: dominated`` compares them."""
        return None


@dataclass
class StudySettings:
    """What an engine needs to open a study: plain data, shared by every engine."""

    name: str
    space: Space
    sampler: str
    pruner: str
    direction: str
    seed: int | None
    storage: str
    epochs: int
    worker: int = 0  # which of several processes sharing the study (each samples from its own seed)
    #: the sampler's and the pruner's options (``study.sampler: {name: tpe, n_startup_trials: 5}``), validated
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner_options: dict[str, Any] = field(default_factory=dict)
    #: configurations evaluated first (``study.enqueue``): each a mapping of parameter -> value, maybe partial
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    #: another study of the same storage that seeds this one when it is created (``--from-study``)
    from_study: str | None = None
    #: seconds between a running trial's heartbeats in the storage; a trial silent for ``grace_period`` seconds
    #: (default: twice the interval) is failed by whoever opens the study next (its process or host died)
    heartbeat_interval: int | None = 60
    grace_period: int | None = None
    #: the objectives when the study has several (``study.objectives``, the plan's shape); empty: one value,
    #: ``direction``
    objectives: Objectives = Objectives()
    #: the study's total trials over every session and host (``study.budget``); None: no total. With a budget,
    #: a trial failed because its process died is retried (enqueued again), counted once
    budget: int | None = None

    @property
    def multi_objective(self) -> bool:
        return self.objectives.multi

    # train.epochs' derived defaults, one definition for both engines (the plan reads train.epochs itself)
    @property
    def startup_trials(self) -> int:
        """Random trials before a model-based sampler (TPE, Bayesian optimization) models the results, unless
        set: ``min(10, max(3, epochs))``."""
        return min(10, max(3, self.epochs))

    @property
    def warmup_epochs(self) -> int:
        """Epochs never pruned at the start of a trial, unless set: ``max(1, epochs // 4)``."""
        return max(1, self.epochs // 4)

    @property
    def max_epochs(self) -> int:
        """The epochs of a full trial, Hyperband's largest budget: ``max(1, epochs)``."""
        return max(1, self.epochs)

    @property
    def directions(self) -> list[str]:
        """One direction per value the engine is told: the objectives' (several), else ``[direction]``."""
        return list(self.objectives.directions) or [self.direction]


@dataclass
class BudgetCount:
    """Where a study stands against its budget: ``counted`` = complete + pruned + failed and not retried +
    running (reserved); ``running`` of them still running; ``waiting``: enqueued, retries included."""

    counted: int
    running: int
    waiting: int


class Engine(ABC):
    """A tuning engine. Subclasses set ``name`` and ``samplers``."""

    name: str = ""
    samplers: tuple[str, ...] = ()

    def __init__(self, settings: StudySettings) -> None:
        self.settings = settings

    @abstractmethod
    def exists(self) -> bool:
        """Whether this engine stores a study named ``settings.name``."""

    @abstractmethod
    def delete(self) -> None:
        """Delete the stored study named ``settings.name`` (if any)."""

    #: the changes of the search space that :meth:`open` went on through (``continue_space``), one line each
    space_changes: list[str] = []

    @abstractmethod
    def open(self, *, new: bool = False, continue_space: bool = False) -> None:
        """Create the study, or resume it; raises StudyError if the stored one has another space, unless
        ``continue_space`` and the change is one the study can go on through (:func:`~automl.space.space.
        space_changes`): then the new space is the study's from its next trial on, and the change is recorded."""

    @abstractmethod
    def ask(self) -> EngineTrial | None:
        """A new trial, or None when the sampler has nothing left (an exhausted grid)."""

    @abstractmethod
    def tell(self, trial: EngineTrial, state: TrialState, value: float | list[float] | None, attrs: dict[str, Any],
             constraints: dict[str, float] | None = None) -> None:
        """Record how ``trial`` ended (COMPLETE with a value, one per objective in a multi-objective study;
        PRUNED or FAIL) and its attributes; ``constraints`` are the violations of ``study.constraints``
        (``<= 0``: met), for samplers that learn from them."""

    @abstractmethod
    def trials(self) -> list[TrialRecord]: ...

    #: trials that processes which died had left RUNNING, failed by :meth:`open`: ``(number, reason)``
    healed: list[tuple[int, str]] = []

    def mark(self, trial: EngineTrial, attrs: dict[str, Any]) -> None:
        """Record ``attrs`` on a trial while it runs (its MLflow run id, its session), before its end.

        Engines that record a trial only at its end (keras-tuner) keep them for :meth:`tell`."""
        return None

    def reserve(self, budget: int) -> EngineTrial | None:
        """A new trial if the study's trials counted against ``budget`` are fewer than it, atomically across
        processes and hosts; None when the budget is used up (trials may still be running)."""
        from automl.errors import StudyError

        raise StudyError(f"engine {self.name} has no study budget: use engine optuna")

    def study_attrs(self) -> dict[str, Any]:
        """What processes of the study recorded on it (:meth:`set_study_attr`): the shared session run, the
        versions and data fingerprint workers must match."""
        return {}

    def set_study_attr(self, key: str, value: Any) -> None:
        from automl.errors import StudyError

        raise StudyError(f"engine {self.name} keeps no study attributes: use engine optuna")

    def count(self) -> BudgetCount:
        """The study's trials as :class:`BudgetCount` counts them."""
        trials = self.trials()
        running = sum(t.state == TrialState.RUNNING for t in trials)
        return BudgetCount(counted=sum(t.state != TrialState.WAITING for t in trials), running=running,
                           waiting=sum(t.state == TrialState.WAITING for t in trials))

    def fail_dead(self, reason: str | None = None) -> list[tuple[int, str]]:
        """Fail the RUNNING trials whose owning process (on this host) has died; ``(number, reason)`` of each.

        ``reason`` replaces the default "process <pid> on <host> died"."""
        return []

    def best(self) -> TrialRecord | None:
        """The best feasible trial; in a multi-objective study, the feasible Pareto member with the best first
        objective (ties go to the better later objectives)."""
        done = [t for t in self.trials() if t.state == TrialState.COMPLETE and t.value is not None and t.feasible]
        if not done:
            return None
        directions = self.settings.directions

        def key(t: TrialRecord) -> tuple[float, ...]:
            values = t.values if t.values is not None and len(directions) > 1 else [float(t.value)]  # type: ignore[arg-type]
            return tuple(v if d == "minimize" else -v for v, d in zip(values, directions, strict=False))

        return min(done, key=key)
