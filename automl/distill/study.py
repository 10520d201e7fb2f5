"""The student study: distill the study's best model into smaller students, and measure the gain.

Every run (1) searches alpha, temperature, learning rate and student size with the pipeline's engine
(a fresh study ``<name>-student``, its own MLflow parent run), (2) keeps the best student at
``mlruns/<name>/student.keras``, (3) trains the same student from scratch with the same budget, and (4)
logs both on the test split as ``student_distilled_<metric>`` and ``student_scratch_<metric>``, so the
gain of distillation is a measured number, not a claim.
"""

from __future__ import annotations

import gc
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from automl import signals
from automl._keras import import_keras
from automl.builders.metrics import base_metric, keras_metrics, score_model
from automl.builders.model import ModelSpec, build_model
from automl.config.loader import Pipeline, load_space, read_yaml
from automl.config.models import DistillConfig
from automl.distill.student import DISTILL_PARAMS, fit_to_budget, replay
from automl.engines import get_engine
from automl.engines.base import Engine, EngineTrial, StudySettings, TrialRecord
from automl.errors import ConfigError, StudyError
from automl.plan import Plan, make_plan
from automl.progress import Progress
from automl.space.params import FixedParam, Param
from automl.space.space import BLOCK, Space, resolve_space
from automl.study.folder import save_model, write_json
from automl.tracking.mlflow import Tracker
from automl.tracking.registry import register_file


@dataclass
class DistillResult:
    """What :func:`distill` returns; test-split scores are keyed by metric (``accuracy``, ``loss``)."""

    study_name: str
    metric: str  # the compared test metric, e.g. accuracy
    direction: str
    teacher_path: str
    student_path: str | None
    scratch_path: str | None
    teacher_params: int
    student_params: int
    teacher_test: dict[str, float]
    distilled_test: dict[str, float]
    scratch_test: dict[str, float]
    best_params: dict[str, Any]
    best_value: float | None
    parent_run_id: str
    trials: list[TrialRecord] = field(default_factory=list)
    registered_version: str | None = None

    @property
    def gain(self) -> float | None:
        """How much better the distilled student scored than the one from scratch (> 0: better)."""
        d, s = self.distilled_test.get(self.metric), self.scratch_test.get(self.metric)
        if d is None or s is None:
            return None
        return d - s if self.direction == "maximize" else s - d

    @property
    def verdict(self) -> str:
        d, s = self.distilled_test.get(self.metric), self.scratch_test.get(self.metric)
        if self.gain is None:
            return "no student completed: nothing to compare"
        if self.gain > 0:
            return (f"distillation helped: test {self.metric} {d:.4f} distilled vs {s:.4f} from scratch "
                    f"({self.gain:+.4f})")
        return (f"distillation did not help: test {self.metric} {d:.4f} distilled vs {s:.4f} from scratch "
                f"({self.gain:+.4f}); the scratch student is at {self.scratch_path}")


def distill(pipeline: Pipeline, *, tracking_uri: str | None = None, storage: str | None = None,
            progress: Progress | None = None, teacher: str | Path | None = None) -> DistillResult:
    """Distill the pipeline's best model (or ``teacher``, a .keras file) into a student.

    >>> from automl.config import load_pipeline
    >>> result = distill(load_pipeline("pipelines/quickstart.yaml"))  # doctest: +SKIP
    >>> result.verdict  # doctest: +SKIP
    """
    plan = make_plan(pipeline, storage=storage)
    cfg = pipeline.config.distill or DistillConfig()  # type: ignore[call-arg]
    with signals.handling():
        return _Distillation(plan, cfg, tracking_uri, progress or Progress(), teacher).run()


class _Reporter:
    def __init__(self, trial: EngineTrial | None, tracker: Tracker | None, run_id: str, progress: Progress,
                 epochs: int) -> None:
        self.trial, self.tracker, self.run_id, self.progress, self.epochs = trial, tracker, run_id, progress, epochs

    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None:
        if self.tracker is not None:
            self.tracker.log(self.run_id, metrics=metrics, step=epoch)
        if self.trial is not None:
            self.trial.report(epoch, value, metrics)
            self.progress.epoch_ended(self.trial.number, epoch, self.epochs, metrics)

    def should_prune(self) -> bool:
        return self.trial.should_prune() if self.trial is not None else False


