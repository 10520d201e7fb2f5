"""One exception family for everything automl reports to users.

The CLI turns an :class:`AutomlError` into one line and exit code 2; any other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations


class AutomlError(Exception):
    """Base of every error automl reports to a user as one line."""


class ConfigError(AutomlError):
    """A pipeline or space file (or an override) does not hold what it must.

    The message reads ``FILE: key.path: what must hold, got VALUE``.
    """

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None) -> None:
        self.file = file
        self.path = path
        self.detail = message
        where = ": ".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


class DataError(ConfigError):
    """The data a pipeline points to cannot be loaded or does not fit the task."""


class StudyError(AutomlError):
    """A study cannot be created, resumed or read (changed space, missing study, ...)."""


class TrialError(AutomlError):
    """A trial failed for a reason worth recording (NaN loss, incompatible parameters, ...)."""


class ExportError(AutomlError):
    """A model cannot be exported (a layer without a TFLite builtin op, no model to export, ...)."""


class MeasureError(ExportError):
    """A TFLite file's latency could not be measured on the device: its command (``study.measure.command``,
    ``export.measure.command``) exited non-zero, timed out or printed no number."""


class TrialPruned(AutomlError):  # noqa: N818 - mirrors optuna.TrialPruned
    """Raised inside a trial when the engine decided to stop it early."""
