"""One trial, in-process (a child-process runner can wrap :func:`run_trial` unchanged); the runners' seam."""

from automl.trial.base import TrialRunner
from automl.trial.runner import NullReporter, Reporter, TrialRequest, TrialResult, release_memory, run_trial

__all__ = ["NullReporter", "Reporter", "TrialRequest", "TrialResult", "TrialRunner", "release_memory", "run_trial"]
