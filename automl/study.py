"""Run a study: engine asks, a trial trains, MLflow records, the best model is kept and tested."""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl._keras import import_keras, resolve_precision
from automl.builders.metrics import score_model
from automl.builders.model import ModelSpec
from automl.builders.training import fit_values
from automl.config.loader import Pipeline
from automl.engines import get_engine
from automl.engines.base import Engine, EngineTrial, StudySettings, TrialRecord
from automl.plan import Plan, make_plan
from automl.progress import Progress
from automl.tracking.mlflow import Tracker
from automl.tracking.registry import register_file
from automl.trial.runner import (
    TrialRequest,
    TrialResult,
    freeze_imports,
    refit,
    release_memory,
    run_cv_trial,
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
    distill: Any = None  # automl.distill.DistillResult, when `automl run` distilled
    export: Any = None  # automl.export.ExportResult, when `automl run` exported


class _TrialReporter:
    """Feeds a running trial's epochs to the engine, MLflow and the progress view."""

    def __init__(self, trial: EngineTrial, tracker: Tracker, run_id: str, progress: Progress, epochs: int) -> None:
        self.trial, self.tracker, self.run_id = trial, tracker, run_id
        self.progress, self.epochs = progress, epochs

    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None:
        self.tracker.log(self.run_id, metrics=metrics, step=epoch)
        self.trial.report(epoch, value, metrics)
        self.progress.epoch_ended(self.trial.number, epoch, self.epochs, metrics)

    def should_prune(self) -> bool:
        return self.trial.should_prune()


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
    return _Study(plan, tracking_uri, progress or Progress()).run(new=new)


class _Study:
    def __init__(self, plan: Plan, tracking_uri: str | None, progress: Progress) -> None:
        self.plan, self.progress = plan, progress
        cfg = plan.pipeline.config
        self.cfg = cfg
        settings = StudySettings(name=plan.name, space=plan.space, sampler=cfg.study.sampler,
                                 pruner=cfg.study.pruner, direction=plan.direction, seed=cfg.seed,
                                 storage=plan.storage, epochs=cfg.train.epochs)
        self.engine: Engine = get_engine(cfg.study.engine)(settings)
        self.tracker = Tracker(plan.name, tracking_uri, artifact_root=plan.output_dir.parent / "artifacts")
        self.spec = ModelSpec.from_arrays(plan.data.x_train, plan.data.y_train, plan.data.task,
                                          plan.data.num_classes, embeddings=plan.data.embeddings,
                                          metrics=plan.epoch_metrics,
                                          precision=resolve_precision(cfg.train.precision))
        self.folds = plan.data.folds(cfg.study.cv_folds, cfg.seed) if cfg.study.cv_folds else []
        self.out = plan.output_dir
        self.best_path = self.out / "best.keras"

    def run(self, *, new: bool) -> TuneResult:
        plan, cfg = self.plan, self.cfg
        if new and self.out.exists():
            shutil.rmtree(self.out)
        self.engine.open(new=new)
        self.out.mkdir(parents=True, exist_ok=True)
        _seed_everything(cfg.seed)
        before = len(self.engine.trials())
        parent = self.tracker.start_run(f"{plan.name}-session-{before}", tags={
            "automl.study": plan.name, "automl.engine": cfg.study.engine, "automl.role": "study",
            "automl.trials_before": before})
        self._parent_id = parent
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
            self._loop()
        except KeyboardInterrupt:
            interrupted = True
        except BaseException:
            self.tracker.end(parent, "FAIL")
            self.progress.study_ended()
            raise
        self.progress.study_ended()
        return self._finish(parent, interrupted)

    def _loop(self) -> None:
        cfg = self.cfg
        start = time.monotonic()
        for _ in range(cfg.study.trials):
            if cfg.study.timeout is not None and time.monotonic() - start >= cfg.study.timeout:
                break
            trial = self.engine.ask()
            if trial is None:  # an exhausted grid
                break
            self._run_one(trial)

    def _run_one(self, trial: EngineTrial) -> None:
        plan, cfg = self.plan, self.cfg
        # Hyperband's budget (trial.epochs) stands in for train.epochs, so the logged `epochs` is what it trains
        values = fit_values(plan.space.sample(trial), trial.epochs or cfg.train.epochs, cfg.train.batch_size)
        block, hp = plan.space.decode(values)
        run_id = self.tracker.start_run(f"trial-{trial.number}", parent=self._parent_id, tags={
            "automl.study": plan.name, "automl.trial": trial.number, "automl.role": "trial",
            "automl.engine": cfg.study.engine, **trial.tags()})
        self.tracker.log(run_id, params=values)
        self.progress.trial_started(trial.number, values)
        epochs = trial.epochs or hp["epochs"]  # Hyperband gives each trial its budget
        request = TrialRequest(number=trial.number, block=block, hp=hp, spec=self.spec, metric=plan.metric,
                               direction=plan.direction, epochs=epochs,
                               batch_size=hp["batch_size"], seed=cfg.seed)
        reporter = _TrialReporter(trial, self.tracker, run_id, self.progress, epochs)
        started = time.monotonic()
        try:
            result = run_cv_trial(request, self.folds, reporter) if self.folds else \
                run_trial(request, plan.data, reporter)
        except KeyboardInterrupt:
            reason = "interrupted by the user (Ctrl-C)"
            self.engine.tell(trial, "FAIL", None, {"fail_reason": reason})
            self.tracker.log(run_id, tags={"automl.state": "FAIL", "automl.fail_reason": reason})
            self.tracker.end(run_id, "KILLED")
            self.progress.trial_ended(trial.number, "FAIL", None, self._best_value(), reason,
                                      time.monotonic() - started)
            raise
        self._record(trial, run_id, result, time.monotonic() - started)

    _parent_id: str = ""
    _registered: str | None = None

    def _record(self, trial: EngineTrial, run_id: str, result: TrialResult, seconds: float) -> None:
        plan = self.plan
        attrs: dict[str, Any] = {"n_params": result.n_params, "fit_seconds": round(result.fit_seconds, 3),
                                 "epochs_trained": len(result.history), "mlflow_run_id": run_id}
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
        if result.state == "COMPLETE" and best is not None and best.number == trial.number:
            result.model.save(self.best_path)
            (self.out / "best.json").write_text(json.dumps(
                {"trial": trial.number, "value": result.value, "metric": plan.metric, "params": best.params},
                indent=2, default=str))
            if plan.data.encoding:  # how raw CSV columns become the model's input tensor
                (self.out / "encoding.json").write_text(json.dumps(plan.data.encoding, indent=2, default=str))
        self.progress.trial_ended(trial.number, result.state, result.value, self._best_value(), result.reason,
                                  seconds)
        result.model = None
        release_memory()

    def _best_value(self) -> float | None:
        best = self.engine.best()
        return best.value if best else None

    def _refit(self, best: TrialRecord) -> None:
        """Retrain the best trial on train + validation for its best epoch count; it becomes best.keras."""
        info = json.loads((self.out / "best.json").read_text())
        if info.get("refit_of") == best.number:
            return  # this session found no new best: the refit model on disk is current
        data = self.plan.data
        x = np.concatenate([data.x_train, data.x_val])
        y = np.concatenate([data.y_train, data.y_val])
        block, hp = self.plan.space.decode(self.plan.space.replay(best.params))
        epochs = int(best.attrs.get("best_epoch", self.cfg.train.epochs - 1)) + 1
        request = TrialRequest(number=best.number, block=block, hp=hp,
                               spec=ModelSpec.from_arrays(x, y, data.task, data.num_classes,
                                                          embeddings=data.embeddings,
                                                          precision=self.spec.precision),
                               metric=self.plan.metric, direction=self.plan.direction, epochs=epochs,
                               batch_size=int(hp.get("batch_size") or self.cfg.train.batch_size), seed=self.cfg.seed)
        refit(request, x, y, data.class_names).save(self.best_path)
        (self.out / "best.json").write_text(json.dumps({**info, "refit_of": best.number, "refit_epochs": epochs},
                                                       indent=2, default=str))
        release_memory()

    def _finish(self, parent: str, interrupted: bool) -> TuneResult:
        plan = self.plan
        best = self.engine.best()
        test: dict[str, float] = {}
        model_path = None
        if best is not None and self.best_path.exists():
            import keras

            if self.cfg.train.refit:
                self._refit(best)
            model = keras.models.load_model(self.best_path)
            scores = score_model(model, plan.data.x_test, plan.data.y_test, plan.data.task, plan.data.num_classes)
            test = {f"test_{k}": v for k, v in scores.items()}
            model_path = str(self.best_path)
            self.tracker.log(parent, params={f"best.{k}": v for k, v in best.params.items()},
                             metrics={"best_value": float(best.value or 0.0), "best_trial": best.number, **test})
            self.tracker.log_artifact(parent, self.best_path, "model")
            if (self.out / "encoding.json").exists():
                self.tracker.log_artifact(parent, self.out / "encoding.json", "model")
            self._registered = register_file(
                self.tracker, plan.name, parent, f"model/{self.best_path.name}", self.best_path,
                tags={"trial": best.number, plan.metric: best.value, **test},
                description=f"Best model of the study {plan.name}")
            info = json.loads((self.out / "best.json").read_text())
            (self.out / "best.json").write_text(json.dumps({**info, **test}, indent=2, default=str))
            release_memory()
        trials = self.engine.trials()
        self.tracker.log(parent, metrics={
            "trials_total": len(trials), "trials_complete": sum(t.state == "COMPLETE" for t in trials),
            "trials_pruned": sum(t.state == "PRUNED" for t in trials),
            "trials_failed": sum(t.state == "FAIL" for t in trials)})
        self.tracker.end(parent, "KILLED" if interrupted else "COMPLETE")
        return TuneResult(
            study_name=plan.name, metric=plan.metric, direction=plan.direction,
            best_value=best.value if best else None, best_params=dict(best.params) if best else {},
            best_trial=best.number if best else None, model_path=model_path, parent_run_id=parent,
            test_metrics=test, trials=trials, interrupted=interrupted,
            study=getattr(self.engine, "study", None), registered_version=self._registered)
