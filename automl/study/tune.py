"""Run a study: engine asks, a trial trains, MLflow records, the best model is kept and tested."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl import faults, signals
from automl._keras import import_keras, resolve_precision
from automl.builders.metrics import score_model
from automl.builders.model import ModelSpec
from automl.builders.training import fit_values
from automl.config.loader import Pipeline
from automl.engines import get_engine
from automl.engines.base import Engine, EngineTrial, StudySettings, TrialRecord
from automl.errors import StudyError
from automl.plan import Plan, make_plan
from automl.progress import Progress
from automl.study.folder import StudyFolder, load_model, write_json
from automl.tracking.mlflow import Tracker
from automl.tracking.registry import register_file
from automl.trial.process import (
    ChildSetup,
    InlineRunner,
    ProcessRunner,
    TrialProcessDied,
    data_meta,
    write_splits,
)
from automl.trial.runner import (
    TrialRequest,
    TrialResult,
    freeze_imports,
    refit,
    release_memory,
    run_trial,
)


@dataclass
class TuneResult:
    """What :func:`tune` returns."""

    study_name: str
    metric: str
    direction: str
    best_value: float | None
    best_params: dict[str, Any]
    best_trial: int | None
    model_path: str | None
    parent_run_id: str
    test_metrics: dict[str, float] = field(default_factory=dict)
    trials: list[TrialRecord] = field(default_factory=list)
    interrupted: bool = False
    study: Any = None  # the engine's own study object (optuna.Study for the optuna engine)
    registered_version: str | None = None  # of the MLflow registered model <name>
    session_trials: list[TrialRecord] = field(default_factory=list)  # the trials this session ran
    distill: Any = None  # automl.distill.DistillResult, when `automl run` distilled
    export: Any = None  # automl.export.ExportResult, when `automl run` exported


class _TrialReporter:
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
        return self.trial.should_prune()


def _reason(exc: BaseException) -> str:
    """An exception as a run's ``automl.fail_reason``: its type and first line."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__


def _seed_everything(seed: int | None) -> None:
    if seed is None:
        return
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def tune(pipeline: Pipeline, *, new: bool = False, tracking_uri: str | None = None, storage: str | None = None,
         progress: Progress | None = None) -> TuneResult:
    """Run (or resume) the study of ``pipeline`` and return its best trial and model.

    >>> from automl.config import load_pipeline
    >>> result = tune(load_pipeline("pipelines/quickstart.yaml", {"study.trials": 3}))  # doctest: +SKIP
    """
    import_keras()
    plan = make_plan(pipeline, storage=storage)
    with signals.handling():
        return _Study(plan, tracking_uri, progress or Progress()).run(new=new)


