"""The study loop: ask the engine -> sample -> run the trial (with the runner it is given) -> record -> tell.

One :class:`Loop` serves the study's own process and each worker of ``study.workers``
(:mod:`automl.study.workers`); the session (:mod:`automl.study.tune`) adds the parent run around it, the
workers and the final stage. A worker uses the loop, never the session.

Where the trials train is not the loop's choice: it is given a factory of runners (:data:`Runners`, a
:class:`~automl.trial.base.TrialRunner` each). :func:`default_runners` reads ``train.isolation`` (inline, or a
trial process); the loop's tests give :class:`automl.testing.runner.FakeRunner`, which plays scripted trials.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from automl import faults, signals
from automl._text import first_line
from automl._types import Objectives
from automl.builders.model import ModelSpec
from automl.engines import get_engine
from automl.engines.base import FEASIBLE, Engine, EngineTrial, StudySettings
from automl.engines.pareto import front
from automl.liveness import OWNER
from automl.plan import Plan
from automl.progress import Progress
from automl.runtime import freeze_imports
from automl.states import TrialState
from automl.store.folder import StudyFolder, copy_file
from automl.study.objective import Objective, TuneObjective
from automl.study.terms import budget_attrs
from automl.tracking.mlflow import Tracker
from automl.trial.base import TrialRunner
from automl.trial.process import (
    ChildSetup,
    InlineRunner,
    ProcessRunner,
    TrialProcessDied,
    data_meta,
    drop_spare,
    write_splits,
)
from automl.trial.runner import TrialResult

#: how a loop gets its runner: called with the loop when its trials are about to start (and by a session's final
#: stage that has none, after workers), the runner not started yet
Runners = Callable[["Loop"], TrialRunner]


def default_runners(loop: Loop) -> TrialRunner:
    """``train.isolation``'s runner: :class:`InlineRunner` (with the cv folds) or a :class:`ProcessRunner` (the
    splits written once under the study folder for it to map)."""
    cfg, data = loop.cfg, loop.plan.data
    if cfg.train.isolation == "inline":
        return InlineRunner(data, data.folds(cfg.study.cv_folds, cfg.seed) if cfg.study.cv_folds else [])
    setup = ChildSetup(data_dir=str(write_splits(data, loop.folder.data_dir).resolve()), meta=data_meta(data),
                       cv_folds=cfg.study.cv_folds, seed=cfg.seed, threads=loop.threads)
    return ProcessRunner(setup, recycle_after=cfg.train.recycle_after, max_memory_mib=cfg.train.max_memory_mib,
                         trial_timeout=cfg.study.trial_timeout)


class EpochRelay:
    """Feeds a running trial's epochs to the engine, MLflow and the progress view.

    The engine hears of every epoch at once (its pruner needs it); MLflow gets the epochs in batches at
    most every ``FLUSH_SECONDS`` (and at the trial's end), since one SQLite transaction per short epoch
    was a measurable part of the overhead.
    """

    FLUSH_SECONDS = 1.0

    def __init__(self, trial: EngineTrial, tracker: Tracker, run_id: str, progress: Progress, epochs: int) -> None:
        self.trial, self.tracker, self.run_id = trial, tracker, run_id
        self.progress, self.epochs = progress, epochs
        self.pending: list[tuple[int, dict[str, float]]] = []
        self.flushed = time.monotonic()

    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None:
        self.pending.append((epoch, metrics))
        # a second Ctrl-C must not land inside a storage write (SQLAlchemy left mid-transaction on SQLite fails
        # the next commit with "database is locked"): the writes finish, the stop comes at the epoch's end
        with signals.deferred():
            if time.monotonic() - self.flushed >= self.FLUSH_SECONDS:
                self.flush()
            self.trial.report(epoch, value, metrics)
        self.progress.epoch_ended(self.trial.number, epoch, self.epochs, metrics)

    def flush(self) -> None:
        if self.pending:
            self.tracker.log_steps(self.run_id, self.pending)
            self.pending = []
        self.flushed = time.monotonic()

    def should_prune(self) -> bool:
        with signals.deferred():
            return self.trial.should_prune()

    def measured(self, values: dict[str, float]) -> None:
        self.trial.measured(values)


def reason(exc: BaseException) -> str:
    """An exception as a run's ``automl.fail_reason``: its type and first line."""
    return first_line(exc, 300, typed=True)


class Loop:
    """Trials of one study in one process: where they train, how each is recorded, which model is kept."""

    def __init__(self, plan: Plan, tracking_uri: str | None, progress: Progress, *, worker: int | None = None,
                 threads: int | None = None, objective: Objective | None = None,
                 runners: Runners | None = None) -> None:
        self.plan, self.progress = plan, progress
        self.runners: Runners = runners or default_runners  # where the trials train (automl.trial.base)
        self.threads = threads  # intra-op threads of this process's trials (a worker's share of the cores)
        self.worker = worker  # None: the study's own process; i: worker i of study.workers (automl.study.workers)
        self.tracking_uri = tracking_uri
        cfg = plan.pipeline.config
        self.cfg = cfg
        self.objective: Objective = objective or TuneObjective(plan)
        obj = self.objective
        settings = StudySettings(name=obj.name, space=obj.space, sampler=obj.sampler,
                                 pruner=cfg.study.pruner, direction=plan.direction, seed=cfg.seed,
                                 storage=plan.storage, epochs=obj.epochs, worker=worker or 0,
                                 heartbeat_interval=cfg.study.heartbeat_interval, grace_period=cfg.study.grace_period,
                                 objectives=obj.objectives if obj.objectives.multi else Objectives(),
                                 budget=obj.budget, **obj.engine_options)
        # the tracking store first: a tracking server that is not there stops the study before its storage is made
        self.tracker = Tracker(plan.name, tracking_uri, artifact_root=plan.output_dir.parent / "artifacts")
        self.engine: Engine = get_engine(cfg.study.engine)(settings)
        self.spec = ModelSpec.from_arrays(plan.data.x_train, plan.data.y_train, plan.data.task,
                                          plan.data.num_classes, embeddings=plan.data.embeddings,
                                          metrics=plan.epoch_metrics, precision=plan.precision)
        self.runner: TrialRunner | None = None
        self.folder: StudyFolder = plan.folder
        self.best_path = obj.best_path

    _parent_id: str = ""
    _registered: str | None = None
    #: a worker of another host: its candidate models go to MLflow (the trial's run, ``model/``), not a folder
    upload_candidates = False

    def heal(self) -> None:
        """Settle what processes that died left RUNNING: their trials FAIL, their MLflow runs FAILED."""
        trials = {t.number: t for t in self.engine.trials()}
        healed = dict(self.engine.healed)

        # after the engine's own healing: is any trial of the study still running?
        idle = not any(t.state == TrialState.RUNNING for t in trials.values())

        def orphan(tags: dict[str, str]) -> str | None:
            number = tags.get("automl.trial")
            if tags.get("automl.role") == "study" and "automl.shared" in tags:  # workers' run: `automl finish` ends it
                return None
            if tags.get("automl.role") == "study" and OWNER not in tags and idle:
                # an earlier release's session run (no owner tag) with no trial running: its process is gone
                return "its session ended without closing the run (a process of an earlier release died)"
            if tags.get("automl.role") != "trial" or number is None or int(number) not in trials:
                return None
            if int(number) in healed:  # failed now (another host's trial whose heartbeat stopped, say)
                return healed[int(number)]
            # a run of an earlier release (no owner tag) whose trial is no longer running cannot be running
            if OWNER not in tags and trials[int(number)].state != TrialState.RUNNING:
                return f"trial {number} is no longer running in the study (its process died)"
            return None

        for number, reason in self.engine.healed:
            self.progress.note(f"trial {number} was left RUNNING and is now FAIL: {reason}")
        for run_id, reason in self.tracker.fail_dead(orphan=orphan):
            self.progress.note(f"MLflow run {run_id} was left RUNNING and is now FAILED: {reason}")

    def _loop(self, trials: int, timeout: float | None) -> None:
        start = time.monotonic()
        budget = self.objective.budget
        ran = 0
        while ran < trials:
            signals.check()
            if timeout is not None and time.monotonic() - start >= timeout:
                break
            if budget is None:
                trial = self.engine.ask()
                if trial is None:  # an exhausted grid
                    break
            else:
                self._heal_dead()  # a dead process's trial FAILs and is retried before the budget is counted
                trial = self.engine.reserve(budget)
                if trial is None:
                    if not self.engine.count().running:  # the budget is met: every reserved trial has ended
                        break
                    # trials of other processes still run: one may die, and its retry is this one's to take
                    self._pause(self.POLL_SECONDS if self.cfg.study.heartbeat_interval is None
                                else min(self.POLL_SECONDS, self.cfg.study.heartbeat_interval))
                    continue
            self._run_one(trial)
            ran += 1
            faults.point("between_trials")

    #: how often a process whose budget is reserved looks again while other processes' trials run
    POLL_SECONDS = 5.0

    @staticmethod
    def _pause(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            signals.check()
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))

    def _heal_dead(self) -> None:
        """Trials whose process or host died (no heartbeat, or a dead pid of this host) FAIL, are retried, and
        their MLflow runs end FAILED with the reason."""
        self._fail_runs(self.engine.fail_dead())

    def _fail_runs(self, failed: list[tuple[int, str]]) -> None:
        """The MLflow runs of trials just failed because their process died end FAILED with the reason."""
        if not failed:
            return
        runs = {t.number: t.attrs.get("mlflow_run_id") for t in self.engine.trials()}
        for number, why in failed:
            self.progress.note(f"trial {number} was left RUNNING and is now FAIL ({why}); it is retried")
            run_id = runs.get(number)
            if run_id:
                self.tracker.fail_running(str(run_id), why)

    def _run_one(self, trial: EngineTrial) -> None:
        plan, obj = self.plan, self.objective
        values = obj.sample(trial)
        run_id = self.tracker.start_run(f"{obj.prefix}-{trial.number}", parent=self._parent_id, tags={
            "automl.study": plan.name, "automl.trial": trial.number, "automl.role": obj.role,
            "automl.engine": self.cfg.study.engine, **trial.tags(),
            **({"automl.worker": self.worker} if self.worker is not None else {})})
        # known while it runs, so whoever heals a trial left by a dead process can fail its run too
        budget = budget_attrs(obj.epochs, obj.batch_size)  # what the trial trains under (see automl.study.terms)
        self.engine.mark(trial, {"mlflow_run_id": run_id, "automl.session": self._parent_id, **budget,
                                 **({"worker": self.worker} if self.worker is not None else {})})
        self._session_trials.append(trial.number)
        self.progress.trial_started(trial.number, values)
        try:
            request, logged = obj.request(trial, values, self.spec)
        except Exception as exc:  # a configuration that cannot be set up (a student no width fits): this trial's
            self.tracker.log(run_id, params={**values, **budget})
            self._record(trial, run_id, TrialResult(state=TrialState.FAIL, reason=reason(exc)), 0.0)
            return
        self.tracker.log(run_id, params={**logged, **budget})
        epochs = request.epochs
        reporter = EpochRelay(trial, self.tracker, run_id, self.progress, epochs)
        started = time.monotonic()
        assert self.runner is not None
        try:
            faults.point("trial_start")
            result = self.runner.run(request, reporter)
            reporter.flush()
            if result.state == TrialState.PRUNED and trial.prune_reason:  # the engine's own words (pruner: dominated)
                result.reason = trial.prune_reason
        except Exception as exc:  # outside build and fit (which the runner records itself): still this trial's
            reporter.flush()
            result = TrialResult(state=TrialState.FAIL, reason=reason(exc))
        except KeyboardInterrupt:
            with signals.deferred():  # a second signal now must not leave the trial or its run open
                reporter.flush()
                why = signals.reason()
                self.engine.tell(trial, TrialState.FAIL, None, {"fail_reason": why, "automl.session": self._parent_id})
                self.tracker.fail(run_id, why, "KILLED")
                self.progress.trial_ended(trial.number, TrialState.FAIL, None, self._best_value(), why,
                                          time.monotonic() - started)
            raise
        self._record(trial, run_id, result, time.monotonic() - started)

    # -- a worker of study.workers (automl.study.workers) ----------------------------------------------------
    def work(self, parent: str, trials: int, timeout: float | None) -> None:
        """A worker's share: ``trials`` trials of the open study, logged under the ``parent`` run."""
        self._parent_id = parent
        self._session_trials: list[int] = []
        self.engine.open(new=False)
        self.folder.claim()
        freeze_imports()
        self._open_runner()
        try:
            self._loop(trials, timeout)
        finally:
            self._close_runner()

    # -- where trials train ---------------------------------------------------------------------------
    def _open_runner(self) -> None:
        """The runner of the trials, from the loop's factory, started now (a trial process imports Keras while
        the loop asks)."""
        self.runner = self.runners(self)
        self.runner.start()

    def _close_runner(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None
        drop_spare()

    def _outcome(self, result: TrialResult) -> tuple[float | list[float] | None, dict[str, float], dict[str, Any]]:
        """What the engine is told of a trial: its value (one per objective of ``study.objectives``), the
        violations of ``study.constraints`` and the attributes they add. A COMPLETE trial missing an objective's
        value becomes a FAIL."""
        obj = self.objective
        if not obj.objectives and not obj.constraints:
            return result.value, {}, {}
        observed = result.observed()
        attrs: dict[str, Any] = {k: round(v, 6) for k, v in result.measured.items()}
        violations: dict[str, float] = {}
        if obj.constraints and all(c.metric in observed for c in obj.constraints):
            violations = {str(c): c.violation(observed[c.metric]) for c in obj.constraints}
            attrs[FEASIBLE] = all(v <= 0 for v in violations.values())
        if not obj.objectives:
            return result.value, violations, attrs
        values = [observed.get(metric, float("nan")) for metric, _ in obj.objectives]
        if result.state == TrialState.COMPLETE:
            missing = [m for (m, _), v in zip(obj.objectives, values, strict=True) if not math.isfinite(v)]
            if missing:
                result.state, result.reason = TrialState.FAIL, f"objective {missing[0]} has no finite value"
                return None, violations, attrs
        if result.state != TrialState.COMPLETE:
            return None, violations, attrs
        return (values if len(values) > 1 else values[0]), violations, attrs

    def _record(self, trial: EngineTrial, run_id: str, result: TrialResult, seconds: float) -> None:
        plan = self.plan
        value, violations, outcome = self._outcome(result)
        attrs: dict[str, Any] = {"n_params": result.n_params, "fit_seconds": round(result.fit_seconds, 3),
                                 "epochs_trained": len(result.history), "mlflow_run_id": run_id,
                                 "automl.session": self._parent_id, **outcome,
                                 **budget_attrs(self.objective.epochs, self.objective.batch_size)}
        if self.worker is not None:
            attrs["worker"] = self.worker
        if result.best_epoch is not None:
            attrs["best_epoch"] = result.best_epoch
        if result.reason:
            attrs["fail_reason" if result.state == TrialState.FAIL else "reason"] = result.reason
        attrs.update(result.measure_tags)  # where tflite_latency_ms came from (automl.tflite.device)
        self.engine.tell(trial, result.state, value, attrs, violations)
        metrics = {"params_count": result.n_params, "fit_seconds": result.fit_seconds,
                   "epochs_trained": len(result.history), "trial_seconds": seconds, **result.measured}
        if result.value is not None:
            metrics[f"best_{plan.metric}"] = result.value
            metrics["best_epoch"] = result.best_epoch or 0
        metrics.update({f"fold{i}_{plan.metric}": v for i, v in enumerate(result.fold_values)})
        metrics.update(self.objective.metrics(result))
        tags: dict[str, Any] = {"automl.state": result.state, **result.measure_tags}
        if FEASIBLE in attrs:
            tags[FEASIBLE] = str(attrs[FEASIBLE]).lower()
        if result.reason:
            tags["automl.fail_reason" if result.state == TrialState.FAIL else "automl.reason"] = result.reason
        self.tracker.log(run_id, metrics=metrics, tags=tags)
        if result.final_metrics:  # the metrics not computed every epoch, at the best epoch
            self.tracker.log(run_id, metrics=result.final_metrics, step=result.best_epoch or 0)
        self.tracker.end(run_id, result.state)
        best = self.engine.best()
        assert self.runner is not None
        if self._on_front(trial.number, result.state):  # multi-objective: every Pareto member's model is kept
            try:
                self.runner.keep(self.folder.trial_model(trial.number))
                if self.worker is None and best is not None and best.number == trial.number:
                    copy_file(self.folder.trial_model(trial.number), self.best_path)
                    self.objective.kept(trial.number, float(best.value or 0.0), best.params)
            except TrialProcessDied as exc:
                self.progress.note(f"the model of trial {trial.number} was not saved: {exc}")
        elif result.state == TrialState.COMPLETE and best is not None and best.number == trial.number:
            try:
                if self.worker is None:
                    self.runner.keep(self.best_path, fault="save_best")
                    self.objective.kept(trial.number, float(best.value or 0.0), best.params)
                else:  # other workers may be saving theirs: the parent adopts the best one at the end
                    self.runner.keep(self.folder.candidate(trial.number))
                    if self.upload_candidates:  # `automl finish` on any host fetches it from there
                        self.tracker.log_artifact(run_id, self.folder.candidate(trial.number), "model")
                        self.folder.candidate(trial.number).unlink()
            except TrialProcessDied as exc:  # best.json still names the model on disk: the end rebuilds it
                self.progress.note(f"the model of trial {trial.number} was not saved: {exc}")
        else:
            self.runner.discard()
        self.progress.trial_ended(trial.number, result.state, result.value, self._best_value(), result.reason,
                                  seconds)

    def _on_front(self, number: int, state: TrialState) -> bool:
        """Whether trial ``number`` of a multi-objective study is on the Pareto front now."""
        if not self.objective.objectives.multi or state != TrialState.COMPLETE:
            return False
        return any(t.number == number for t in front(self.engine.trials(), self.objective.objectives.directions))

    def _best_value(self) -> float | None:
        best = self.engine.best()
        return best.value if best else None
