"""A session of a study: the MLflow parent run around the loop (:mod:`automl.study.loop`) or its workers, then
the final stage (the best model checked or rebuilt, refit, tested, logged and registered)."""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl import faults, signals
from automl.builders.model import ModelSpec
from automl.config.loader import Pipeline
from automl.engines.base import TrialRecord
from automl.engines.pareto import front
from automl.errors import StudyError
from automl.plan import Plan, make_plan
from automl.progress import Progress
from automl.runtime import freeze_imports, import_keras
from automl.states import TrialState
from automl.store.access import scrub
from automl.store.folder import ModelLoadError, read_json, write_json
from automl.study.loop import Runners, default_runners, reason
from automl.study.pareto import describe, plot
from automl.study.session import Session
from automl.study.terms import check_resume, study_terms
from automl.tracking.registry import log_flavor, register_file
from automl.trial.base import TrialRunner
from automl.trial.process import InlineRunner, drop_spare, prestart
from automl.trial.runner import NullReporter, TrialRequest


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

    @property
    def latency_note(self) -> str | None:
        """One sentence when the study optimizes or constrains ``tflite_latency_ms`` and its measurements are
        partly noise (models too fast to rank, timings that vary), with what to do; else None."""
        from automl.tflite.measure import latency_trust

        plan = self.plan
        uses = [m for m, _ in self.objectives] + [c.metric for c in (plan.constraints if plan is not None else ())]
        if "tflite_latency_ms" not in uses:
            return None
        return latency_trust([t.attrs for t in self.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)])


def _seed_everything(seed: int | None) -> None:
    """Seed this process's generators (every trial seeds its own from the study's seed and its number); Keras
    only where it is imported already: with trials in trial processes the study's own process never needs it."""
    if seed is None:
        return
    random.seed(seed)
    np.random.seed(seed)
    if "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)


def tune(pipeline: Pipeline, *, new: bool = False, tracking_uri: str | None = None, storage: str | None = None,
         progress: Progress | None = None, plan: Plan | None = None, continue_space: bool = False,
         runners: Runners | None = None) -> TuneResult:
    """Run (or resume) the study of ``pipeline`` and return its best trial and model.

    ``runners``: where the trials train (:data:`~automl.study.loop.Runners`); by default ``train.isolation``
    decides. Tests give a :class:`automl.testing.runner.FakeRunner`, and Keras is then never imported here.

    >>> from automl.config import load_pipeline
    >>> result = tune(load_pipeline("pipelines/quickstart.yaml", {"study.trials": 3}))  # doctest: +SKIP
    """
    cfg = pipeline.config
    if runners is None:  # given runners know where their models live
        if cfg.train.isolation == "process" and cfg.study.workers == 1:
            prestart()  # its Keras import overlaps this process's own (and the plan's data loading)
        else:
            import_keras()
    try:
        plan = plan or make_plan(pipeline, storage=storage)
        with signals.handling():
            study = _Study(plan, tracking_uri, progress or Progress(), runners=runners)
            return study.run(new=new, continue_space=continue_space)
    finally:
        drop_spare()  # a trial process started ahead that the study did not take (it stopped before)


