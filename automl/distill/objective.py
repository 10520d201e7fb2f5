"""The student study's objective (``automl distill``, the study ``<name>-student``): what its trials train.

Each trial distills the teacher (by default the tuning study's ``best.keras``) into a student of the sampled
architecture, through the study loop (:class:`~automl.study.loop.Loop`), which knows it as an
:class:`~automl.study.objective.Objective`; its best model is ``student.keras``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl._types import Objectives
from automl.builders.model import ModelSpec, build_model
from automl.config.loader import load_space, read_yaml
from automl.config.models import DistillConfig
from automl.distill.student import DISTILL_PARAMS, fit_to_budget, replay
from automl.engines.base import EngineTrial
from automl.errors import ConfigError, StudyError
from automl.plan import Plan
from automl.space.params import FixedParam, Param
from automl.space.space import BLOCK, Space, resolve_space
from automl.store.folder import ModelLoadError, load_model
from automl.trial.runner import Teacher, TrialRequest, TrialResult

#: ``distill.epochs`` unset: the students train this many times ``train.epochs`` (benchmarks/distill.py measured
#: the gap to the teacher at 1x and 2x; docs/export.md, "The student")
STUDENT_EPOCHS = 2


class StudentObjective:
    """The student study: each trial distills the teacher into a student of the sampled architecture.

    The default student (``distill.student`` unset) is the teacher's block scaled to ``size`` times the
    teacher's parameter count at ``depth`` times its depth (:func:`~automl.distill.student.fit_to_budget`); a
    student space searches an architecture of its own. ``alpha``, ``temperature``, ``mixup`` and ``lr`` are
    searched alongside.
    """

    prefix, role = "student", "student-trial"

    def __init__(self, plan: Plan, teacher: str | Path | None = None) -> None:
        pcfg = plan.pipeline.config
        self.plan, self.pcfg = plan, pcfg
        self.cfg: DistillConfig = pcfg.distill or DistillConfig()  # type: ignore[call-arg]
        self.name = f"{plan.name}-student"
        self.teacher_path = Path(teacher) if teacher is not None else plan.folder.best_model
        self.teacher_given = teacher is not None
        self.epochs = self.cfg.epochs or STUDENT_EPOCHS * plan.epochs
        self.batch_size = pcfg.train.batch_size
        self.best_path = plan.folder.staged(plan.folder.student_model)  # published when the run completes
        self.engine_options: dict[str, Any] = {}  # enqueued or warm-started trials belong to the tuning study
        # the student study optimizes the tuning study's metric alone (its objectives and budgets are the
        # tuning study's)
        self.objectives = Objectives()
        self.constraints: tuple[Any, ...] = ()
        self.measure = None
        self.budget: int | None = None  # a fresh student study per run: `trials` is its size
        self.spec = ModelSpec.from_arrays(plan.data.x_train, plan.data.y_train, plan.data.task,
                                          plan.data.num_classes, embeddings=plan.data.embeddings,
                                          metrics=plan.epoch_metrics)
        if not self.teacher_path.exists():
            raise StudyError(f"no teacher model at {self.teacher_path}: run `automl run "
                             f"{plan.pipeline.file}` first (or pass a .keras teacher)")
        self.teacher = self._load_teacher()
        self.teacher_params = int(self.teacher.count_params())
        self.teacher_block, self.teacher_hp = self._teacher_architecture() if self.cfg.student is None else ("", {})
        self.space = self._space()
        self.sampler = pcfg.study.sampler
        if self.sampler == "grid":
            try:
                self.space.grid()
            except ValueError:
                self.sampler = "random"  # the default distill ranges are continuous

    # -- the teacher -------------------------------------------------------------------------------
    def _load_teacher(self) -> Any:
        """The teacher model, checked against the pipeline's data; a StudyError naming the file otherwise."""
        where = self.where
        try:
            teacher = load_model(self.teacher_path)
        except ModelLoadError as exc:  # Keras raises ValueError, OSError, zipfile.BadZipFile, KeyError, ...
            raise StudyError(f"{where} is not a Keras model Keras can load: {exc.reason[:200]}") from None
        self._check_teacher(teacher, where)
        return teacher

    @property
    def where(self) -> str:
        return f"{'--teacher: ' if self.teacher_given else ''}{self.teacher_path}"

    def _check_teacher(self, teacher: Any, where: str) -> None:
        """A teacher must read the pipeline's inputs and (classification) give one logit per class."""
        data_shape = (None, *self.spec.input_shape)
        shapes = [tuple(t.shape) for t in getattr(teacher, "inputs", None) or []]
        if shapes != [data_shape]:
            got = shapes[0] if len(shapes) == 1 else shapes
            raise StudyError(f"{where} takes inputs of shape {got}, but the pipeline's data has shape {data_shape}")
        if self.spec.task != "classification":
            return
        from automl.builders.distiller import LOGITS_LAYER

        names = [layer.name for layer in teacher.layers]
        if LOGITS_LAYER not in names:  # the soft targets are the teacher's logits, read by layer name
            raise StudyError(f"{where} has no `{LOGITS_LAYER}` layer to distill from (last layers: "
                             f"{', '.join(names[-3:])}): a model built by `automl run` has one")
        classes = teacher.get_layer(LOGITS_LAYER).output.shape[-1]
        if classes != self.spec.num_classes:
            raise StudyError(f"{where} has {classes} logits, but the pipeline's task has {self.spec.num_classes} "
                             "classes")

    def _teacher_architecture(self) -> tuple[str, dict[str, Any]]:
        info_path = self.plan.folder.best_info
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
        extra: dict[str, Param] = {"alpha": cfg.alpha, "temperature": cfg.temperature, "mixup": cfg.mixup}
        if cfg.student is None:
            # the rest of the architecture is the teacher's (see architecture)
            return Space(params={BLOCK: FixedParam(value=self.teacher_block), **extra, "size": cfg.size,
                                 "depth": cfg.depth, "lr": cfg.lr})
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
        return Space(params={**space.params, **extra, "lr": cfg.lr}, owners=space.owners, builders=space.builders)

    # -- one student ---------------------------------------------------------------------------------
    def architecture(self, values: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
        """The student's block, hyperparameters and parameter count for the sampled ``values``."""
        block, hp = self.space.decode(values)
        hp = {k: v for k, v in hp.items() if k not in DISTILL_PARAMS}
        if self.cfg.student is None:
            budget = max(1, int(float(values["size"]) * self.teacher_params))
            fitted = fit_to_budget(block, {**self.teacher_hp, "lr": hp["lr"]}, self.spec, budget,
                                   depth=float(values["depth"]))
            return block, fitted.hp, fitted.n_params
        return block, hp, int(build_model(block, hp, self.spec).count_params())

    def student_request(self, number: int, values: dict[str, Any], spec: ModelSpec, *,
                        distilled: bool = True) -> tuple[TrialRequest, dict[str, Any]]:
        """The request that trains the student of ``values`` (from the teacher, or from scratch), and its hp."""
        block, hp, _ = self.architecture(values)
        batch_size = int(hp.get("batch_size") or self.batch_size)
        # no class weights for either student: the distillation loss weighs no samples, and the scratch
        # baseline must train on the same terms
        hp = {**hp, "batch_size": batch_size, "epochs": self.epochs, "class_weight": "none"}
        teacher = Teacher(path=str(self.teacher_path.resolve()), alpha=float(values["alpha"]),
                          temperature=float(values["temperature"]), mixup=float(values["mixup"]),
                          imports=tuple(b.target for b in self.plan.space.builders.values())) if distilled else None
        return TrialRequest(number=number, block=block, hp=hp, spec=spec, metric=self.plan.metric,
                            direction=self.plan.direction, epochs=self.epochs, batch_size=batch_size,
                            seed=self.pcfg.seed, timeout=self.pcfg.study.trial_timeout, teacher=teacher), hp

    def sample(self, trial: EngineTrial) -> dict[str, Any]:
        return self.space.sample(trial)

    def request(self, trial: EngineTrial, values: dict[str, Any], spec: ModelSpec
                ) -> tuple[TrialRequest, dict[str, Any]]:
        request, hp = self.student_request(trial.number, values, spec)
        return request, {**values, **{f"hp.{k}": v for k, v in hp.items()}}

    def metrics(self, result: TrialResult) -> dict[str, float]:
        return {"params_ratio": result.n_params / max(1, self.teacher_params)}

    def kept(self, number: int, value: float, params: dict[str, Any], **extra: Any) -> None:
        """The best student is described once the study ends (:mod:`automl.distill.study`)."""

    def for_workers(self) -> Callable[[Plan], StudentObjective]:
        return functools.partial(StudentObjective, teacher=str(self.teacher_path.resolve()))