@dataclass
class _Fit:
    state: str = "FAIL"
    value: float | None = None
    best_epoch: int | None = None
    reason: str | None = None
    seconds: float = 0.0


def fit_student(model: Any, student: Any, data: Any, *, epochs: int, batch_size: int, metric: str,
                direction: str, reporter: _Reporter | None = None) -> _Fit:
    """Fit ``model`` (a Distiller or the student itself) and leave ``student`` at its best epoch."""
    import keras

    out = _Fit()
    better = (lambda a, b: a > b) if direction == "maximize" else (lambda a, b: a < b)

    class _Keep(keras.callbacks.Callback):
        best: list[np.ndarray] | None = None
        pruned = False

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            metrics = {k: float(v) for k, v in (logs or {}).items()}
            if not math.isfinite(metrics.get("loss", 0.0)) or metric not in metrics:
                out.reason = (f"loss became {metrics.get('loss')} at epoch {epoch}" if metric in metrics
                              else f"metric '{metric}' is not logged")
                self.model.stop_training = True
                return
            value = metrics[metric]
            if math.isfinite(value) and (out.value is None or better(value, out.value)):
                out.value, out.best_epoch, self.best = value, epoch, student.get_weights()
            signals.check()  # a safe point for Ctrl-C / SIGTERM
            if reporter is not None:
                reporter.report(epoch, value, metrics)
                if reporter.should_prune():
                    self.pruned, self.model.stop_training = True, True

    keep = _Keep()
    start = time.perf_counter()
    try:
        model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs,
                  batch_size=batch_size, callbacks=[keep], verbose=0)
    except Exception as exc:  # one configuration failing is that trial's outcome
        out.reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        return out
    finally:
        out.seconds = time.perf_counter() - start
    if out.reason:
        out.value = None
        return out
    if keep.best is not None:
        student.set_weights(keep.best)
    if out.value is None:
        out.reason = f"metric '{metric}' was never finite"
        return out
    out.state = "PRUNED" if keep.pruned else "COMPLETE"
    return out


def _load_error(path: Path, exc: Exception) -> str:
    """Why Keras could not load ``path``, in one line (Keras calls a .keras file that is not a zip "not found")."""
    import zipfile

    if path.suffix == ".keras" and path.is_file() and not zipfile.is_zipfile(path):
        return "not a zip archive (a .keras file is one): truncated, or another format"
    text = str(exc).strip().replace(str(path), path.name)
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _describe(param: Param) -> str:
    return json.dumps(param.model_dump(mode="json", exclude_defaults=True))


