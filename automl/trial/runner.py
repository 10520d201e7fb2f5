"""One trial: build, compile, fit with per-epoch reports, and say how it ended.

A trial takes plain data in (:class:`TrialRequest`) and gives plain data out (:class:`TrialResult`); it
talks to the engine only through a :class:`Reporter`, so it can run in a child process unchanged.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from automl import faults, signals
from automl._text import first_line
from automl.builders.metrics import direction_of, predict_eagerly, score_predictions, scored_metrics
from automl.builders.model import ModelSpec, build_model, fine_tuning, float32_copy, start_phase_two
from automl.builders.training import class_weights, training_callbacks
from automl.config.constraints import Constraint
from automl.data.batches import eval_inputs, fit_inputs
from automl.errors import MeasureError
from automl.runtime import release_memory
from automl.states import TrialState


class Reporter(Protocol):
    """The narrow channel between a running trial and whoever decides its fate."""

    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None: ...

    def should_prune(self) -> bool: ...


def tell_measured(reporter: Reporter, values: dict[str, float]) -> None:
    """Tell ``reporter`` what is known of the model before training (``params_count``, ``tflite_*``), if it
    listens (``measured(values)``: the study's relay and the trial process's pipe do)."""
    listen = getattr(reporter, "measured", None)
    if listen is not None:
        listen(values)


class NullReporter:
    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None:
        pass

    def should_prune(self) -> bool:
        return False


@dataclass(frozen=True)
class Teacher:
    """Distillation (the student study of ``automl distill``): the frozen model whose outputs the trial's model
    learns from, and the weights of the distillation loss (:mod:`automl.builders.distiller`)."""

    path: str  # a .keras file (loaded once per process)
    alpha: float
    temperature: float
    #: mixup of the transfer batches, Beta(mixup, mixup) weights; 0: off (automl.builders.distiller.Distiller)
    mixup: float = 0.0
    #: user builders (``/abs/my_models.py:build``) to import before loading it (their custom layers register)
    imports: tuple[str, ...] = ()


@dataclass
class TrialRequest:
    number: int
    block: str
    hp: dict[str, Any]
    spec: ModelSpec
    metric: str
    direction: str
    epochs: int = 10
    batch_size: int = 64
    seed: int | None = None
    timeout: float | None = None  # seconds the trial may take (study.trial_timeout), checked every epoch
    teacher: Teacher | None = None  # distill the model from this teacher instead of training it on labels only
    #: measure the built model's TFLite size and latency before fitting (``study.measure``); None: do not
    measure: Any = None  # automl.tflite.measure.MeasureRequest
    #: budgets known before training (``study.constraints``): a model that breaks one is not trained
    constraints: tuple[Constraint, ...] = ()


@dataclass
class TrialResult:
    state: TrialState  # COMPLETE | PRUNED | FAIL
    value: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    reason: str | None = None
    n_params: int = 0
    fit_seconds: float = 0.0
    model: Any = None  # the Keras model at its best epoch (in-process runs only)
    fold_values: list[float] = field(default_factory=list)  # cross-validation: each fold's best value
    final_metrics: dict[str, float] = field(default_factory=dict)  # val_<m> of uncompiled metrics, best epoch
    measured: dict[str, float] = field(default_factory=dict)  # tflite_kib, tflite_latency_ms, ... (untrained model)
    #: where the measured latency came from (automl.latency_source) and a command's last line: tags and attributes
    measure_tags: dict[str, str] = field(default_factory=dict)

    def observed(self) -> dict[str, float]:
        """What the trial knows of its model: ``params_count``, what was measured, and the val_ metrics at its
        best epoch (the objectives and constraints are read from here)."""
        out: dict[str, float] = {}
        if self.best_epoch is not None and self.best_epoch < len(self.history):
            out.update({k: v for k, v in self.history[self.best_epoch].items() if k.startswith("val_")})
        out.update(self.final_metrics)
        if self.n_params:
            out["params_count"] = float(self.n_params)
        out.update(self.measured)
        return out


def _current_lr(model: Any) -> float:
    import keras

    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except Exception:  # an optimizer without a readable rate
        return float("nan")


def _trial_callback(req: TrialRequest, reporter: Reporter, result: TrialResult, model: Any) -> Any:
    """The callback of a trial's fit; ``model`` is the trained model (the student when a Distiller fits it)."""
    import keras

    better = (lambda a, b: a > b) if req.direction == "maximize" else (lambda a, b: a < b)

    class TrialCallback(keras.callbacks.Callback):
        """Reports each epoch, keeps the best epoch's weights, stops on NaN or when pruned."""

        def __init__(self) -> None:
            super().__init__()
            self.deadline = None if req.timeout is None else time.monotonic() + req.timeout
            self.best_weights: list[np.ndarray] | None = None
            self.best_val_loss = math.inf
            self.failure: str | None = None
            self.pruned = False
            self.epoch_started = time.perf_counter()
            self.phase: int | None = None  # 1 or 2 when the model trains in two phases (its epochs say which)

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch_started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            metrics = {k: float(v) for k, v in (logs or {}).items()}
            metrics["lr"] = _current_lr(model)
            # training + validation of this epoch (the first one includes tracing / compiling the step)
            metrics["epoch_seconds"] = time.perf_counter() - self.epoch_started
            if self.phase is not None:
                metrics["phase"] = float(self.phase)
                metrics["trainable_params"] = float(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
            result.history.append(metrics)
            loss = metrics.get("loss", 0.0)
            if not math.isfinite(loss):
                self.failure = f"loss became {loss} at epoch {epoch}"
                self.model.stop_training = True
                return
            if req.metric not in metrics:
                known = ", ".join(sorted(k for k in metrics if k != "lr"))
                self.failure = f"metric '{req.metric}' is not logged (logged: {known})"
                self.model.stop_training = True
                return
            value = metrics[req.metric]
            val_loss = metrics.get("val_loss", math.inf)
            # ties (common for accuracy on small validation sets) go to the epoch with the lower val_loss
            tie = value == result.value and req.metric != "val_loss" and val_loss < self.best_val_loss
            if math.isfinite(value) and (result.value is None or better(value, result.value) or tie):
                result.value, result.best_epoch = value, epoch
                self.best_weights = model.get_weights()
                self.best_val_loss = val_loss
            reporter.report(epoch, value, metrics)
            faults.point("epoch_end")
            signals.check()  # a safe point: a Ctrl-C or SIGTERM since the last one stops the trial here
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.failure = f"exceeded trial_timeout {req.timeout:g} s"
                self.model.stop_training = True
                return
            if reporter.should_prune():
                self.pruned = True
                self.model.stop_training = True

    return TrialCallback()


def run_trial(req: TrialRequest, data: Any, reporter: Reporter | None = None) -> TrialResult:
    """Train one configuration on ``data`` (a :class:`~automl.data.Dataset`) and return its outcome.

    Exceptions inside build or fit become a FAIL result with the reason; KeyboardInterrupt propagates.
    """
    import keras

    reporter = reporter or NullReporter()
    result = TrialResult(state=TrialState.FAIL)
    if req.seed is not None:
        keras.utils.set_random_seed(req.seed + req.number)
    try:
        model = build_model(req.block, req.hp, req.spec, batch_size=req.batch_size, epochs=req.epochs)
        result.n_params = int(model.count_params())
        if req.measure is not None:
            from automl.tflite.measure import measure

            untrained = float32_copy(model, req.block, req.hp, req.spec, batch_size=req.batch_size, epochs=req.epochs)
            try:
                measurement = measure(untrained, data.x_train, req.measure)
            except MeasureError as exc:  # the device's command failed: its own words are the reason
                result.reason = str(exc)
                return result
            result.measured, result.measure_tags = measurement.values, measurement.tags
        broken = [c.broken(result.observed()[c.metric]) for c in req.constraints
                  if c.metric in result.observed() and not c.holds(result.observed()[c.metric])]
        if broken:  # known before training: not worth an epoch
            result.state, result.reason = TrialState.PRUNED, f"infeasible: {'; '.join(broken)}"
            return result
        tell_measured(reporter, {"params_count": float(result.n_params), **result.measured})
        fitted = model if req.teacher is None else _distiller(model, req)
        callback = _trial_callback(req, reporter, result, model)
        callbacks = [callback, *training_callbacks(fitted, req.hp, monitor=req.metric, direction=req.direction)]
        # the distillation loss weighs no samples (a class-weighted student would change what it learns from)
        weights = class_weights(req.hp, data.y_train, req.spec.num_classes, data.class_names) \
            if req.spec.task == "classification" and req.teacher is None else None
        start = time.perf_counter()
        # a memory-mapped or large split goes in a batch at a time (automl.data.batches), shuffled by the seed
        seed = None if req.seed is None else req.seed + req.number

        def fit(fitted: Any, callbacks: list[Any], first: int, last: int) -> None:
            fitted.fit(**fit_inputs(data.x_train, data.y_train, req.batch_size, seed=seed),
                       validation_data=eval_inputs(data.x_val, data.y_val, req.batch_size), class_weight=weights,
                       initial_epoch=first, epochs=last, callbacks=callbacks, verbose=0)

        plan = fine_tuning(req.block, req.hp)
        if plan is None:
            fit(fitted, callbacks, 0, req.epochs)
        else:  # phase one trains the head on the frozen backbone; phase two (a new compile) fine-tunes its top
            frozen = min(max(plan.frozen_epochs, 0), req.epochs)
            callback.phase = 1
            if frozen:
                fit(fitted, callbacks, 0, frozen)
            if frozen < req.epochs and not (callback.failure or callback.pruned or fitted.stop_training):
                model = start_phase_two(model, req.block, req.hp, req.spec, plan, batch_size=req.batch_size,
                                        epochs=req.epochs - frozen)
                fitted = model if req.teacher is None else _distiller(model, req)
                callback.phase = 2
                callbacks = [callback, *training_callbacks(fitted, req.hp, monitor=req.metric,
                                                           direction=req.direction)]
                fit(fitted, callbacks, frozen, req.epochs)
        result.fit_seconds = time.perf_counter() - start
    except Exception as exc:  # any failure of one configuration is that trial's outcome
        result.reason = first_line(exc, 300, typed=True)
        return result
    if callback.failure:
        result.reason = callback.failure
        return result
    if callback.best_weights is not None:
        model.set_weights(callback.best_weights)
        model = float32_copy(model, req.block, req.hp, req.spec, batch_size=req.batch_size, epochs=req.epochs)
        result.final_metrics = _uncompiled_scores(model, req.spec, data)
    result.model = model
    result.state = TrialState.PRUNED if callback.pruned else TrialState.COMPLETE
    if callback.pruned:
        result.reason = f"pruned after epoch {len(result.history) - 1}"
    if result.value is None:
        result.state, result.reason = TrialState.FAIL, f"metric '{req.metric}' was never finite"
    return result


_teachers: dict[tuple[str, int, int], Any] = {}  # (path, mtime, size) -> the loaded teacher of this process


def load_teacher(path: str) -> Any:
    """The teacher model at ``path``, loaded once per process (a student study's trials share it)."""
    from automl.store.folder import load_model

    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size)
    if key not in _teachers:
        _teachers.clear()
        _teachers[key] = load_model(Path(path))  # a teacher of a user's builder: its custom layers too
    return _teachers[key]


