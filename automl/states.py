"""A trial's state, as every engine, runner and record of automl names it.

A ``str`` enum: a state is stored, tagged and printed as its plain word (``"COMPLETE"`` in Optuna's user
attributes, keras-tuner's ``automl.json`` and the MLflow tag ``automl.state``) and compares equal to it, so
what earlier releases stored reads back unchanged.

>>> TrialState.COMPLETE == "COMPLETE" and f"{TrialState.PRUNED}" == "PRUNED"
True
>>> TrialState("FAIL").finished, TrialState.RUNNING.finished
(True, False)
"""

from __future__ import annotations

from enum import Enum


class TrialState(str, Enum):
    """Optuna's names for the states automl uses (keras-tuner's ``COMPLETED`` / ``FAILED`` map onto them)."""

    RUNNING = "RUNNING"  # asked, not told yet
    WAITING = "WAITING"  # enqueued (a warm start, a retry), not asked yet
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"

    # the word itself wherever a state becomes text (str() and format() of a str mixin differ across Pythons)
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __repr__(self) -> str:  # a printed list of states reads as before: ['COMPLETE', 'FAIL']
        return repr(self.value)

    @property
    def finished(self) -> bool:
        """Whether the trial ran to an end (complete, pruned or failed)."""
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


__all__ = ["TrialState"]