class _Study:
    def __init__(self, plan: Plan, tracking_uri: str | None, progress: Progress, *, worker: int | None = None,
                 threads: int | None = None) -> None:
        self.plan, self.progress = plan, progress
        self.threads = threads  # intra-op threads of this process's trials (a worker's share of the cores)
        self.worker = worker  # None: the study's own process; i: worker i of study.workers (automl.workers)
        self.tracking_uri = tracking_uri
        cfg = plan.pipeline.config
        self.cfg = cfg
        settings = StudySettings(name=plan.name, space=plan.space, sampler=cfg.study.sampler,
                                 pruner=cfg.study.pruner, direction=plan.direction, seed=cfg.seed,
                                 storage=plan.storage, epochs=cfg.train.epochs, worker=worker or 0)
        self.engine: Engine = get_engine(cfg.study.engine)(settings)
        self.tracker = Tracker(plan.name, tracking_uri, artifact_root=plan.output_dir.parent / "artifacts")
        self.spec = ModelSpec.from_arrays(plan.data.x_train, plan.data.y_train, plan.data.task,
                                          plan.data.num_classes, embeddings=plan.data.embeddings,
                                          metrics=plan.epoch_metrics,
                                          precision=resolve_precision(cfg.train.precision))
        self.runner: InlineRunner | ProcessRunner | None = None
        self.folder: StudyFolder = plan.folder
        self.best_path = self.folder.best_model

    def run(self, *, new: bool) -> TuneResult:
        plan, cfg = self.plan, self.cfg
        if new:
            self.folder.clear()
        self.engine.open(new=new)
        self.folder.claim()
        for note in plan.notes:
            self.progress.note(note)
        self._heal()
        _seed_everything(cfg.seed)
        before = len(self.engine.trials())
        parent = self.tracker.start_run(f"{plan.name}-session-{before}", tags={
            "automl.study": plan.name, "automl.engine": cfg.study.engine, "automl.role": "study",
            "automl.trials_before": before})
        self._parent_id = parent
        self._session_trials: list[int] = []
        self.tracker.log(parent, params={
            "engine": cfg.study.engine, "sampler": cfg.study.sampler, "pruner": cfg.study.pruner,
            "trials": cfg.study.trials, "metric": plan.metric, "direction": plan.direction,
            "epochs": cfg.train.epochs, "batch_size": cfg.train.batch_size, "refit": cfg.train.refit, "seed": cfg.seed,
            "data.source": cfg.data.source, "task": plan.data.task,
            "input_shape": list(plan.data.input_shape), "blocks": ",".join(plan.space.blocks)})
        self.tracker.log_text(parent, plan.pipeline.to_yaml(), "pipeline.yaml")
        self.tracker.log_text(parent, json.dumps(plan.data.summary(), indent=2, default=str), "data.json")
        self.progress.study_started(plan.name, cfg.study.trials, before, plan.metric, plan.direction)
        interrupted = False
        freeze_imports()
        try:
            if cfg.study.workers > 1:
                self._run_workers(parent)
            else:
                self._open_runner()
                self._loop(cfg.study.trials, cfg.study.timeout)
        except KeyboardInterrupt:
            interrupted = True
        except BaseException as exc:
            with signals.deferred():
                self._close_runner()
                self.tracker.fail(parent, _reason(exc))
                self.progress.study_ended()
            raise
        self._close_runner()
        self.progress.study_ended()
        try:
            return self._finish(parent, interrupted)
        except KeyboardInterrupt:
            with signals.deferred():
                self.tracker.fail(parent, f"{signals.reason()} during the final stage", "KILLED")
            raise
        except BaseException as exc:
            with signals.deferred():
                self.tracker.fail(parent, _reason(exc))
            raise

    def _heal(self) -> None:
        """Settle what processes that died left RUNNING: their trials FAIL, their MLflow runs FAILED."""
        running = {t.number for t in self.engine.trials() if t.state == "RUNNING"}

        def orphan(tags: dict[str, str]) -> str | None:
            # a run of an earlier release (no owner tag) whose trial is no longer running cannot be running
            number = tags.get("automl.trial")
            if tags.get("automl.role") == "trial" and number is not None and int(number) not in running:
                return f"trial {number} is no longer running in the study (its process died)"
            return None

        for number, reason in self.engine.healed:
            self.progress.note(f"trial {number} was left RUNNING and is now FAIL: {reason}")
        for run_id, reason in self.tracker.fail_dead(orphan=orphan):
            self.progress.note(f"MLflow run {run_id} was left RUNNING and is now FAILED: {reason}")

    def _loop(self, trials: int, timeout: float | None) -> None:
        start = time.monotonic()
        for _ in range(trials):
            signals.check()
            if timeout is not None and time.monotonic() - start >= timeout:
                break
            trial = self.engine.ask()
            if trial is None:  # an exhausted grid
                break
            self._run_one(trial)
            faults.point("between_trials")

    def _run_one(self, trial: EngineTrial) -> None:
        plan, cfg = self.plan, self.cfg
        # Hyperband's budget (trial.epochs) stands in for train.epochs, so the logged `epochs` is what it trains
        values = fit_values(plan.space.sample(trial), trial.epochs or cfg.train.epochs, cfg.train.batch_size)
        block, hp = plan.space.decode(values)
        run_id = self.tracker.start_run(f"trial-{trial.number}", parent=self._parent_id, tags={
            "automl.study": plan.name, "automl.trial": trial.number, "automl.role": "trial",
            "automl.engine": cfg.study.engine, **trial.tags(),
            **({"automl.worker": self.worker} if self.worker is not None else {})})
        # known while it runs, so whoever heals a trial left by a dead process can fail its run too
        self.engine.mark(trial, {"mlflow_run_id": run_id, "automl.session": self._parent_id})
        self._session_trials.append(trial.number)
        self.tracker.log(run_id, params=values)
        self.progress.trial_started(trial.number, values)
        epochs = trial.epochs or hp["epochs"]  # Hyperband gives each trial its budget
        request = TrialRequest(number=trial.number, block=block, hp=hp, spec=self.spec, metric=plan.metric,
                               direction=plan.direction, epochs=epochs,
                               batch_size=hp["batch_size"], seed=cfg.seed, timeout=cfg.study.trial_timeout)
        reporter = _TrialReporter(trial, self.tracker, run_id, self.progress, epochs)
        started = time.monotonic()
        assert self.runner is not None
        try:
            faults.point("trial_start")
            result = self.runner.run(request, reporter)
            reporter.flush()
        except Exception as exc:  # outside build and fit (which the runner records itself): still this trial's
            reporter.flush()
            result = TrialResult(state="FAIL", reason=_reason(exc))
        except KeyboardInterrupt:
            with signals.deferred():  # a second signal now must not leave the trial or its run open
                reporter.flush()
                reason = signals.reason()
                self.engine.tell(trial, "FAIL", None, {"fail_reason": reason, "automl.session": self._parent_id})
                self.tracker.fail(run_id, reason, "KILLED")
                self.progress.trial_ended(trial.number, "FAIL", None, self._best_value(), reason,
                                          time.monotonic() - started)
            raise
        self._record(trial, run_id, result, time.monotonic() - started)

    _parent_id: str = ""
    _registered: str | None = None

    # -- several workers (automl.workers) -------------------------------------------------------------
    def work(self, parent: str, trials: int, timeout: float | None) -> None:
        """A worker's share: ``trials`` trials of the open study, logged under the ``parent`` run."""
        self._parent_id = parent
        self._session_trials = []
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
        """Trials train inline or in a trial process (started now: it imports Keras while the loop asks)."""
        cfg, data = self.cfg, self.plan.data
        if cfg.train.isolation == "inline":
            self.runner = InlineRunner(data, data.folds(cfg.study.cv_folds, cfg.seed) if cfg.study.cv_folds else [])
            return
        setup = ChildSetup(data_dir=str(write_splits(data, self.folder.data_dir).resolve()), meta=data_meta(data),
                           cv_folds=cfg.study.cv_folds, seed=cfg.seed, threads=self.threads)
        self.runner = ProcessRunner(setup, recycle_after=cfg.train.recycle_after,
                                    max_memory_mib=cfg.train.max_memory_mib, trial_timeout=cfg.study.trial_timeout)
        self.runner.start()

    def _close_runner(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None

    def _run_workers(self, parent: str) -> None:
        import multiprocessing

        from automl.workers import WorkerJob, interrupt, shares, visible_gpus, worker_main

        cfg = self.cfg
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        gpus = visible_gpus()
        counts = [n for n in shares(cfg.study.trials, cfg.study.workers) if n]
        procs = [ctx.Process(target=worker_main, name=f"automl-worker-{i}", daemon=False, args=(WorkerJob(
            index=i, pipeline=self.plan.pipeline, storage=self.plan.storage, tracking_uri=self.tracking_uri,
            parent_run_id=parent, trials=n, timeout=cfg.study.timeout, gpu=gpus[i % len(gpus)] if gpus else None,
            threads=None if gpus else max(1, (os.cpu_count() or 1) // len(counts))),
            queue, os.getpid())) for i, n in enumerate(counts)]
        failures: list[str] = []
        for proc in procs:
            proc.start()
        try:
            self._relay(queue, procs, failures)
        except KeyboardInterrupt:
            with signals.deferred():
                interrupt(procs, signals.signal_number())
                for proc in procs:
                    proc.join(60)
                self._relay(queue, [], failures)
                self._fail_leftovers(signals.reason())
                self._adopt_candidate()
            raise
        crashed = [f"worker {i} exited with code {p.exitcode}" for i, p in enumerate(procs) if p.exitcode]
        if crashed or failures:
            self._fail_leftovers("; ".join(failures or crashed))
        self._adopt_candidate()
        if failures and not any(t.state == "COMPLETE" for t in self.engine.trials()):
            raise StudyError(f"every worker failed: {failures[0]}")

    def _relay(self, queue: Any, procs: list[Any], failures: list[str]) -> None:
        """Show the workers' events until every worker has ended (then what is left in the queue)."""
        import queue as queues

        while True:
            if procs:
                signals.check()
            try:
                kind, args = queue.get(timeout=0.2)
            except queues.Empty:
                if not any(p.is_alive() for p in procs):
                    return
                continue
            if kind == "worker_failed":
                failures.append(f"worker {args[0]}: {args[1]}")
            else:
                getattr(self.progress, kind)(*args)

    def _fail_leftovers(self, reason: str) -> None:
        """Trials and MLflow runs a dead worker left RUNNING are marked FAIL / FAILED."""
        for number, _ in self.engine.fail_dead(reason):
            self.progress.trial_ended(number, "FAIL", None, self._best_value(), reason, 0.0)
        self.tracker.fail_dead(reason)

    def _adopt_candidate(self) -> None:
        """The best trial's candidate model (if a worker of this session saved it) becomes best.keras."""
        best = self.engine.best()
        if best is not None and self.folder.candidate(best.number).exists():
            os.replace(self.folder.candidate(best.number), self.best_path)
            self._write_best_json(best.number, float(best.value or 0.0), best.params)
        shutil.rmtree(self.folder.candidates, ignore_errors=True)

    def _write_best_json(self, number: int, value: float, params: dict[str, Any], **extra: Any) -> None:
        plan = self.plan
        self.folder.write_best_info({"trial": number, "value": value, "metric": plan.metric, "params": params,
                                     **extra})
        if plan.data.encoding:  # how raw CSV columns become the model's input tensor
            write_json(self.folder.encoding, plan.data.encoding)

    def _record(self, trial: EngineTrial, run_id: str, result: TrialResult, seconds: float) -> None:
        plan = self.plan
        attrs: dict[str, Any] = {"n_params": result.n_params, "fit_seconds": round(result.fit_seconds, 3),
                                 "epochs_trained": len(result.history), "mlflow_run_id": run_id,
                                 "automl.session": self._parent_id}
        if self.worker is not None:
            attrs["worker"] = self.worker
        if result.best_epoch is not None:
            attrs["best_epoch"] = result.best_epoch
        if result.reason:
            attrs["fail_reason" if result.state == "FAIL" else "reason"] = result.reason
        self.engine.tell(trial, result.state, result.value, attrs)
        metrics = {"params_count": result.n_params, "fit_seconds": result.fit_seconds,
                   "epochs_trained": len(result.history), "trial_seconds": seconds}
        if result.value is not None:
            metrics[f"best_{plan.metric}"] = result.value
            metrics["best_epoch"] = result.best_epoch or 0
        metrics.update({f"fold{i}_{plan.metric}": v for i, v in enumerate(result.fold_values)})
        tags = {"automl.state": result.state}
        if result.reason:
            tags["automl.fail_reason" if result.state == "FAIL" else "automl.reason"] = result.reason
        self.tracker.log(run_id, metrics=metrics, tags=tags)
        if result.final_metrics:  # the metrics not computed every epoch, at the best epoch
            self.tracker.log(run_id, metrics=result.final_metrics, step=result.best_epoch or 0)
        self.tracker.end(run_id, result.state)
        best = self.engine.best()
        assert self.runner is not None
        if result.state == "COMPLETE" and best is not None and best.number == trial.number:
            try:
                if self.worker is None:
                    self.runner.keep(self.best_path, fault="save_best")
                    self._write_best_json(trial.number, float(result.value or 0.0), best.params)
                else:  # other workers may be saving theirs: the parent adopts the best one at the end
                    self.runner.keep(self.folder.candidate(trial.number))
            except TrialProcessDied as exc:  # best.json still names the model on disk: the end rebuilds it
                self.progress.note(f"the model of trial {trial.number} was not saved: {exc}")
        else:
            self.runner.discard()
        self.progress.trial_ended(trial.number, result.state, result.value, self._best_value(), result.reason,
                                  seconds)

    def _best_value(self) -> float | None:
        best = self.engine.best()
        return best.value if best else None

    def _request(self, best: TrialRecord, x: np.ndarray, y: np.ndarray, epochs: int) -> TrialRequest:
        """The best trial's configuration again, as a request to train on ``x``, ``y`` for ``epochs``."""
        data = self.plan.data
        block, hp = self.plan.space.decode(self.plan.space.replay(best.params))
        return TrialRequest(number=best.number, block=block, hp=hp,
                            spec=ModelSpec.from_arrays(x, y, data.task, data.num_classes, embeddings=data.embeddings,
                                                       metrics=self.spec.metrics, precision=self.spec.precision),
                            metric=self.plan.metric, direction=self.plan.direction, epochs=epochs,
                            batch_size=int(hp.get("batch_size") or self.cfg.train.batch_size), seed=self.cfg.seed)

    def _refit(self, best: TrialRecord) -> None:
        """Retrain the best trial on train + validation for its best epoch count; it becomes best.keras."""
        data = self.plan.data
        x = np.concatenate([data.x_train, data.x_val])
        y = np.concatenate([data.y_train, data.y_val])
        epochs = int(best.attrs.get("best_epoch", self.cfg.train.epochs - 1)) + 1
        self.folder.save_best(refit(self._request(best, x, y, epochs), x, y, data.class_names))
        self._write_best_json(best.number, float(best.value or 0.0), best.params, refit_of=best.number,
                              refit_epochs=epochs)
        release_memory()

    def _rebuild(self, best: TrialRecord) -> None:
        """Train the best trial's configuration again as its trial did (same seed, data and epochs, best epoch
        kept): what stands in for a best.keras that was lost or damaged."""
        data = self.plan.data
        request = self._request(best, data.x_train, data.y_train,
                                int(best.attrs.get("epochs_trained") or self.cfg.train.epochs))
        result = run_trial(request, data)
        if result.model is None:
            raise StudyError(f"cannot rebuild the best model from trial {best.number}: {result.reason}")
        self.folder.save_best(result.model)
        self._write_best_json(best.number, float(best.value or 0.0), best.params)
        release_memory()

    def _best_model(self, best: TrialRecord, *, rebuild: bool = True) -> Any:
        """best.keras as the study's best trial made it; a missing, damaged or stale file (a kill during its
        save, or between the trial's end and the save) is reported in one line and rebuilt."""
        info = self.folder.read_best_info() or {}
        if info.get("trial") != best.number:
            problem: str | None = (f"{self.folder.best_info} is missing or unreadable" if not info else
                                   f"{self.best_path} holds trial {info.get('trial')}, not the best trial "
                                   f"{best.number}")
        else:
            problem = self.folder.best_model_error()
        refit_due = self.cfg.train.refit and info.get("refit_of") != best.number
        if problem and not rebuild:  # interrupted: no training now
            self.progress.note(f"{problem}: it is rebuilt when the study runs again")
            return None
        if problem:
            self.progress.note(f"{problem}: rebuilding it from trial {best.number}'s parameters")
        if problem and not self.cfg.train.refit:
            self._rebuild(best)
        elif problem or refit_due:
            self._refit(best)
        return load_model(self.best_path)

    def _finish(self, parent: str, interrupted: bool) -> TuneResult:
        def boundary() -> None:  # a stop asked during the final stage ends it at the next step
            if not interrupted:
                signals.check()

        faults.point("final_stage")
        plan = self.plan
        best = self.engine.best()
        test: dict[str, float] = {}
        model_path = None
        # after a second Ctrl-C, no model work: close the runs and go
        model = None if best is None or signals.forced() else self._best_model(best, rebuild=not interrupted)
        boundary()
        if best is not None and model is not None:
            scores = score_model(model, plan.data.x_test, plan.data.y_test, plan.data.task, plan.data.num_classes)
            test = {f"test_{k}": v for k, v in scores.items()}
            boundary()
            model_path = str(self.best_path)
            self.tracker.log(parent, params={f"best.{k}": v for k, v in best.params.items()},
                             metrics={"best_value": float(best.value or 0.0), "best_trial": best.number, **test})
            self.tracker.log_artifact(parent, self.best_path, "model")
            if self.folder.encoding.exists():
                self.tracker.log_artifact(parent, self.folder.encoding, "model")
            self._registered = register_file(
                self.tracker, plan.name, parent, f"model/{self.best_path.name}", self.best_path,
                tags={"trial": best.number, plan.metric: best.value, **test},
                description=f"Best model of the study {plan.name}")
            self.folder.write_best_info({**(self.folder.read_best_info() or {}), **test})
            release_memory()
        trials = self.engine.trials()
        self.tracker.log(parent, metrics={
            "trials_total": len(trials), "trials_complete": sum(t.state == "COMPLETE" for t in trials),
            "trials_pruned": sum(t.state == "PRUNED" for t in trials),
            "trials_failed": sum(t.state == "FAIL" for t in trials)})
        boundary()
        if interrupted:
            self.tracker.fail(parent, signals.reason(), "KILLED")
        else:
            self.tracker.end(parent, "COMPLETE")
        return TuneResult(
            study_name=plan.name, metric=plan.metric, direction=plan.direction,
            best_value=best.value if best else None, best_params=dict(best.params) if best else {},
            best_trial=best.number if best else None, model_path=model_path, parent_run_id=parent,
            test_metrics=test, trials=trials, interrupted=interrupted,
            study=getattr(self.engine, "study", None), registered_version=self._registered,
            session_trials=[t for t in trials if t.number in set(self._session_trials)])