def _distiller(student: Any, req: TrialRequest) -> Any:
    """``student`` wrapped for distillation from ``req.teacher``, compiled with the student's own optimizer
    (and learning-rate schedule) and metrics."""
    from automl.builders.distiller import Distiller
    from automl.builders.metrics import keras_metrics

    assert req.teacher is not None
    from automl.builders.user import import_targets

    import_targets(req.teacher.imports)
    distiller = Distiller(student, load_teacher(req.teacher.path), alpha=req.teacher.alpha,
                          temperature=req.teacher.temperature, task=req.spec.task, target_scale=req.spec.y_std,
                          mixup=req.teacher.mixup)
    distiller.compile(optimizer=student.optimizer,
                      metrics=keras_metrics(req.spec.task, req.spec.num_classes, req.spec.metrics))
    return distiller


def _uncompiled_scores(model: Any, spec: ModelSpec, data: Any) -> dict[str, float]:
    """The metrics left out of the per-epoch logs, once, on the validation split (``val_`` prefixed)."""
    if spec.metrics is None or not len(data.x_val):
        return {}
    missing = [m for m in scored_metrics(spec.task) if m not in spec.metrics]
    if not missing:
        return {}
    scores = score_predictions(data.y_val, predict_eagerly(model, data.x_val), spec.task, spec.num_classes, missing)
    return {f"val_{k}": v for k, v in scores.items()}


