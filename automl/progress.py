"""What a study tells whoever watches it (the CLI's rich bars, a log, a notebook, a benchmark, nothing).

A study calls, in this order::

    study_started(name, total, done_before, metric, direction)
        trial_started(number, params)
            epoch_ended(number, epoch, epochs, metrics)      # once per epoch (0-based), while training
        trial_ended(number, state, value, best, reason, seconds)
        ...                                                  # once per trial
    study_ended()

and ``note(text)`` at any time, for something a person should know in one line (a trial left RUNNING by a
process that died and now failed, a damaged best model being rebuilt); ``warning(text)`` for something that
makes the results less trustworthy (a resumed study whose ``train.epochs`` changed).

``state`` is COMPLETE, PRUNED or FAIL; ``value`` is the trial's best epoch (None when it failed); ``best`` is
the study's best value so far, earlier sessions included. Observers must not raise: they watch, they do not
steer (the engine decides pruning).

>>> import automl
>>> from automl.progress import Events
>>> events = Events()
>>> result = automl.run("pipelines/quickstart.yaml", progress=events)  # doctest: +SKIP
>>> [e.kind for e in events.events][:3]  # doctest: +SKIP
['study_started', 'trial_started', 'epoch_ended']
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


class Progress:
    """No-op observer; subclass it and override what you need (the CLI draws bars, :class:`Events` records)."""

    def study_started(self, name: str, total: int, done_before: int, metric: str, direction: str) -> None:
        """A multi-objective study names every objective, joined by `` / `` in ``metric`` and ``direction``
        (the trials' values are the first objective's)."""

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        pass

    def epoch_ended(self, number: int, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        pass

    def trial_ended(self, number: int, state: str, value: float | None, best: float | None,
                    reason: str | None, seconds: float) -> None:
        pass

    def study_ended(self) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def warning(self, text: str) -> None:
        """Something that makes results less trustworthy (a resumed study whose budget changed)."""


@dataclass(frozen=True)
class Event:
    """One call an observer received: its name, its arguments and when (``time.monotonic()``)."""

    kind: str
    args: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class Events(Progress):
    """Records every call as an :class:`Event` (for notebooks, benchmarks and tests)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def _add(self, kind: str, **args: Any) -> None:
        self.events.append(Event(kind, args))

    def study_started(self, name: str, total: int, done_before: int, metric: str, direction: str) -> None:
        self._add("study_started", name=name, total=total, done_before=done_before, metric=metric,
                  direction=direction)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self._add("trial_started", number=number, params=dict(params))

    def epoch_ended(self, number: int, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        self._add("epoch_ended", number=number, epoch=epoch, epochs=epochs, metrics=dict(metrics))

    def trial_ended(self, number: int, state: str, value: float | None, best: float | None,
                    reason: str | None, seconds: float) -> None:
        self._add("trial_ended", number=number, state=state, value=value, best=best, reason=reason,
                  seconds=seconds)

    def study_ended(self) -> None:
        self._add("study_ended")

    def note(self, text: str) -> None:
        self._add("note", text=text)

    def warning(self, text: str) -> None:
        self._add("warning", text=text)

    def of(self, kind: str) -> list[Event]:
        """The recorded events of one kind, in order."""
        return [e for e in self.events if e.kind == kind]


class Fanout(Progress):
    """Passes every call on to several observers, in order (e.g. the CLI's bars and an :class:`Events`)."""

    def __init__(self, *observers: Progress) -> None:
        self.observers = observers

    def study_started(self, name: str, total: int, done_before: int, metric: str, direction: str) -> None:
        for o in self.observers:
            o.study_started(name, total, done_before, metric, direction)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        for o in self.observers:
            o.trial_started(number, params)

    def epoch_ended(self, number: int, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        for o in self.observers:
            o.epoch_ended(number, epoch, epochs, metrics)

    def trial_ended(self, number: int, state: str, value: float | None, best: float | None,
                    reason: str | None, seconds: float) -> None:
        for o in self.observers:
            o.trial_ended(number, state, value, best, reason, seconds)

    def study_ended(self) -> None:
        for o in self.observers:
            o.study_ended()

    def note(self, text: str) -> None:
        for o in self.observers:
            o.note(text)

    def warning(self, text: str) -> None:
        for o in self.observers:
            o.warning(text)


__all__ = ["Event", "Events", "Fanout", "Progress"]
