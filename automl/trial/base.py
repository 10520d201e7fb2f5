"""Where a study's trials run: the seam between the loop and its runners.

The loop (:mod:`automl.study.loop`) and the sessions' final stages know a runner only as a :class:`TrialRunner`:
:class:`~automl.trial.process.InlineRunner` trains in the study's own process, :class:`~automl.trial.process.
ProcessRunner` in a trial process, and :class:`automl.testing.runner.FakeRunner` plays scripted trials without
Keras (the loop's tests). Which one a loop gets is decided above the loop, by the factory it is given
(:data:`automl.study.loop.Runners`; :func:`automl.study.loop.default_runners` reads ``train.isolation``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from automl.trial.runner import Reporter, TrialRequest, TrialResult


class TrialRunner(Protocol):
    """What the loop and the final stages ask of whoever trains their models.

    The model of the last :meth:`run` (or :meth:`refit`) stays with the runner until :meth:`keep` saves it or
    :meth:`discard` drops it; a runner whose trial process died raises
    :class:`~automl.trial.process.TrialProcessDied` from :meth:`keep`.
    """

    def start(self) -> None:
        """Get ready for the first trial (a trial process starts importing Keras now)."""
        ...

    def run(self, request: TrialRequest, reporter: Reporter) -> TrialResult:
        """Train ``request``, reporting each epoch to ``reporter`` and stopping when it says to prune. A failure
        of the trial is a FAIL result with its reason; KeyboardInterrupt (a stop at an epoch's end) propagates."""
        ...

    def keep(self, path: Path, fault: str | None = None, *, watch_signals: bool = True) -> None:
        """Save the model held (atomically) at ``path``."""
        ...

    def discard(self) -> None:
        """Drop the model held."""
        ...

    def score(self, path: Path) -> dict[str, float]:
        """The test split's scores of the model saved at ``path`` (ModelLoadError when it cannot be loaded)."""
        ...

    def refit(self, request: TrialRequest) -> None:
        """Train ``request`` on train + validation without validation; :meth:`keep` saves it."""
        ...

    def log_flavor(self, path: Path, uri: str, experiment_id: str, run_id: str, name: str,
                   metadata: dict[str, Any]) -> str:
        """Log the model at ``path`` with MLflow's Keras flavor as output of ``run_id``; its URI."""
        ...

    def close(self) -> None:
        """Release what the runner holds (its trial process, its model)."""
        ...


__all__ = ["TrialRunner"]
