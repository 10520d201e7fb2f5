"""A runner that plays scripted trials without Keras, for the loop's tests (like ``optuna.testing``'s fakes).

Give it to a study in place of :func:`~automl.study.loop.default_runners`; the loop, the engine, MLflow, the study
folder and the final stage are all real, only the training is a script:

>>> from pathlib import Path
>>> from automl.config import load_pipeline
>>> from automl.study.tune import tune
>>> from automl.testing import write_pipeline
>>> from automl.testing.runner import FakeRunner, Play
>>> fake = FakeRunner([Play(epochs=[0.5, 0.7]), Play(outcome="crash")])
>>> result = tune(load_pipeline(write_pipeline(Path("."), study={"trials": 2})),
...               runners=fake.factory)  # doctest: +SKIP
>>> [t.state for t in result.trials], result.best_value  # doctest: +SKIP
(['COMPLETE', 'FAIL'], 0.7)

What a :class:`Play` can be (``outcome``):

- ``complete``: its epochs reported one by one (the engine's pruner hears each, and a ``should_prune()`` stops
  the trial PRUNED as a real one would); COMPLETE with the best epoch's value.
- ``prune``: its epochs, then PRUNED (``pruned after epoch N``) whatever the pruner says.
- ``fail``: its epochs, then FAIL with ``reason`` (a NaN loss by default).
- ``crash``: the trial process dies after its epochs: FAIL with ``trial process killed by signal 9 (SIGKILL)``
  (or ``reason``), as :class:`~automl.trial.process.ProcessRunner` reports a :class:`TrialProcessDied`.
- ``timeout``: its epochs, then FAIL with ``exceeded trial_timeout T s``.
- ``raise``: an exception out of :meth:`FakeRunner.run` (the loop's "outside build and fit" path).
- ``die``: the study's own process dies at the end of its epochs (:class:`Died`, a BaseException nothing in
  automl catches): the trial and its run are left RUNNING, as a kill -9 leaves them.

And within any play: ``interrupt_at=k`` asks a stop (:func:`automl.signals.request`, as a Ctrl-C does) at the
end of epoch ``k``; ``save_dies=True`` makes :meth:`FakeRunner.keep` raise TrialProcessDied (the trial process
died while saving). The study's constraints are checked before the epochs, as a real trial does (PRUNED
``infeasible: ...``) on ``n_params`` and ``measured``.

:meth:`FakeRunner.keep` writes a small placeholder file (atomically, through the fault point it is given);
:meth:`FakeRunner.score` returns ``test`` for a placeholder and raises :class:`~automl.store.folder.ModelLoadError`
for anything else (a missing or damaged best model is then rebuilt, as with Keras).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl import faults, signals
from automl.states import TrialState
from automl.store.folder import ModelLoadError, atomic_path
from automl.trial.process import TrialProcessDied
from automl.trial.runner import Reporter, TrialRequest, TrialResult, tell_measured

#: the first bytes of a model file the fake wrote
MAGIC = b"automl fake model\n"
OUTCOMES = ("complete", "prune", "fail", "crash", "timeout", "raise", "die")


class Died(BaseException):  # noqa: N818 - it names what happens to the process, as KeyboardInterrupt does
    """The study's process dies here (a kill -9 at this point): nothing in automl catches it."""


@dataclass(frozen=True)
class Play:
    """One scripted trial: its epochs and how it ends (see the module's docstring)."""

    #: each epoch's value of the study's metric, or all its metrics (``{"val_accuracy": 0.8, "val_loss": 0.4}``)
    epochs: Sequence[float | Mapping[str, float]] = (0.5,)
    outcome: str = "complete"
    reason: str | None = None
    n_params: int = 100
    #: what a trial measures before training (``tflite_kib``, ...): reported, and read by objectives and constraints
    measured: Mapping[str, float] = field(default_factory=dict)
    #: the metrics computed once at the best epoch (``val_<m>`` of metrics not logged every epoch)
    final_metrics: Mapping[str, float] = field(default_factory=dict)
    interrupt_at: int | None = None  # a stop asked at the end of this epoch (0-based)
    save_dies: bool = False  # keep() of this trial's model raises TrialProcessDied (once: a rebuild saves)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"`outcome` must be one of {', '.join(OUTCOMES)}, but got {self.outcome!r}")


