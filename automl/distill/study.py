"""The student study: distill the study's best model into smaller students, and measure the gain.

Every run (1) searches alpha, temperature, learning rate and student size with the pipeline's engine
(a fresh study ``<name>-student``, its own MLflow parent run), (2) keeps the best student at
``mlruns/<name>/student.keras``, (3) trains the same student from scratch with the same budget, and (4)
logs both on the test split as ``student_distilled_<metric>`` and ``student_scratch_<metric>``, so the
gain of distillation is a measured number, not a claim.

The students are trials of the one study loop (:mod:`automl.study.loop`) with the student objective
(:class:`~automl.distill.objective.StudentObjective`): they train in the study's trial processes (or workers),
in the plan's precision, with its timeout, its tie-break on ``val_loss`` and its batched MLflow logging.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from automl import signals
from automl.builders.metrics import base_metric, predict_eagerly, score_model
from automl.config.loader import Pipeline
from automl.distill.objective import StudentObjective
from automl.engines.base import TrialRecord
from automl.plan import Plan, make_plan
from automl.progress import Progress
from automl.runtime import freeze_imports, import_keras
from automl.space.params import Param
from automl.states import TrialState
from automl.stats import POINT, Interval
from automl.stats import gain as gain_interval
from automl.store.folder import file_digest, load_model, write_json
from automl.study.loop import reason
from automl.study.session import Session
from automl.tracking.registry import log_flavor, register_file
from automl.trial.process import TrialProcessDied
from automl.trial.runner import NullReporter


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
    #: the two students' best validation value of the study's metric: what ``export.model: auto`` picks by
    distilled_val: float | None = None
    scratch_val: float | None = None
    #: the gain's paired bootstrap interval over the test rows (automl.stats), and the metric it is on: the
    #: compared metric when it is a mean over rows (accuracy, mae, mse, rmse), else accuracy
    interval: Interval | None = None
    interval_metric: str = ""

    @property
    def pick(self) -> str:
        """``scratch`` when the student from scratch scored better on validation (never test), else ``distilled``."""
        d, s = self.distilled_val, self.scratch_val
        if d is None or s is None or self.scratch_path is None:
            return "distilled"
        return "scratch" if (s > d if self.direction == "maximize" else s < d) else "distilled"

    @property
    def gain(self) -> float | None:
        """How much better the distilled student scored than the one from scratch (> 0: better)."""
        d, s = self.distilled_test.get(self.metric), self.scratch_test.get(self.metric)
        if d is None or s is None:
            return None
        return d - s if self.direction == "maximize" else s - d

    @property
    def gain_text(self) -> str:
        """``gain +1.2 pt [95% CI -0.8, +3.1]`` (accuracy in points; another metric in its own units)."""
        if self.interval is None:
            return f"gain {self.gain:+.4f}" if self.gain is not None else ""
        on = self.interval_metric
        return self.interval.text("gain" if on == self.metric else f"{on} gain", percent=on == "accuracy")

    @property
    def helped(self) -> bool | None:
        """True: the interval lies above zero; False: below; None: it spans zero (or nothing to compare)."""
        if self.gain is None:
            return None
        if self.interval is None:
            return self.gain > 0
        return None if not self.interval.distinguishable else self.interval.estimate > 0

    @property
    def verdict(self) -> str:
        d, s = self.distilled_test.get(self.metric), self.scratch_test.get(self.metric)
        if self.gain is None:
            return "no student completed: nothing to compare"
        scores = f"test {self.metric} {d:.4f} distilled vs {s:.4f} from scratch, {self.gain_text}"
        if self.helped:
            return f"distillation helped: {scores}"
        if self.helped is False:
            return f"distillation did not help: {scores}; the scratch student is at {self.scratch_path}"
        return (f"distillation's effect is not distinguishable: {scores} (the interval spans zero); the scratch "
                f"student is at {self.scratch_path}")

    @property
    def size_warning(self) -> str | None:
        """One line when the test split is too small to tell a 1-point difference (automl.stats's rule)."""
        if self.interval is None:
            return None
        on = self.interval_metric
        if on == "accuracy":
            return self.interval.size_warning("accuracy", binary=True)
        reference = self.scratch_test.get(on)  # an error: 1% of the scratch student's
        if not reference:
            return None
        return self.interval.size_warning(on, point=POINT * reference, shown=f"1% of the scratch student's {on}")

    @property
    def picked(self) -> str:
        """Which student ``export.model: auto`` ships, and why (validation values)."""
        if self.distilled_val is None or self.scratch_val is None:
            return "the distilled student ships (no scratch student to compare on validation)"
        which = "student from scratch" if self.pick == "scratch" else "distilled student"
        return (f"the {which} ships: validation {self.distilled_val:.4f} distilled vs {self.scratch_val:.4f} "
                "from scratch (chosen on validation; the verdict above is on test)")


def distill(pipeline: Pipeline, *, tracking_uri: str | None = None, storage: str | None = None,
            progress: Progress | None = None, teacher: str | Path | None = None,
            plan: Plan | None = None) -> DistillResult:
    """Distill the pipeline's best model (or ``teacher``, a .keras file) into a student.

    ``plan``: the plan of ``pipeline`` when the caller has one (``automl run`` hands its own on).

    >>> from automl.config import load_pipeline
    >>> result = distill(load_pipeline("pipelines/quickstart.yaml"))  # doctest: +SKIP
    >>> result.verdict  # doctest: +SKIP
    """
    import_keras()
    plan = plan or make_plan(pipeline, storage=storage)
    with signals.handling():
        objective = StudentObjective(plan, teacher)
        return _Distillation(plan, tracking_uri, progress or Progress(), objective=objective).run()


def _describe(param: Param) -> str:
    return json.dumps(param.model_dump(mode="json", exclude_defaults=True))


class _Distillation(Session):
    """The student study's session: its parent run around the students, then the scratch baseline and the
    comparison on the test split."""

    objective: StudentObjective

    def run(self) -> DistillResult:
        plan, obj = self.plan, self.objective
        cfg = obj.cfg
        folder = self.folder
        self.engine.open(new=True)  # students depend on the teacher: every run starts afresh
        # the published students stay as they are until this run has finished (a killed run keeps them)
        folder.settle_students()
        folder.distill_stage.mkdir(parents=True, exist_ok=True)
        self.heal()
        parent = self.tracker.start_run(f"{plan.name}-distill", tags={
            "automl.study": plan.name, "automl.role": "distill", "automl.teacher": obj.teacher_path})
        self._parent_id = parent
        self._session_trials: list[int] = []
        self.tracker.log(parent, params={
            "trials": cfg.trials, "epochs": obj.epochs, "batch_size": obj.batch_size, "metric": plan.metric,
            "teacher": str(obj.teacher_path), "teacher_params": obj.teacher_params, "precision": plan.precision,
            "alpha": _describe(cfg.alpha), "temperature": _describe(cfg.temperature), "lr": _describe(cfg.lr),
            "student": cfg.student if isinstance(cfg.student, str) or cfg.student is None else "inline",
            "mixup": _describe(cfg.mixup),
            **({"size": _describe(cfg.size), "depth": _describe(cfg.depth)} if cfg.student is None else {})})
        self.progress.study_started(obj.name, cfg.trials, 0, plan.metric, plan.direction)
        freeze_imports()
        try:
            self._trials(parent, cfg.trials, None)
        except KeyboardInterrupt:
            with signals.deferred():
                self._close_runner()
                folder.drop_stage()
                self.progress.study_ended()
                self.tracker.fail(parent, signals.reason(), "KILLED")
            raise
        except BaseException as exc:
            with signals.deferred():
                self._close_runner()
                folder.drop_stage()
                self.progress.study_ended()
                self.tracker.fail(parent, reason(exc))
            raise
        self.progress.study_ended()
        try:
            return self._final_stage(parent, lambda: self._finish(parent))
        finally:
            self._close_runner()
            folder.drop_stage()  # published by _finish, or what a stopped final stage left

    def _evaluate(self, model: Any) -> dict[str, float]:
        data = self.plan.data
        return score_model(model, data.x_test, data.y_test, data.task, data.num_classes)

    def _test_outputs(self, model: Any) -> np.ndarray:
        """The model's outputs on every test row (what the gain's interval resamples)."""
        return predict_eagerly(model, self.plan.data.x_test)

    def _scratch(self, best: TrialRecord) -> float | None:
        """Train the best student's architecture from scratch (same seed, epochs, batch size) in the trial
        process, kept as ``student_scratch.keras``; its best validation value, None when that training failed."""
        obj, folder = self.objective, self.folder
        request, _ = obj.student_request(best.number, obj.space.replay(best.params), self.spec, distilled=False)
        if self.runner is None:  # the students ran in workers
            self._open_runner()
        assert self.runner is not None
        result = self.runner.run(request, NullReporter())
        if result.state != TrialState.COMPLETE:
            self.runner.discard()
            self.progress.note(f"the student from scratch did not train: {result.reason}")
            return None
        try:
            self.runner.keep(folder.staged(folder.scratch_model))
        except TrialProcessDied as exc:
            self.progress.note(f"the student from scratch was not saved: {exc}")
            return None
        return result.value

    def _finish(self, parent: str) -> DistillResult:
        signals.check()
        plan, obj, folder = self.plan, self.objective, self.folder
        teacher_test = self._evaluate(obj.teacher)
        metric = base_metric(plan.metric)
        best = self.engine.best()
        distilled: dict[str, float] = {}
        scratch: dict[str, float] = {}
        n_params, version, info, values = 0, None, {}, {}
        scratch_val: float | None = None
        interval, on = None, ""
        staged_student, staged_scratch = folder.staged(folder.student_model), folder.staged(folder.scratch_model)
        if best is not None and staged_student.exists():
            values = obj.space.replay(best.params)  # every value of the best student, fixed ones too
            block, hp, n_params = obj.architecture(values)
            info = {"trial": best.number, "value": best.value, "metric": plan.metric, "params": values,
                    "block": block, "hp": hp, "n_params": n_params, "teacher": str(obj.teacher_path),
                    "teacher_params": obj.teacher_params, "teacher_sha256": file_digest(obj.teacher_path)}
            student = load_model(staged_student)
            distilled, distilled_out = self._evaluate(student), self._test_outputs(student)
            signals.check()
            scratch_val = self._scratch(best)
            if scratch_val is not None:
                from_scratch = load_model(staged_scratch)
                scratch = self._evaluate(from_scratch)
                interval, on = gain_interval(distilled_out, self._test_outputs(from_scratch), plan.data.y_test,
                                    plan.data.task, metric, seed=plan.pipeline.config.seed or 0)
        result = DistillResult(
            study_name=obj.name, metric=metric, direction=plan.direction,
            teacher_path=str(obj.teacher_path), student_path=str(folder.student_model) if distilled else None,
            scratch_path=str(folder.scratch_model) if scratch else None, teacher_params=obj.teacher_params,
            student_params=n_params, teacher_test=teacher_test, distilled_test=distilled, scratch_test=scratch,
            best_params=dict(values) if distilled else {},
            best_value=best.value if best else None, parent_run_id=parent, trials=self.engine.trials(),
            distilled_val=best.value if distilled and best else None, scratch_val=scratch_val if scratch else None,
            interval=interval if scratch else None, interval_metric=on if scratch else "")
        metrics: dict[str, float] = {f"teacher_{k}": v for k, v in teacher_test.items()}
        metrics |= {f"student_distilled_{k}": v for k, v in distilled.items()}
        metrics |= {f"student_scratch_{k}": v for k, v in scratch.items()}
        metrics |= {"teacher_params": obj.teacher_params, "student_params": n_params,
                    "params_ratio": n_params / max(1, obj.teacher_params)}
        if result.gain is not None:
            metrics["distill_gain"] = result.gain
        if result.interval is not None:
            metrics |= {"distill_gain_ci_low": result.interval.low, "distill_gain_ci_high": result.interval.high,
                        f"distill_gain_{result.interval_metric}": result.interval.estimate}
        if result.distilled_val is not None:
            metrics[f"student_distilled_{plan.metric}"] = result.distilled_val
        if result.scratch_val is not None:
            metrics[f"student_scratch_{plan.metric}"] = result.scratch_val
        tags = {"automl.verdict": result.verdict, "automl.student_pick": result.pick}
        self.tracker.log(parent, metrics=metrics, tags=tags,
                         params={f"best.{k}": v for k, v in result.best_params.items()})
        if distilled:
            info = {**info, "test": distilled, "scratch_test": scratch, "teacher_test": teacher_test,
                    "verdict": result.verdict, "pick": result.pick,
                    "gain": None if result.interval is None else {
                        "metric": result.interval_metric, **result.interval.to_dict(),
                        "size_warning": result.size_warning},
                    "validation": {"distilled": result.distilled_val, "scratch": result.scratch_val}}
            write_json(folder.staged(folder.student_info), info)
            with signals.deferred():  # the new students replace the earlier ones together, or not at all
                folder.publish_students()
            self.tracker.log_artifact(parent, folder.student_model, "student")
            self.tracker.log_artifact(parent, folder.student_info, "student")
            version = register_file(
                self.tracker, obj.name, parent, "student/student.keras", folder.student_model,
                tags={"teacher_params": obj.teacher_params, "student_params": n_params,
                      **{f"best.{k}": v for k, v in result.best_params.items()},
                      f"student_distilled_{metric}": distilled.get(metric),
                      f"student_scratch_{metric}": scratch.get(metric),
                      f"teacher_{metric}": teacher_test.get(metric), "verdict": result.verdict},
                description=f"Student of {plan.name} distilled from {obj.teacher_path.name}")
            student = load_model(folder.student_model)
            log_flavor(self.tracker, self.progress, folder, parent, "student",
                       lambda metadata: self.tracker.log_keras_model(parent, student, "student", metadata=metadata))
        elif folder.student_model.exists():
            self.progress.note(f"no student completed: the earlier students in {folder.path} are kept")
        result.registered_version = version
        self.tracker.end(parent, TrialState.COMPLETE)
        return result
