"""What the study's process and its trial process say to each other over their pipe: small frozen records
(picklable), one type per kind of message, instead of tuples with string tags.

The parent sends :class:`Setup` once, then orders (:class:`RunTrial`, :class:`Keep`, :class:`Discard`,
:class:`Score`, :class:`Refit`, :class:`LogFlavor`, :class:`Exit`); during a trial the child sends each
:class:`Epoch` (answered by :class:`Prune`) and :class:`Measured`, then its :class:`Result`. An order of the final
stage is answered by its own reply (:class:`Saved`, :class:`Scores`, :class:`Refitted`, :class:`Logged`) or by
:class:`Unloadable` / :class:`Failed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# -- the parent's orders ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    setup: Any  # automl.trial.process.ChildSetup


@dataclass(frozen=True)
class RunTrial:
    request: Any  # automl.trial.runner.TrialRequest


@dataclass(frozen=True)
class Prune:
    """The parent's answer to an :class:`Epoch`: whether the trial stops now."""

    decision: bool


@dataclass(frozen=True)
class Keep:
    path: str
    fault: str | None = None


@dataclass(frozen=True)
class Discard:
    pass


@dataclass(frozen=True)
class Score:
    path: str


@dataclass(frozen=True)
class Refit:
    request: Any


@dataclass(frozen=True)
class LogFlavor:
    path: str
    uri: str
    experiment_id: str
    run_id: str
    name: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Exit:
    pass


# -- the child's reports and replies ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Epoch:
    epoch: int
    value: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class Measured:
    """What the trial knew before training; no answer awaited."""

    values: dict[str, float]


@dataclass(frozen=True)
class Result:
    result: Any  # automl.trial.runner.TrialResult


@dataclass(frozen=True)
class Saved:
    pass


@dataclass(frozen=True)
class Scores:
    scores: dict[str, float]


@dataclass(frozen=True)
class Refitted:
    pass


@dataclass(frozen=True)
class Logged:
    uri: str


@dataclass(frozen=True)
class Unloadable:
    """The model file could not be loaded (the parent raises ModelLoadError)."""

    message: str


@dataclass(frozen=True)
class Failed:
    """An order failed in the child (the parent raises StudyError, or fails the trial's save)."""

    message: str


__all__ = ["Discard", "Epoch", "Exit", "Failed", "Keep", "LogFlavor", "Logged", "Measured", "Prune", "Refit",
           "Refitted", "Result", "Saved", "Score", "Scores", "Setup", "RunTrial", "Unloadable"]