class _Distillation:
    def __init__(self, plan: Plan, cfg: DistillConfig, tracking_uri: str | None, progress: Progress,
                 teacher: str | Path | None) -> None:
        self.plan, self.cfg, self.progress = plan, cfg, progress
        self.pcfg = plan.pipeline.config
        self.folder = plan.folder
        self.teacher_path = Path(teacher) if teacher is not None else self.folder.best_model
        self.teacher_given = teacher is not None
        self.student_path = self.folder.student_model
        self.scratch_path = self.folder.scratch_model
        self.epochs = cfg.epochs or self.pcfg.train.epochs
        self.batch_size = self.pcfg.train.batch_size
        self.spec = ModelSpec.from_arrays(plan.data.x_train, plan.data.y_train, plan.data.task,
                                          plan.data.num_classes, embeddings=plan.data.embeddings,
                                          metrics=plan.epoch_metrics)
        if not self.teacher_path.exists():
            raise StudyError(f"no teacher model at {self.teacher_path}: run `automl run "
                             f"{plan.pipeline.file}` first (or pass a .keras teacher)")
        self.tracker = Tracker(plan.name, tracking_uri, artifact_root=plan.output_dir.parent / "artifacts")
        self.archs: dict[int, tuple[str, dict[str, Any], int]] = {}
        self.parent = ""
        self._best_info: dict[str, Any] = {}

    # -- setting up -------------------------------------------------------------------------------
    def _load_teacher(self) -> Any:
        """The teacher model, checked against the pipeline's data; a StudyError naming the file otherwise."""
        import keras

        where = f"{'--teacher: ' if self.teacher_given else ''}{self.teacher_path}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optimizer-state notes of a model saved after training
                teacher = keras.models.load_model(self.teacher_path)
        except Exception as exc:  # Keras raises ValueError, OSError, zipfile.BadZipFile, KeyError, ...
            raise StudyError(f"{where} is not a Keras model Keras can load: "
                             f"{_load_error(self.teacher_path, exc)[:200]}") from None
        self._check_teacher(teacher, where)
        return teacher

    def _check_teacher(self, teacher: Any, where: str) -> None:
        """A teacher must read the pipeline's inputs and (classification) give one logit per class."""
        data_shape = (None, *self.spec.input_shape)
        shapes = [tuple(t.shape) for t in getattr(teacher, "inputs", None) or []]
        if shapes != [data_shape]:
            got = shapes[0] if len(shapes) == 1 else shapes
            raise StudyError(f"{where} takes inputs of shape {got}, but the pipeline's data has shape {data_shape}")
        if self.spec.task != "classification":
            return
        from automl.distill.loss import LOGITS_LAYER

        names = [layer.name for layer in teacher.layers]
        if LOGITS_LAYER not in names:  # the soft targets are the teacher's logits, read by layer name
            raise StudyError(f"{where} has no `{LOGITS_LAYER}` layer to distill from (last layers: "
                             f"{', '.join(names[-3:])}): a model built by `automl run` has one")
        classes = teacher.get_layer(LOGITS_LAYER).output.shape[-1]
        if classes != self.spec.num_classes:
            raise StudyError(f"{where} has {classes} logits, but the pipeline's task has {self.spec.num_classes} "
                             "classes")

    def _teacher_architecture(self) -> tuple[str, dict[str, Any]]:
        info_path = self.folder.best_info
        if not info_path.exists():
            raise StudyError(f"{info_path} is missing: the default student copies the best trial's "
                             "architecture; give `distill.student` a space for a teacher from elsewhere")
        params = json.loads(info_path.read_text())["params"]
        try:
            return replay(self.plan.space, params)
        except KeyError as exc:
            raise StudyError(f"cannot rebuild the best trial's architecture: {exc.args[0]}") from None

    def _space(self) -> Space:
        cfg, file = self.cfg, self.plan.pipeline.file
        extra: dict[str, Param] = {"alpha": cfg.alpha, "temperature": cfg.temperature}
        if cfg.student is None:
            # the rest of the architecture is the teacher's (see _architecture)
            return Space(params={BLOCK: FixedParam(value=self.teacher_block), **extra, "size": cfg.size,
                                 "lr": cfg.lr})
        if isinstance(cfg.student, str):
            space_file = load_space(read_yaml(cfg.student), file=cfg.student)
            where, prefix = cfg.student, ""
        else:
            space_file = load_space(cfg.student, file=file, prefix="distill.student.")
            where, prefix = file, "distill.student."
        for name in DISTILL_PARAMS:
            if name in space_file.params:
                raise ConfigError(f"`{name}` is set under distill, not in the student's space",
                                  file=where, path=f"{prefix}params.{name}")
        space = resolve_space(space_file, self.plan.data.rank, file=where, prefix=prefix)
        return Space(params={**space.params, **extra, "lr": cfg.lr}, owners=space.owners)

    def _engine(self, space: Space) -> Engine:
        pcfg = self.pcfg
        sampler = pcfg.study.sampler
        if sampler == "grid":
            try:
                space.grid()
            except ValueError:
                sampler = "random"  # the default distill ranges are continuous
        settings = StudySettings(name=f"{self.plan.name}-student", space=space, sampler=sampler,
                                 pruner=pcfg.study.pruner, direction=self.plan.direction, seed=pcfg.seed,
                                 storage=self.plan.storage, epochs=self.epochs)
        return get_engine(pcfg.study.engine)(settings)

    # -- one student ------------------------------------------------------------------------------
    def _architecture(self, values: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
        block, hp = self.space.decode(values)
        hp = {k: v for k, v in hp.items() if k not in DISTILL_PARAMS}
        if self.cfg.student is None:
            budget = max(1, int(float(values["size"]) * self.teacher_params))
            fitted = fit_to_budget(block, {**self.teacher_hp, "lr": hp["lr"]}, self.spec, budget)
            return block, fitted.hp, fitted.n_params
        return block, hp, int(self._build(block, hp).count_params())

    def _batch_size(self, hp: dict[str, Any]) -> int:
        return int(hp.get("batch_size") or self.batch_size)

    def _build(self, block: str, hp: dict[str, Any]) -> Any:
        return build_model(block, hp, self.spec, batch_size=self._batch_size(hp), epochs=self.epochs)

    def _seed(self, number: int) -> None:
        import keras

        if self.pcfg.seed is not None:
            keras.utils.set_random_seed(self.pcfg.seed + number)

    def _trial(self, trial: EngineTrial) -> None:
        from automl.distill.loss import Distiller

        plan = self.plan
        values = self.space.sample(trial)
        run_id = self.tracker.start_run(f"student-{trial.number}", parent=self.parent, tags={
            "automl.study": plan.name, "automl.role": "student-trial", "automl.trial": trial.number})
        self.progress.trial_started(trial.number, values)
        started = time.monotonic()
        fit = _Fit()
        n_params = 0
        try:
            block, hp, n_params = self._architecture(values)
            self.archs[trial.number] = (block, hp, n_params)
            self.tracker.log(run_id, params={**values, **{f"hp.{k}": v for k, v in hp.items()}})
            self._seed(trial.number)
            student = self._build(block, hp)
            distiller = Distiller(student, self.teacher, alpha=float(values["alpha"]),
                                  temperature=float(values["temperature"]), task=self.spec.task,
                                  target_scale=self.spec.y_std)
            # the student's own optimizer (and learning-rate schedule) drives the distillation
            distiller.compile(optimizer=student.optimizer,
                              metrics=keras_metrics(self.spec.task, self.spec.num_classes, self.spec.metrics))
            reporter = _Reporter(trial, self.tracker, run_id, self.progress, self.epochs)
            fit = fit_student(distiller, student, plan.data, epochs=self.epochs,
                              batch_size=self._batch_size(hp), metric=plan.metric, direction=plan.direction,
                              reporter=reporter)
        except KeyboardInterrupt:
            with signals.deferred():
                self.engine.tell(trial, "FAIL", None, {"fail_reason": signals.reason()})
                self.tracker.fail(run_id, signals.reason(), "KILLED")
            raise
        except Exception as exc:  # an architecture that does not build
            fit.reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        attrs: dict[str, Any] = {"n_params": n_params, "mlflow_run_id": run_id}
        if fit.reason:
            attrs["fail_reason" if fit.state == "FAIL" else "reason"] = fit.reason
        self.engine.tell(trial, fit.state, fit.value, attrs)
        metrics: dict[str, float] = {"params_count": n_params, "fit_seconds": fit.seconds,
                                     "params_ratio": n_params / max(1, self.teacher_params)}
        if fit.value is not None:
            metrics[f"best_{plan.metric}"] = fit.value
        self.tracker.log(run_id, metrics=metrics, tags={"automl.state": fit.state, **(
            {"automl.fail_reason": fit.reason} if fit.reason else {})})
        self.tracker.end(run_id, fit.state)
        best = self.engine.best()
        if fit.state == "COMPLETE" and best is not None and best.number == trial.number:
            save_model(student, self.student_path)
            self._best_info = {"trial": trial.number, "value": fit.value, "metric": plan.metric,
                               "params": values, "block": block, "hp": hp, "n_params": n_params,
                               "teacher": str(self.teacher_path), "teacher_params": self.teacher_params}
        self.progress.trial_ended(trial.number, fit.state, fit.value, best.value if best else None, fit.reason,
                                  time.monotonic() - started)
        gc.collect()

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> DistillResult:
        plan, cfg = self.plan, self.cfg
        import_keras()
        self.teacher = self._load_teacher()
        self.teacher_params = int(self.teacher.count_params())
        if cfg.student is None:
            self.teacher_block, self.teacher_hp = self._teacher_architecture()
        self.space = self._space()
        self.engine = self._engine(self.space)
        self.engine.open(new=True)  # students depend on the teacher: every run starts afresh
        for stale in (self.student_path, self.scratch_path):
            stale.unlink(missing_ok=True)
        self.parent = self.tracker.start_run(f"{plan.name}-distill", tags={
            "automl.study": plan.name, "automl.role": "distill", "automl.teacher": self.teacher_path})
        self.tracker.log(self.parent, params={
            "trials": cfg.trials, "epochs": self.epochs, "batch_size": self.batch_size, "metric": plan.metric,
            "teacher": str(self.teacher_path), "teacher_params": self.teacher_params,
            "alpha": _describe(cfg.alpha), "temperature": _describe(cfg.temperature), "lr": _describe(cfg.lr),
            "student": cfg.student if isinstance(cfg.student, str) or cfg.student is None else "inline",
            **({"size": _describe(cfg.size)} if cfg.student is None else {})})
        self.progress.study_started(f"{plan.name}-student", cfg.trials, 0, plan.metric, plan.direction)
        try:
            for _ in range(cfg.trials):
                signals.check()
                trial = self.engine.ask()
                if trial is None:
                    break
                self._trial(trial)
        except KeyboardInterrupt:
            with signals.deferred():
                self.progress.study_ended()
                self.tracker.fail(self.parent, signals.reason(), "KILLED")
            raise
        except BaseException:
            self.progress.study_ended()
            self.tracker.end(self.parent, "FAIL")
            raise
        self.progress.study_ended()
        try:
            return self._finish()
        except BaseException:
            self.tracker.end(self.parent, "FAIL")
            raise

    def _evaluate(self, model: Any) -> dict[str, float]:
        data = self.plan.data
        return score_model(model, data.x_test, data.y_test, data.task, data.num_classes)

    def _finish(self) -> DistillResult:
        import keras

        plan = self.plan
        teacher_test = self._evaluate(self.teacher)
        metric = base_metric(plan.metric)
        best = self.engine.best()
        distilled: dict[str, float] = {}
        scratch: dict[str, float] = {}
        n_params, version = 0, None
        if best is not None and self.student_path.exists():
            block, hp, n_params = self.archs[best.number]
            distilled = self._evaluate(keras.models.load_model(self.student_path))
            self._seed(best.number)  # the same initial weights as the distilled student
            student = self._build(block, hp)
            fit_student(student, student, plan.data, epochs=self.epochs, batch_size=self._batch_size(hp),
                        metric=plan.metric, direction=plan.direction)
            save_model(student, self.scratch_path)
            scratch = self._evaluate(student)
        result = DistillResult(
            study_name=f"{plan.name}-student", metric=metric, direction=plan.direction,
            teacher_path=str(self.teacher_path), student_path=str(self.student_path) if distilled else None,
            scratch_path=str(self.scratch_path) if scratch else None, teacher_params=self.teacher_params,
            student_params=n_params, teacher_test=teacher_test, distilled_test=distilled, scratch_test=scratch,
            best_params=dict(self._best_info.get("params", {})), best_value=best.value if best else None,
            parent_run_id=self.parent, trials=self.engine.trials())
        metrics: dict[str, float] = {f"teacher_{k}": v for k, v in teacher_test.items()}
        metrics |= {f"student_distilled_{k}": v for k, v in distilled.items()}
        metrics |= {f"student_scratch_{k}": v for k, v in scratch.items()}
        metrics |= {"teacher_params": self.teacher_params, "student_params": n_params,
                    "params_ratio": n_params / max(1, self.teacher_params)}
        if result.gain is not None:
            metrics["distill_gain"] = result.gain
        tags = {"automl.verdict": result.verdict}
        self.tracker.log(self.parent, metrics=metrics, tags=tags,
                         params={f"best.{k}": v for k, v in result.best_params.items()})
        if distilled:
            info = {**self._best_info, "test": distilled, "scratch_test": scratch, "teacher_test": teacher_test,
                    "verdict": result.verdict}
            write_json(self.folder.student_info, info)
            self.tracker.log_artifact(self.parent, self.student_path, "student")
            self.tracker.log_artifact(self.parent, self.folder.student_info, "student")
            version = register_file(
                self.tracker, f"{plan.name}-student", self.parent, "student/student.keras", self.student_path,
                tags={"teacher_params": self.teacher_params, "student_params": n_params,
                      **{f"best.{k}": v for k, v in result.best_params.items()},
                      f"student_distilled_{metric}": distilled.get(metric),
                      f"student_scratch_{metric}": scratch.get(metric),
                      f"teacher_{metric}": teacher_test.get(metric), "verdict": result.verdict},
                description=f"Student of {plan.name} distilled from {self.teacher_path.name}")
        result.registered_version = version
        self.tracker.end(self.parent, "COMPLETE")
        return result

