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
from automl.stats import POINT, Interval, over_max_drop
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
    #: the gap to the teacher: the distilled student's test metric minus the teacher's (< 0: behind), with the
    #: same paired bootstrap over the test rows, on ``interval_metric``
    gap_interval: Interval | None = None
    #: what budget would likely close a gap of more than one point, from what the student study saw (or None)
    closing: str | None = None

    @property
    def pick(self) -> str:
        """``scratch`` when the student from scratch scored better on validation (never test), else ``distilled``."""
        d, s = self.distilled_val, self.scratch_val
        if d is None or s is None or self.scratch_path is None:
            return "distilled"
        return "scratch" if (s > d if self.direction == "maximize" else s < d) else "distilled"

    def _better_by(self, a: dict[str, float], b: dict[str, float]) -> float | None:
        """How much better ``a`` scored than ``b`` on the metric (> 0: better), None when either lacks it."""
        x, y = a.get(self.metric), b.get(self.metric)
        if x is None or y is None:
            return None
        return x - y if self.direction == "maximize" else y - x

    def _difference_text(self, label: str, value: float | None, interval: Interval | None) -> str:
        if interval is None:
            return f"{label} {value:+.4f}" if value is not None else ""
        on = self.interval_metric
        return interval.text(label if on == self.metric else f"{on} {label}", percent=on == "accuracy")

    @property
    def gain(self) -> float | None:
        """How much better the distilled student scored than the one from scratch (> 0: better)."""
        return self._better_by(self.distilled_test, self.scratch_test)

    @property
    def gain_text(self) -> str:
        """``gain +1.2 pt [95% CI -0.8, +3.1]`` (accuracy in points; another metric in its own units)."""
        return self._difference_text("gain", self.gain, self.interval)

    @property
    def gap(self) -> float | None:
        """The distilled student's test metric minus the teacher's (better-is-positive: < 0 means behind)."""
        return self._better_by(self.distilled_test, self.teacher_test)

    @property
    def gap_text(self) -> str:
        """``gap to the teacher -4.9 pt [95% CI -6.1, -3.7]`` (accuracy in points; else the metric's units)."""
        return self._difference_text("gap to the teacher", self.gap, self.gap_interval)

    @property
    def behind(self) -> bool:
        """Whether the distilled student is more than one point behind its teacher (accuracy points; 1% of the
        teacher's error for a regression metric): what :attr:`closing` is for."""
        if self.gap_interval is not None:
            point = gap_point(self.interval_metric, self.teacher_test)
            return point is not None and over_max_drop(-self.gap_interval.estimate, point)
        return self.gap is not None and self.metric == "accuracy" and over_max_drop(-self.gap, POINT)

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
        t = self.teacher_test.get(self.metric)
        scores = f"test {self.metric} {d:.4f} distilled vs {s:.4f} from scratch, {self.gain_text}"
        if self.helped is None:
            scores += " (the interval spans zero)"
        if t is not None and self.gap_text:  # beside the gain: how far the student is from its teacher
            scores += f"; teacher {t:.4f}, {self.gap_text}"
        if self.helped:
            return f"distillation helped: {scores}"
        if self.helped is False:
            return f"distillation did not help: {scores}; the scratch student is at {self.scratch_path}"
        return f"distillation's effect is not distinguishable: {scores}; the scratch student is at {self.scratch_path}"

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


def gap_point(metric: str, teacher_test: dict[str, float]) -> float | None:
    """One point of ``metric`` (the gap's): 0.01 of accuracy, 1% of the teacher's error for a regression metric."""
    if metric == "accuracy":
        return POINT
    reference = teacher_test.get(metric)
    return POINT * abs(reference) if reference else None


#: the best student's best epoch in the last fifth of its epochs: its validation curve was still rising
RISING = 0.8


def closing_budget(best: TrialRecord | None, trials: list[TrialRecord], *, epochs: int, size: Param | None,
                   metric: str) -> str | None:
    """What budget would likely close the gap to the teacher, from what the student study saw; None when it
    saw nothing (no completed student).

    - the best student's best validation epoch in the last fifth of its ``epochs`` (and no early stop): its
      curve was still rising, so more ``distill.epochs``;
    - ``size`` searched (the default student) and the best student in the top third of its range: larger
      students scored better, so a larger ``distill.size``;
    - the best student among the last third of the trials, or neither of the above: the search was still finding
      better students (or nothing else points anywhere), so more ``distill.trials``.
    """
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if best is None or not done:
        return None
    tries: list[str] = []
    best_epoch, trained = best.attrs.get("best_epoch"), best.attrs.get("epochs_trained")
    if best_epoch is not None and trained is not None and int(trained) >= epochs \
            and int(best_epoch) + 1 > RISING * epochs:
        tries.append(f"`distill.epochs: {2 * epochs}` (the best student's {metric} was still rising: "
                     f"its best epoch was {int(best_epoch) + 1} of {epochs})")
    value = best.params.get("size")
    if size is not None and size.tunable and isinstance(value, int | float):
        low, high = _bounds(size)
        if high > low and value >= low + (high - low) * 2 / 3:
            wanted = f"`distill.size: {high:g}`" if value < high * 0.95 or high >= 1 else \
                f"a larger `distill.size` than {high:g}"
            tries.append(f"{wanted} (the best student was among the largest searched: {value:.3g} of "
                         f"[{low:g}, {high:g}])")
    order = sorted(t.number for t in done)
    late = order.index(best.number) >= len(order) * 2 / 3 if best.number in order and len(order) >= 3 else False
    if late or not tries:
        why = (f"the best student came in trial {order.index(best.number) + 1} of {len(order)}: the search was "
               "still finding better ones" if late else "nothing in the study points at epochs or size")
        tries.append(f"`distill.trials: {2 * len(trials)}` ({why})")
    return "to close the gap to the teacher, try " + "; ".join(tries)