def run_cv_trial(req: TrialRequest, folds: Sequence[Any], reporter: Reporter | None = None) -> TrialResult:
    """k-fold cross-validation: one training per fold; the trial's value is the mean of the folds' values.

    Each fold's model normalizes with its own training statistics. Fold 0 reports its epochs (pruning
    acts on it); the result keeps fold 0's history and model and every fold's value in ``fold_values``.
    """
    results: list[TrialResult] = []
    for i, fold in enumerate(folds):
        spec = ModelSpec.from_arrays(fold.x_train, fold.y_train, req.spec.task, req.spec.num_classes,
                                     embeddings=req.spec.embeddings, metrics=req.spec.metrics,
                                     precision=req.spec.precision)
        # the model's size and latency do not depend on the fold: measured once
        result = run_trial(replace(req, spec=spec, measure=req.measure if i == 0 else None), fold,
                           reporter if i == 0 else None)
        if result.state != TrialState.COMPLETE or result.value is None:
            first = results[0] if results else result
            first.state, first.reason = result.state, f"fold {i}: {result.reason}"
            first.fold_values = [float(r.value) for r in results if r.value is not None]
            return first
        if i:
            result.model = None
        results.append(result)
    first = results[0]
    first.fold_values = [float(r.value) for r in results if r.value is not None]
    first.value = float(np.mean(first.fold_values))
    first.fit_seconds = sum(r.fit_seconds for r in results)
    return first