class FakeRunner:
    """A :class:`~automl.trial.base.TrialRunner` that plays :class:`Play` scripts and records what it was asked.

    ``plays``: a sequence (played in the order of :meth:`run` calls) or a mapping by trial number; ``default`` is
    played for any other trial. ``test``: the scores :meth:`score` returns. Hand it to a study as
    ``runners=fake.factory`` (one runner for every loop it is given to; picklable, for worker processes, where
    each worker plays its copy).
    """

    def __init__(self, plays: Sequence[Play] | Mapping[int, Play] = (), *, default: Play | None = None,
                 test: Mapping[str, float] | None = None) -> None:
        self.plays = plays
        self.default = default or Play()
        self.test = dict(test if test is not None else {"accuracy": 0.9, "loss": 0.3})
        self.model: str | None = None  # what keep() would save: "trial 3", "refit of trial 3"
        # what it was asked, in order
        self.ran: list[TrialRequest] = []
        self.kept: list[Path] = []
        self.refits: list[TrialRequest] = []
        self.scored: list[Path] = []
        self.flavors: list[str] = []
        self.started = self.closed = 0
        self._died_saving: set[int] = set()

    def factory(self, loop: Any) -> FakeRunner:
        """The :data:`~automl.study.loop.Runners` factory that hands this runner to every loop."""
        return self

    def _play(self, request: TrialRequest) -> Play:
        if isinstance(self.plays, Mapping):
            return self.plays.get(request.number, self.default)
        played = len(self.ran) - 1
        return self.plays[played] if played < len(self.plays) else self.default

    # -- the trials ----------------------------------------------------------------------------------------
    def start(self) -> None:
        self.started += 1

    def run(self, request: TrialRequest, reporter: Reporter) -> TrialResult:
        self.ran.append(request)
        play = self._play(request)
        self.model = None
        if play.outcome == "raise":
            raise RuntimeError(play.reason or "the fake runner was told to raise")
        result = TrialResult(state=TrialState.FAIL, n_params=play.n_params, measured=dict(play.measured),
                             final_metrics=dict(play.final_metrics))
        observed = result.observed()
        broken = [c.broken(observed[c.metric]) for c in request.constraints
                  if c.metric in observed and not c.holds(observed[c.metric])]
        if broken:  # as a real trial: known before training, not worth an epoch
            result.state, result.reason = TrialState.PRUNED, f"infeasible: {'; '.join(broken)}"
            return result
        tell_measured(reporter, {"params_count": float(play.n_params), **play.measured})
        pruned = self._epochs(play, request, reporter, result)
        result.fit_seconds = 0.001 * len(result.history)
        last = len(result.history) - 1
        if play.outcome == "die":
            raise Died(f"the study's process died after epoch {last} of trial {request.number}")
        if play.outcome == "crash":  # as ProcessRunner.run reports its trial process's death
            return TrialResult(state=TrialState.FAIL, reason=str(TrialProcessDied(
                play.reason or "trial process killed by signal 9 (SIGKILL)")), fit_seconds=result.fit_seconds)
        if play.outcome == "fail":
            result.reason = play.reason or f"loss became nan at epoch {last}"
            return result
        if play.outcome == "timeout":
            result.reason = play.reason or f"exceeded trial_timeout {request.timeout or 0:g} s"
            return result
        if result.value is None:
            result.reason = f"metric '{request.metric}' was never finite"
            return result
        self.model = f"trial {request.number}"
        result.state = TrialState.PRUNED if pruned or play.outcome == "prune" else TrialState.COMPLETE
        if result.state == TrialState.PRUNED:
            result.reason = play.reason or f"pruned after epoch {last}"
        return result

    @staticmethod
    def _epochs(play: Play, request: TrialRequest, reporter: Reporter, result: TrialResult) -> bool:
        """Report the play's epochs as a trial's callback does; whether the reporter asked to prune."""
        better = (lambda a, b: a > b) if request.direction == "maximize" else (lambda a, b: a < b)
        for epoch, entry in enumerate(play.epochs):
            metrics = {k: float(v) for k, v in entry.items()} if isinstance(entry, Mapping) \
                else {request.metric: float(entry)}
            result.history.append(metrics)
            value = metrics.get(request.metric, math.nan)
            if math.isfinite(value) and (result.value is None or better(value, result.value)):
                result.value, result.best_epoch = value, epoch
            reporter.report(epoch, value, metrics)
            faults.point("epoch_end")
            if play.interrupt_at == epoch:
                signals.request()  # as a Ctrl-C during this epoch
            signals.check()  # the trial's safe point
            if reporter.should_prune():
                return True
        return False

    # -- the models ----------------------------------------------------------------------------------------
    def keep(self, path: Path, fault: str | None = None, *, watch_signals: bool = True) -> None:
        if self.model is None:
            raise RuntimeError("the fake runner holds no model: keep() comes after run() or refit()")
        last = self.ran[-1] if self.ran and self.model.startswith("trial") else None
        if last is not None and self._play(last).save_dies and last.number not in self._died_saving:
            self._died_saving.add(last.number)  # once: the final stage's rebuild of that trial saves
            self.model = None
            raise TrialProcessDied("trial process killed by signal 9 (SIGKILL)")
        with atomic_path(path, fault) as tmp:
            tmp.write_bytes(MAGIC + f"{self.model}\n".encode())
        self.kept.append(path)
        self.model = None

    def discard(self) -> None:
        self.model = None

    def refit(self, request: TrialRequest) -> None:
        self.refits.append(request)
        self.model = f"refit of trial {request.number}"

    def score(self, path: Path) -> dict[str, float]:
        self.scored.append(path)
        try:
            ok = path.read_bytes().startswith(MAGIC)
        except OSError as exc:
            raise ModelLoadError(f"{path} cannot be loaded as a Keras model: {type(exc).__name__}") from None
        if not ok:
            raise ModelLoadError(f"{path} cannot be loaded as a Keras model: not a model the fake runner saved")
        return dict(self.test)

    def log_flavor(self, path: Path, uri: str, experiment_id: str, run_id: str, name: str,
                   metadata: dict[str, Any]) -> str:
        """Nothing is logged: the URI the model would have."""
        self.flavors.append(name)
        return f"runs:/{run_id}/{name}"

    def close(self) -> None:
        self.closed += 1
        self.model = None


__all__ = ["MAGIC", "Died", "FakeRunner", "Play"]