def _bounds(param: Param) -> tuple[float, float]:
    choices = [float(c) for c in getattr(param, "choices", []) if isinstance(c, int | float)]
    if choices:
        return min(choices), max(choices)
    return float(getattr(param, "low", 0.0)), float(getattr(param, "high", 0.0))


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
        cfg = obj.cfg
        teacher_test = self._evaluate(obj.teacher)
        metric = base_metric(plan.metric)
        best = self.engine.best()
        distilled: dict[str, float] = {}
        scratch: dict[str, float] = {}
        n_params, version, info, values = 0, None, {}, {}
        scratch_val: float | None = None
        interval, gap, on = None, None, ""
        staged_student, staged_scratch = folder.staged(folder.student_model), folder.staged(folder.scratch_model)
        if best is not None and staged_student.exists():
            values = obj.space.replay(best.params)  # every value of the best student, fixed ones too
            block, hp, n_params = obj.architecture(values)
            info = {"trial": best.number, "value": best.value, "metric": plan.metric, "params": values,
                    "block": block, "hp": hp, "n_params": n_params, "teacher": str(obj.teacher_path),
                    "teacher_params": obj.teacher_params, "teacher_sha256": file_digest(obj.teacher_path)}
            student = load_model(staged_student)
            distilled, distilled_out = self._evaluate(student), self._test_outputs(student)
            # the gap to the teacher, on the same rows with the same bootstrap as the gain over scratch
            gap, on = gain_interval(distilled_out, self._test_outputs(obj.teacher), plan.data.y_test,
                                    plan.data.task, metric, seed=plan.pipeline.config.seed or 0)
            signals.check()
            scratch_val = self._scratch(best)
            if scratch_val is not None:
                from_scratch = load_model(staged_scratch)
                scratch = self._evaluate(from_scratch)
                interval, _ = gain_interval(distilled_out, self._test_outputs(from_scratch), plan.data.y_test,
                                            plan.data.task, metric, seed=plan.pipeline.config.seed or 0)
        result = DistillResult(
            study_name=obj.name, metric=metric, direction=plan.direction,
            teacher_path=str(obj.teacher_path), student_path=str(folder.student_model) if distilled else None,
            scratch_path=str(folder.scratch_model) if scratch else None, teacher_params=obj.teacher_params,
            student_params=n_params, teacher_test=teacher_test, distilled_test=distilled, scratch_test=scratch,
            best_params=dict(values) if distilled else {},
            best_value=best.value if best else None, parent_run_id=parent, trials=self.engine.trials(),
            distilled_val=best.value if distilled and best else None, scratch_val=scratch_val if scratch else None,
            interval=interval if scratch else None, interval_metric=on if distilled else "",
            gap_interval=gap if distilled else None)
        if result.behind:
            result.closing = closing_budget(best, result.trials, epochs=obj.epochs, metric=plan.metric,
                                            size=cfg.size if cfg.student is None else None)
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
        if result.gap is not None:
            metrics["distill_gap"] = result.gap
        if result.gap_interval is not None:
            metrics |= {"distill_gap_ci_low": result.gap_interval.low, "distill_gap_ci_high": result.gap_interval.high,
                        f"distill_gap_{result.interval_metric}": result.gap_interval.estimate}
        if result.distilled_val is not None:
            metrics[f"student_distilled_{plan.metric}"] = result.distilled_val
        if result.scratch_val is not None:
            metrics[f"student_scratch_{plan.metric}"] = result.scratch_val
        tags = {"automl.verdict": result.verdict, "automl.student_pick": result.pick}
        if result.closing:
            tags["automl.distill_closing"] = result.closing
        self.tracker.log(parent, metrics=metrics, tags=tags,
                         params={f"best.{k}": v for k, v in result.best_params.items()})
        if distilled:
            info = {**info, "test": distilled, "scratch_test": scratch, "teacher_test": teacher_test,
                    "verdict": result.verdict, "pick": result.pick,
                    "gain": None if result.interval is None else {
                        "metric": result.interval_metric, **result.interval.to_dict(),
                        "size_warning": result.size_warning},
                    "gap_to_teacher": None if result.gap_interval is None else {
                        "metric": result.interval_metric, **result.gap_interval.to_dict(),
                        "behind": result.behind, "closing": result.closing},
                    "epochs": obj.epochs,
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