def refit(req: TrialRequest, x: Any, y: np.ndarray, class_names: Sequence[str] = ()) -> Any:
    """Train ``req``'s configuration on all of ``x``, ``y`` for ``req.epochs`` epochs, without validation.

    ``req.spec`` should describe ``x`` (its normalization statistics come from the data it trains on).
    """
    import keras

    if req.seed is not None:
        keras.utils.set_random_seed(req.seed + req.number)
    model = build_model(req.block, req.hp, req.spec, batch_size=req.batch_size, epochs=req.epochs)
    weights = class_weights(req.hp, y, req.spec.num_classes, class_names) if req.spec.task == "classification" \
        else None
    seed = None if req.seed is None else req.seed + req.number
    plan = fine_tuning(req.block, req.hp)
    frozen = req.epochs if plan is None else min(max(plan.frozen_epochs, 0), req.epochs)
    if frozen:
        model.fit(**fit_inputs(x, y, req.batch_size, seed=seed), epochs=frozen, class_weight=weights, verbose=0)
    if plan is not None and frozen < req.epochs:  # the same two phases as the trial
        model = start_phase_two(model, req.block, req.hp, req.spec, plan, batch_size=req.batch_size,
                                epochs=req.epochs - frozen)
        model.fit(**fit_inputs(x, y, req.batch_size, seed=seed), initial_epoch=frozen, epochs=req.epochs,
                  class_weight=weights, verbose=0)
    return float32_copy(model, req.block, req.hp, req.spec, batch_size=req.batch_size, epochs=req.epochs)


__all__ = ["NullReporter", "Reporter", "Teacher", "TrialRequest", "TrialResult", "direction_of", "release_memory",
           "run_cv_trial", "run_trial", "tell_measured"]
