"""A session of a study: the MLflow parent run around the loop (:mod:`automl.study.loop`) or its workers, then
the final stage (the best model checked or rebuilt, refit, tested, logged and registered)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl import faults, signals
from automl.builders.metrics import score_model
from automl.builders.model import ModelSpec
from automl.config.loader import Pipeline
from automl.engines.base import TrialRecord
from automl.errors import StudyError
from automl.plan import Plan, make_plan
from automl.progress import Progress
from automl.runtime import freeze_imports, import_keras, release_memory
from automl.study.folder import load_model, write_json
from automl.study.loop import reason
from automl.study.pareto import describe, front, plot
from automl.study.session import Session
from automl.tracking.registry import log_flavor, register_file
from automl.trial.process import drop_spare, prestart
from automl.trial.runner import TrialRequest, refit, run_trial


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
    plan: Any = field(default=None, repr=False)  # the automl.plan.Plan it ran (handed on to distill and export)
    objectives: list[tuple[str, str]] = field(default_factory=list)  # study.objectives: (metric, direction)
    pareto: list[dict[str, Any]] = field(default_factory=list)  # multi-objective: the front (pareto.json)
    finished_before: bool = False  # `automl finish` found the study ended by an earlier finish (its result)


def _seed_everything(seed: int | None) -> None:
    if seed is None:
        return
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def tune(pipeline: Pipeline, *, new: bool = False, tracking_uri: str | None = None, storage: str | None = None,
         progress: Progress | None = None, plan: Plan | None = None) -> TuneResult:
    """Run (or resume) the study of ``pipeline`` and return its best trial and model.

    >>> from automl.config import load_pipeline
    >>> result = tune(load_pipeline("pipelines/quickstart.yaml", {"study.trials": 3}))  # doctest: +SKIP
    """
    cfg = pipeline.config
    if cfg.train.isolation == "process" and cfg.study.workers == 1:
        prestart()  # its Keras import overlaps this process's own (and the plan's data loading)
    import_keras()
    try:
        plan = plan or make_plan(pipeline, storage=storage)
        with signals.handling():
            return _Study(plan, tracking_uri, progress or Progress()).run(new=new)
    finally:
        drop_spare()  # a trial process started ahead that the study did not take (it stopped before)


class _Study(Session):
    """A session of the study: its MLflow parent run around the loop (or the workers), then the final stage."""

    def run(self, *, new: bool) -> TuneResult:
        plan, cfg = self.plan, self.cfg
        if new:
            self.folder.clear()
        self.engine.open(new=new)
        self.folder.claim()
        for note in plan.notes:
            self.progress.note(note)
        self.heal()
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
            "input_shape": list(plan.data.input_shape), "blocks": ",".join(plan.space.blocks),
            **({"objectives": ", ".join(f"{m}:{d}" for m, d in plan.objectives)} if plan.objectives else {}),
            **({"constraints": ", ".join(map(str, plan.constraints))} if plan.constraints else {}),
            **({"measure.format": cfg.study.measure.format, "measure.threads": cfg.study.measure.threads}
               if cfg.study.measured else {})})
        self.tracker.log_text(parent, plan.pipeline.to_yaml(), "pipeline.yaml")
        self.tracker.log_text(parent, json.dumps(plan.data.summary(), indent=2, default=str), "data.json")
        self.progress.study_started(plan.name, cfg.study.trials, before, plan.metric, plan.direction)
        interrupted = False
        freeze_imports()
        try:
            self._trials(parent, cfg.study.trials, cfg.study.timeout)
        except KeyboardInterrupt:
            interrupted = True
        except BaseException as exc:
            with signals.deferred():
                self._close_runner()
                self.tracker.fail(parent, reason(exc))
                self.progress.study_ended()
            raise
        self._close_runner()
        self.progress.study_ended()
        return self._final_stage(parent, lambda: self._finish(parent, interrupted))

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
        self.objective.kept(best.number, float(best.value or 0.0), best.params, refit_of=best.number,
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
        self.objective.kept(best.number, float(best.value or 0.0), best.params)
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
            for described in (self.folder.encoding, self.folder.target):
                if described.exists():
                    self.tracker.log_artifact(parent, described, "model")
            # also an MLflow Keras model (tag automl.best_model); None, with a note, when MLflow refuses it
            logged = log_flavor(self.tracker, self.progress, self.folder, parent, model, "best_model")
            self._registered = register_file(
                self.tracker, plan.name, parent, f"model/{self.best_path.name}", self.best_path,
                tags={"trial": best.number, plan.metric: best.value, **test},
                description=f"Best model of the study {plan.name}")
            self.folder.write_best_info({**(self.folder.read_best_info() or {}), **test,
                                         **({"mlflow_model": logged} if logged else {})})
            release_memory()
        trials = self.engine.trials()
        pareto = self._settle_front(parent, trials) if plan.multi_objective else []
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
            session_trials=[t for t in trials if t.number in set(self._session_trials)], plan=plan,
            objectives=list(plan.objectives), pareto=pareto)

    def _settle_front(self, parent: str, trials: list[TrialRecord]) -> list[dict[str, Any]]:
        """The Pareto front after this session: ``pareto.json`` and its plot on the parent run and in the study
        folder, the tag ``automl.pareto`` set again on every trial's run, the models of dominated trials
        deleted."""
        plan = self.plan
        members = front(trials, plan.directions)
        numbers = {t.number for t in members}
        pareto = describe(members, plan.objectives)
        write_json(self.folder.pareto, pareto)
        self.tracker.log_artifact(parent, self.folder.pareto)
        image = plot(trials, members, plan.objectives)
        if image is not None:
            self.tracker.log_image(parent, image, "pareto.png")
        for t in trials:
            run_id = t.attrs.get("mlflow_run_id")
            if run_id and t.state in ("COMPLETE", "PRUNED"):
                self.tracker.log(str(run_id), tags={"automl.pareto": str(t.number in numbers).lower()})
        if self.folder.trials_dir.is_dir():
            for model in self.folder.trials_dir.glob("*.keras"):
                if model.stem.isdigit() and int(model.stem) not in numbers:
                    model.unlink()
        return pareto