class _Study(Session):
    """A session of the study: its MLflow parent run around the loop (or the workers), then the final stage."""

    def run(self, *, new: bool, continue_space: bool = False) -> TuneResult:
        plan, cfg = self.plan, self.cfg
        if new:
            self.folder.clear()
        self.engine.open(new=new, continue_space=continue_space)
        self.folder.claim()
        self._check_terms()
        changes = self.engine.space_changes
        if changes:
            self._record_space_change(changes)
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
            "epochs": plan.epochs, "batch_size": cfg.train.batch_size, "refit": cfg.train.refit, "seed": cfg.seed,
            "data.source": cfg.data.source, "task": plan.data.task,
            "input_shape": list(plan.data.input_shape), "blocks": ",".join(plan.space.blocks),
            **({"objectives": ", ".join(f"{m}:{d}" for m, d in plan.objectives)} if plan.objectives else {}),
            **({"constraints": ", ".join(map(str, plan.constraints))} if plan.constraints else {}),
            **({"measure.format": cfg.study.measure.format, "measure.threads": cfg.study.measure.threads}
               if cfg.study.measured else {}),
            **({"measure.command": scrub(cfg.study.measure.command)}
               if cfg.study.measured and cfg.study.measure.command else {})})
        if plan.space.builders:  # the user's model: which file (and which version of it) the trials built
            self._record_builders(parent)
        self.tracker.log(parent, params={"space_fingerprint": plan.space.fingerprint()},
                         tags={"automl.space_changes": "; ".join(changes)} if changes else None)
        self.tracker.log_text(parent, plan.pipeline.to_yaml(), "pipeline.yaml")
        self.tracker.log_text(parent, json.dumps(plan.data.summary(), indent=2, default=str), "data.json")
        self.progress.study_started(plan.name, cfg.study.trials, before, *plan.headline)
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
        self.progress.study_ended()
        try:  # the runner stays for the final stage: its trial process scores (and refits) the best model
            return self._final_stage(parent, lambda: self._finish(parent, interrupted))
        finally:
            with signals.deferred():
                self._close_runner()

    def _record_space_change(self, changes: list[str]) -> None:
        """A study goes on under a changed space (``--continue``): said once, and kept in ``terms.json``'s
        ``spaces`` (which trials ran under which space) as in the Optuna study's ``automl.spaces``."""
        first = len(self.engine.trials())
        self.progress.note(f"study '{self.plan.name}' goes on under a changed search space from trial {first} on: "
                           + "; ".join(changes))
        terms = read_json(self.folder.terms) or study_terms(self.cfg)
        spaces = terms.get("spaces") or []
        terms["spaces"] = [*spaces, {"from_trial": first, "fingerprint": self.plan.space.fingerprint(),
                                     "changes": changes}]
        write_json(self.folder.terms, terms)

    def _check_terms(self) -> None:
        """A resumed study must keep its split, seed and cv folds (else a one-line error); a changed budget is
        one warning line. A new study (or one of an earlier release) records the terms it runs with."""
        plan = self.plan
        now = study_terms(self.cfg)
        earlier = [t for t in self.engine.trials() if t.state != TrialState.WAITING]  # enqueued ones have not run
        stored = read_json(self.folder.terms)
        if earlier and stored is not None:
            warning = check_resume(stored, now, earlier, name=plan.name, file=str(plan.pipeline.file))
            if warning:
                self.progress.warning(warning)
        if not earlier or stored is None:
            write_json(self.folder.terms, now)

    def _record_builders(self, parent: str) -> None:
        """builder.json in the study folder (loading the study's models imports the builders it names) and the
        builders' paths and SHA-256 on the session's MLflow run (params ``builder``, ``builder.path``,
        ``builder.sha256``; tag ``automl.builder_sha256``)."""
        records = self.plan.space.builder_records()
        write_json(self.folder.builder_info, {"study": self.plan.name, "builders": records})

        def joined(key: str) -> str:
            return ", ".join(str(r[key]) for r in records)

        self.tracker.log(parent, params={"builder": joined("block"), "builder.path": joined("path"),
                                         "builder.sha256": joined("sha256")},
                         tags={"automl.builder": joined("block"), "automl.builder_sha256": joined("sha256")})

    def _request(self, best: TrialRecord, x: Any, y: np.ndarray, epochs: int) -> TrialRequest:
        """The best trial's configuration again, as a request to train on ``x`` (an array or lazy
        :class:`~automl.data.rows.Rows`), ``y`` for ``epochs``."""
        data = self.plan.data
        block, hp = self.plan.space.decode(self.plan.space.replay(best.params))
        return TrialRequest(number=best.number, block=block, hp=hp,
                            spec=ModelSpec.from_arrays(x, y, data.task, data.num_classes, embeddings=data.embeddings,
                                                       metrics=self.spec.metrics, precision=self.spec.precision),
                            metric=self.plan.metric, direction=self.plan.direction, epochs=epochs,
                            batch_size=int(hp.get("batch_size") or self.cfg.train.batch_size), seed=self.cfg.seed)

    def _final_runner(self) -> TrialRunner:
        """Where the final stage's model work runs: the trials' runner (a trial process stays the place where
        Keras lives, so the study's own process never imports it), or after workers this process (by default)
        or a runner of the loop's given factory."""
        if self.runner is None:
            self.runner = InlineRunner(self.plan.data, []) if self.runners is default_runners else self.runners(self)
            self.runner.start()
        return self.runner

    def _refit(self, best: TrialRecord) -> None:
        """Retrain the best trial on train + validation for its best epoch count; it becomes best.keras."""
        from automl.data.rows import concat

        data = self.plan.data
        x = concat([data.x_train, data.x_val])  # lazy for a source read from files: only the spec reads it
        y = np.concatenate([data.y_train, data.y_val])
        epochs = int(best.attrs.get("best_epoch", self.plan.epochs - 1)) + 1
        runner = self._final_runner()
        runner.refit(self._request(best, x, y, epochs))
        runner.keep(self.best_path, fault="save_best", watch_signals=False)
        runner.discard()
        self.objective.kept(best.number, float(best.value or 0.0), best.params, refit_of=best.number,
                              refit_epochs=epochs)

    def _rebuild(self, best: TrialRecord) -> None:
        """Train the best trial's configuration again as its trial did (same seed, data and epochs, best epoch
        kept): what stands in for a best.keras that was lost or damaged."""
        data = self.plan.data
        request = self._request(best, data.x_train, data.y_train,
                                int(best.attrs.get("epochs_trained") or self.plan.epochs))
        runner = self._final_runner()
        result = runner.run(request, NullReporter())
        if result.state != TrialState.COMPLETE:
            runner.discard()
            raise StudyError(f"cannot rebuild the best model from trial {best.number}: {result.reason}")
        runner.keep(self.best_path, fault="save_best", watch_signals=False)
        runner.discard()
        self.objective.kept(best.number, float(best.value or 0.0), best.params)

    def _test_scores(self, best: TrialRecord, *, rebuild: bool = True) -> dict[str, float] | None:
        """The test split's scores of best.keras as the study's best trial made it; a missing, damaged or stale
        file (a kill during its save, or between the trial's end and the save) is reported in one line and
        rebuilt (refit when ``train.refit``). None when it is not there and ``rebuild`` is off (interrupted)."""
        runner = self._final_runner()
        info = self.folder.read_best_info() or {}
        problem: str | None = None
        if info.get("trial") != best.number:
            problem = (f"{self.folder.best_info} is missing or unreadable" if not info else
                       f"{self.best_path} holds trial {info.get('trial')}, not the best trial {best.number}")
        elif not self.best_path.exists():
            problem = f"{self.best_path} is missing"
        refit_due = self.cfg.train.refit and info.get("refit_of") != best.number
        if problem is None and not refit_due:
            try:
                return runner.score(self.best_path)
            except ModelLoadError as exc:
                problem = str(exc)
        if problem and not rebuild:  # interrupted: no training now
            self.progress.note(f"{problem}: it is rebuilt when the study runs again")
            return None
        if problem:
            self.progress.note(f"{problem}: rebuilding it from trial {best.number}'s parameters")
        if problem and not self.cfg.train.refit:
            self._rebuild(best)
        else:
            self._refit(best)
        return runner.score(self.best_path)

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
        scores = None if best is None or signals.forced() else self._test_scores(best, rebuild=not interrupted)
        boundary()
        if best is not None and scores is not None:
            test = {f"test_{k}": v for k, v in scores.items()}
            model_path = str(self.best_path)
            self.tracker.log(parent, params={f"best.{k}": v for k, v in best.params.items()},
                             metrics={"best_value": float(best.value or 0.0), "best_trial": best.number, **test})
            self.tracker.log_artifact(parent, self.best_path, "model")
            for described in (self.folder.encoding, self.folder.target):
                if described.exists():
                    self.tracker.log_artifact(parent, described, "model")
            # also an MLflow Keras model (tag automl.best_model); None, with a note, when MLflow refuses it
            # (logged where Keras is: the trial process, or this process without one)
            runner, tracker = self._final_runner(), self.tracker
            logged = log_flavor(tracker, self.progress, self.folder, parent, "best_model", lambda metadata: (
                runner.log_flavor(self.best_path, tracker.uri, tracker.experiment_id, parent, "best_model", metadata)))
            self._registered = register_file(
                self.tracker, plan.name, parent, f"model/{self.best_path.name}", self.best_path,
                tags={"trial": best.number, plan.metric: best.value, **test},
                description=f"Best model of the study {plan.name}")
            self.folder.write_best_info({**(self.folder.read_best_info() or {}), **test,
                                         **({"mlflow_model": logged} if logged else {})})
        trials = self.engine.trials()
        pareto = self._settle_front(parent, trials) if plan.multi_objective else []
        self.tracker.log(parent, metrics={
            "trials_total": len(trials), "trials_complete": sum(t.state == TrialState.COMPLETE for t in trials),
            "trials_pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "trials_failed": sum(t.state == TrialState.FAIL for t in trials)})
        boundary()
        if interrupted:
            self.tracker.fail(parent, signals.reason(), "KILLED")
        else:
            self.tracker.end(parent, TrialState.COMPLETE)
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
            if run_id and t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                self.tracker.log(str(run_id), tags={"automl.pareto": str(t.number in numbers).lower()})
        if self.folder.trials_dir.is_dir():
            for model in self.folder.trials_dir.glob("*.keras"):
                if model.stem.isdigit() and int(model.stem) not in numbers:
                    model.unlink()
        return pareto
