"""Export a pipeline's model to TFLite in every configured format, re-validate, log and register.

Files go to ``mlruns/<name>/export/<model>_<format>.tflite`` with a ``<model>_<format>.json`` beside each
(its validation and input/output spec). One MLflow run per export holds both as artifacts and the numbers
as metrics; each file becomes a version of the registered model ``<name>-tflite`` with its format and
validation numbers as tags, and an alias per format pointing at the latest one (``@int8``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from automl._text import one_of
from automl.config.loader import Pipeline
from automl.config.models import ExportConfig
from automl.data.rows import take
from automl.errors import ConfigError, ExportError
from automl.plan import Plan, make_plan
from automl.runtime import import_keras
from automl.stats import metric_drop, over_max_drop
from automl.store.folder import ModelLoadError, file_digest, load_model, read_json, write_bytes, write_json
from automl.tflite.convert import ConvertOptions, convert
from automl.tflite.device import LATENCY_SOURCE
from automl.tflite.prepare import inference_model
from automl.tflite.validate import Validation, keras_outputs, keras_reference, validate
from automl.tracking.mlflow import Tracker
from automl.tracking.registry import register_file


@dataclass
class ExportedFile:
    format: str
    path: str
    json_path: str
    validation: Validation
    registered_version: str | None = None
    recovery: Any = None  # int8: the recovery ladder's outcome (automl.export.recovery.Recovery), None when off


@dataclass
class ExportResult:
    """What :func:`export` returns: one :class:`ExportedFile` per format, in the order exported."""

    name: str
    model: str  # best | student | the stem of a .keras file
    model_path: str
    files: list[ExportedFile] = field(default_factory=list)
    parent_run_id: str = ""
    #: export.sparsity: the pruned model's record (sparsity measured, fine-tune, drop vs the dense model on the
    #: validation and test splits) and its files, ``<model>_sparse_<format>.tflite``, in the order exported
    sparse: dict[str, Any] | None = None
    sparse_files: list[ExportedFile] = field(default_factory=list)

    @property
    def flagged(self) -> list[ExportedFile]:
        return [f for f in self.files if f.validation.flagged]


def export(pipeline: Pipeline, *, model: str | Path | None = None, formats: list[str] | None = None,
           io: str | None = None, tracking_uri: str | None = None, storage: str | None = None,
           plan: Plan | None = None, distilled: Any = None) -> ExportResult:
    """Export ``model`` (best | student | auto | a .keras path; default ``export.model``) of ``pipeline``.

    ``formats`` and ``io`` override the pipeline's ``export`` section (whose defaults apply when it has none).
    ``plan`` and ``distilled`` (an :class:`automl.distill.DistillResult`) are what ``automl run`` hands on from
    its earlier stages: the plan is not made again, and ``auto`` takes this run's student when it has one.

    >>> from automl.config import load_pipeline
    >>> result = export(load_pipeline("pipelines/quickstart.yaml"), formats=["int8"])  # doctest: +SKIP
    >>> [(f.format, f.validation.size_kib, f.validation.drop) for f in result.files]  # doctest: +SKIP
    """
    import_keras()
    cfg = pipeline.config.export or ExportConfig()  # type: ignore[call-arg]
    updates: dict[str, Any] = {}
    if formats:
        updates["formats"] = formats
    if io:
        updates["io"] = io
    if updates:
        from pydantic import ValidationError

        from automl.config.errors import config_error

        try:
            cfg = ExportConfig.model_validate({**cfg.model_dump(), **updates})
        except ValidationError as exc:
            raise config_error(exc, ExportConfig, file=pipeline.file, prefix="export.") from None
    plan = plan or make_plan(pipeline, storage=storage)
    label, path = _pick_model(plan, model if model is not None else cfg.model, distilled)
    return _Export(plan, cfg, label, path, tracking_uri).run()


def _pick_model(plan: Plan, choice: str | Path, distilled: Any = None) -> tuple[str, Path]:
    best, student = plan.folder.best_model, plan.folder.student_model
    file = plan.pipeline.file
    if choice == "auto":  # the student of today's best model that won on validation, else the best model
        if distilled is not None and distilled.student_path:  # this run's own students
            if distilled.pick == "scratch" and distilled.scratch_path:
                return "student_scratch", Path(distilled.scratch_path)
            return "student", Path(distilled.student_path)
        if distilled is None and student.exists() and _student_is_current(plan):
            info = read_json(plan.folder.student_info) or {}
            if info.get("pick") == "scratch" and plan.folder.scratch_model.exists():
                return "student_scratch", plan.folder.scratch_model
            return "student", student
        return ("best", best) if best.exists() else _missing(best, f"run `automl run {file}` first")
    if choice == "best":
        return ("best", best) if best.exists() else _missing(best, f"run `automl run {file}` first")
    if choice == "student":
        return ("student", student) if student.exists() else _missing(
            student, f"run `automl distill {file}` first")
    path = Path(choice)
    if not path.exists():
        _missing(path, "expected best, student or a .keras file")
    return path.stem, path


def _student_is_current(plan: Plan) -> bool:
    """Whether student.keras was distilled from today's best.keras: student.json records the teacher's SHA-256
    (a student of an earlier best model is stale once the study has found a newer one). A student of another
    teacher (``--teacher``), or of a release that recorded no digest, is current when it is newer."""
    folder = plan.folder
    best, student = folder.best_model, folder.student_model
    if not best.exists():
        return True
    info = read_json(folder.student_info) or {}
    teacher = Path(str(info.get("teacher", "")))
    if info.get("teacher_sha256") and teacher.resolve() == best.resolve():
        return bool(info["teacher_sha256"] == file_digest(best))
    return student.stat().st_mtime >= best.stat().st_mtime


def _missing(path: Path, hint: str) -> Any:
    raise ExportError(f"no model at {path}: {hint}")


def _load(path: Path) -> Any:
    try:
        return load_model(path, compile=False)
    except ModelLoadError as exc:  # not a Keras file, or a custom layer not registered here
        raise ExportError(f"cannot load {path} as a Keras model: {exc.error}") from None


def export_pareto(pipeline: Pipeline, *, pick: str | None = None, formats: list[str] | None = None,
                  io: str | None = None, tracking_uri: str | None = None, storage: str | None = None
                  ) -> list[ExportResult]:
    """Export the kept model of every Pareto trial of a multi-objective study (``pick``: only the trial with the
    best first validation objective among those meeting the budget ``pick``, e.g. ``"tflite_latency_ms <= 1"``)
    to ``mlruns/<name>/export/pareto/trial_<n>_<format>.tflite``, each re-validated and registered with the
    aliases ``trial_<n>_<format>`` (the per-format aliases of the best model do not move).

    >>> pipeline = load_pipeline("pipelines/mobile_pareto.yaml")  # doctest: +SKIP
    >>> results = export_pareto(pipeline, pick="tflite_kib <= 64")  # doctest: +SKIP

    """
    import_keras()
    cfg = pipeline.config.export or ExportConfig()  # type: ignore[call-arg]
    updates = {k: v for k, v in (("formats", formats), ("io", io)) if v}
    if updates:
        from pydantic import ValidationError

        from automl.config.errors import config_error

        try:
            cfg = ExportConfig.model_validate({**cfg.model_dump(), **updates})
        except ValidationError as exc:
            raise config_error(exc, ExportConfig, file=pipeline.file, prefix="export.") from None
    plan = make_plan(pipeline, storage=storage)
    members = choose(plan, pick)
    results = []
    for member in members:
        number = int(member["trial"])
        path = plan.folder.trial_model(number)
        if not path.exists():
            _missing(path, f"the model of Pareto trial {number} is not kept; run `automl run {pipeline.file}` again")
        results.append(_Export(plan, cfg, f"trial_{number}", path, tracking_uri,
                               folder=plan.folder.export_dir / "pareto", alias_prefix=f"trial_{number}_").run())
    return results


def choose(plan: Plan, pick: str | None) -> list[dict[str, Any]]:
    """The Pareto members to export: all, or the one a ``--pick`` budget selects (on validation values)."""
    from automl.config.constraints import parse_constraint

    front = read_json_list(plan.folder.pareto)
    if not front:
        raise ExportError(f"no Pareto front at {plan.folder.pareto}: `--pareto` and `--pick` export the front of a "
                          f"multi-objective study (study.objectives); run `automl run {plan.pipeline.file}` first")
    if pick is None:
        return front
    try:
        budget = parse_constraint(pick)
    except ValueError as exc:
        raise ConfigError(str(exc), path="--pick") from None
    known = sorted({k for m in front for k in (*m.get("values", {}), *m.get("measured", {}))})
    if budget.metric not in known:
        raise ConfigError(one_of(budget.metric, known, "metric of the Pareto front"), path="--pick")
    metric, direction = plan.metric, plan.direction  # the first val_ objective: validation, never test

    def value(member: dict[str, Any], name: str) -> float:
        return float({**member.get("measured", {}), **member.get("values", {})}.get(name, math.nan))

    meeting = [m for m in front if budget.holds(value(m, budget.metric)) and math.isfinite(value(m, metric))]
    if not meeting:
        closest = min(front, key=lambda m: budget.violation(value(m, budget.metric)))
        raise ExportError(f"no Pareto trial meets --pick '{budget}': the closest is trial {closest['trial']} with "
                          f"{budget.broken(value(closest, budget.metric))}")
    best = max if direction == "maximize" else min
    return [best(meeting, key=lambda m: value(m, metric))]


def read_json_list(path: Path) -> list[dict[str, Any]]:
    import json

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [m for m in doc if isinstance(m, dict) and "trial" in m] if isinstance(doc, list) else []


class _Export:
    def __init__(self, plan: Plan, cfg: ExportConfig, label: str, path: Path, tracking_uri: str | None, *,
                 folder: Path | None = None, alias_prefix: str = "") -> None:
        self.plan, self.cfg, self.label, self.path = plan, cfg, label, path
        self.max_drop = cfg.max_drop  # export.max_drop, read here only (automl.stats.over_max_drop tests a drop)
        self.folder = folder or plan.folder.export_dir
        self.alias_prefix = alias_prefix  # Pareto trials: their own aliases, so the best model's stay put
        self.tracker = Tracker(plan.name, tracking_uri, artifact_root=plan.output_dir.parent / "artifacts")
        #: export.measure.command: every file's latency (the recovery ladder's too) timed on the device
        self.device = cfg.measure.device("export.measure.command")

    def _check_shape(self, model: Any) -> None:
        want = tuple(self.plan.data.input_shape)
        got = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
        if got is not None and tuple(d for d in got) != want:
            raise ExportError(f"model {self.path} takes inputs of shape {got}, but the data of "
                              f"{self.plan.pipeline.file} has shape {want}")

    def _representative(self) -> Any:
        """``export.representative_samples`` training rows, drawn from the seed: lazy rows of the source's files
        when the split is read from files (read while the converter calibrates), else the rows as they are."""
        x = self.plan.data.x_train
        rng = np.random.default_rng(self.plan.pipeline.config.seed or 0)
        n = min(self.cfg.representative_samples, len(x))
        return take(x, np.sort(rng.choice(len(x), size=n, replace=False)))

    def run(self) -> ExportResult:
        plan, cfg = self.plan, self.cfg
        data = plan.data
        model = _load(self.path)
        self._check_shape(model)
        prepared = inference_model(model)
        x_test = data.x_test  # read batch by batch wherever it is used: never whole, never whole as float32
        ref = keras_reference(model, x_test, data.y_test, data.task, cfg.latency_runs)
        options = ConvertOptions(representative=self._representative() if "int8" in cfg.formats else None,
                                 io=cfg.io, per_channel=cfg.per_channel)
        self.folder.mkdir(parents=True, exist_ok=True)
        result = ExportResult(name=plan.name, model=self.label, model_path=str(self.path))
        parent = self.tracker.start_run(f"{plan.name}-export-{self.label}", tags={
            "automl.study": plan.name, "automl.role": "export", "automl.model": self.label,
            LATENCY_SOURCE: "interpreter" if self.device is None else "command"})
        result.parent_run_id = parent
        self.tracker.log(parent, params={
            "model": str(self.path), "formats": ",".join(cfg.formats), "io": cfg.io, "per_channel": cfg.per_channel,
            "representative_samples": cfg.representative_samples, "max_drop": self.max_drop,
            "int8_recovery": cfg.int8_recovery, "int8_integer_only": cfg.int8_integer_only,
            "qat_epochs": cfg.qat_epochs, "qat_lr": cfg.qat_lr,
            "test_samples": len(x_test), "keras_params": int(model.count_params())})
        try:
            for fmt in cfg.formats:
                result.files.append(self._one(fmt, prepared, ref, x_test, options, parent))
            if cfg.sparsity is not None:
                result.sparse, result.sparse_files = self._sparse(model, ref, x_test, options, parent, result.files)
        except BaseException:
            self.tracker.end(parent, "FAIL")
            raise
        metric = result.files[0].validation.metric
        flagged = [f.format for f in result.flagged]
        self.tracker.log(parent, metrics={f"keras_{metric}": ref.value, "keras_latency_ms": ref.latency_ms},
                         tags={"automl.flagged": ",".join(flagged) or "none"})
        self.tracker.end(parent, "COMPLETE")
        return result

    def _write_checked(self, tflite: Path, content: bytes, fmt: str, ref: Any, x_test: Any,
                       io: Any) -> Validation:
        """Write ``content`` to ``tflite`` and validate it in the interpreter against ``ref`` on the test split;
        its size against the float32 file, and how to feed it."""
        cfg, data = self.cfg, self.plan.data
        write_bytes(tflite, content)
        check = validate(content, fmt, ref, x_test, data.y_test, task=data.task, max_drop=self.max_drop,
                         latency_runs=cfg.latency_runs, file=tflite, io=io, device=self.device)
        reference = self.folder / f"{self.label}_float32.tflite"
        if reference.exists() and "float32" in cfg.formats:
            check.size_ratio = len(content) / reference.stat().st_size
        check.usage = _usage(data, check)
        return check

    def _one(self, fmt: str, prepared: Any, ref: Any, x_test: Any, options: ConvertOptions,
             parent: str) -> ExportedFile:
        plan, cfg, data = self.plan, self.cfg, self.plan.data
        io = cfg.io if fmt == "int8" else "float32"
        # an int8 file with int8/uint8 inputs and outputs is another file: its own name and registry alias, so it
        # never replaces (or moves the alias of) the float-I/O int8 file
        variant = fmt if io == "float32" else f"{fmt}_{io}"
        content = convert(prepared, fmt, options)
        recovery = None
        if fmt == "int8" and cfg.int8_recovery:  # plain int8 over max_drop on validation: the ladder's file ships
            from automl.export.recovery import QatOptions, recover_int8

            qat = QatOptions(epochs=cfg.qat_epochs, lr=cfg.qat_lr, batch_size=plan.pipeline.config.train.batch_size)
            recovery = recover_int8(prepared, content, options, data=data, max_drop=self.max_drop,
                                    configured_samples=cfg.representative_samples, seed=plan.pipeline.config.seed
                                    or 0, folder=self.folder, label=self.label, ref=ref, x_test=x_test,
                                    latency_runs=cfg.latency_runs, stem=f"{self.label}_{variant}",
                                    int8_integer_only=cfg.int8_integer_only, qat=qat, device=self.device)
            content = recovery.content
        tflite = self.folder / f"{self.label}_{variant}.tflite"
        check = self._write_checked(tflite, content, fmt, ref, x_test, io)
        report = self.folder / f"{self.label}_{variant}.json"
        extra: dict[str, Any] = {}
        if fmt == "int8":
            from automl.export.recovery import finish, mlflow_fields

            extra = finish(recovery, check, content)
            metrics, tags = mlflow_fields(recovery, extra["integer_only"])
            self.tracker.log(parent, metrics=metrics, tags=tags)
            if recovery is not None and recovery.plain_file:
                self.tracker.log_artifact(parent, recovery.plain_file, "export")
                self.tracker.log_artifact(parent, recovery.plain_file.replace(".tflite", ".json"), "export")
        write_json(report, {"model": str(self.path), **check.to_dict(), **extra})
        m = check.metric
        self.tracker.log(parent, metrics={
            f"{fmt}_size_kib": check.size_kib, f"{fmt}_{m}": check.tflite_value, f"{fmt}_drop": check.drop,
            f"{fmt}_latency_ms": check.latency_ms_median, f"{fmt}_latency_p90_ms": check.latency_ms_p90,
            f"{fmt}_mean_abs_diff": check.mean_abs_diff,
            **({f"{fmt}_drop_ci_low": check.drop_interval.low, f"{fmt}_drop_ci_high": check.drop_interval.high}
               if check.drop_interval is not None else {}),
            **({f"{fmt}_agreement": check.agreement} if check.agreement is not None else {})},
            tags={f"automl.{fmt}.flagged": check.flagged,
                  **({f"automl.{fmt}.latency_output": check.latency_output} if check.latency_output else {})})
        self.tracker.log_artifact(parent, tflite, "export")
        self.tracker.log_artifact(parent, report, "export")
        version = register_file(
            self.tracker, f"{plan.name}-tflite", parent, f"export/{tflite.name}", tflite,
            alias=self.alias_prefix + variant,
            tags={"format": fmt, "io": io, "per_channel": cfg.per_channel, "model": self.label,
                  "size_kib": round(check.size_kib, 2),
                  m: check.tflite_value, f"keras_{m}": check.keras_value, "drop": check.drop,
                  "flagged": check.flagged, "agreement": check.agreement,
                  "latency_ms_median": check.latency_ms_median, "latency_ms_p90": check.latency_ms_p90,
                  **({"integer_only": extra["integer_only"], "recovery": extra["recovery"].get("took", "off")}
                     if extra else {})},
            description=f"TFLite exports of {plan.name} (tags: format, validation on the test split)")
        return ExportedFile(format=fmt, path=str(tflite), json_path=str(report), validation=check,
                            registered_version=version, recovery=recovery)


    def _sparse(self, dense: Any, ref: Any, x_test: Any, options: ConvertOptions, parent: str,
                dense_files: list[ExportedFile]) -> tuple[dict[str, Any], list[ExportedFile]]:
        """export.sparsity: prune a fresh copy of the model during a short fine-tune, compare it with the dense
        model (validation decides, test is reported), and convert it to every format beside the dense files."""
        import gzip

        from automl.export.sparsity import PRUNED, measure, prune
        from automl.tflite.convert import SPARSE_ENCODED
        from automl.tflite.validate import drop_interval, score

        plan, cfg, data = self.plan, self.cfg, self.plan.data
        assert cfg.sparsity is not None
        seed = plan.pipeline.config.seed or 0
        sparse = _load(self.path)
        tune = prune(sparse, data, target=cfg.sparsity, epochs=cfg.sparsity_epochs,
                     batch_size=plan.pipeline.config.train.batch_size, learning_rate=cfg.sparsity_lr, seed=seed)
        measured = measure(sparse)
        keras_path = self.folder / f"{self.label}_sparse.keras"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sparse.save(keras_path)

        x_val = data.x_val
        dense_val = score(keras_outputs(dense, x_val), data.y_val, data.task)
        sparse_val = score(keras_outputs(sparse, x_val), data.y_val, data.task)
        test_out = keras_outputs(sparse, x_test)
        sparse_test = score(test_out, data.y_test, data.task)
        interval = drop_interval(test_out.reshape(ref.outputs.shape), ref.outputs, data.y_test, data.task)
        val_drop = metric_drop(dense_val, sparse_val, data.task)
        metric = "accuracy" if data.task == "classification" else "mae"
        record: dict[str, Any] = {
            "target": cfg.sparsity, "keras_model": str(keras_path), "dense_model": str(self.path),
            "pruned": "kernels of " + ", ".join(sorted(PRUNED)) + " layers (per layer, smallest magnitudes); "
                      "biases, normalization and embedding layers stay dense",
            "measured": measured, "fine_tune": tune.to_dict(), "metric": metric, "max_drop": self.max_drop,
            "decided_on": "validation",
            "validation": {"dense": dense_val, "sparse": sparse_val, "drop": val_drop, "samples": len(x_val),
                           "flagged": over_max_drop(val_drop, self.max_drop)},
            "test": {"dense": ref.value, "sparse": sparse_test, "drop": metric_drop(ref.value, sparse_test, data.task),
                     "samples": len(x_test), "interval": interval.to_dict()},
        }
        self.tracker.log(parent, params={"sparsity": cfg.sparsity, "sparsity_epochs": cfg.sparsity_epochs,
                                         "sparsity_lr": cfg.sparsity_lr, "sparse_encoding": cfg.sparse_encoding},
                         metrics={"sparsity_kernels": measured["kernels"], "sparsity_all": measured["all"],
                                  "sparse_val_drop": val_drop, "sparse_test_drop": record["test"]["drop"],
                                  f"sparse_keras_{metric}": sparse_test},
                         tags={"automl.sparse.flagged": record["validation"]["flagged"]})
        self.tracker.log_artifact(parent, str(keras_path), "export")
        prepared = inference_model(sparse)
        sparse_options = replace(options, sparse_encoding=cfg.sparse_encoding)
        dense_by_format = {f.format: f for f in dense_files}
        files = []
        for fmt in cfg.formats:
            io = cfg.io if fmt == "int8" else "float32"
            variant = fmt if io == "float32" else f"{fmt}_{io}"
            content = convert(prepared, fmt, options)
            encoding = "dense"
            if cfg.sparse_encoding and fmt in SPARSE_ENCODED:  # TFLite's sparse tensors, where they are smaller
                encoded = convert(prepared, fmt, sparse_options)
                if len(encoded) < len(content):
                    content, encoding = encoded, "sparse tensors"
                else:
                    encoding = f"dense (sparse tensors: {len(encoded)} bytes, not smaller)"
            tflite = self.folder / f"{self.label}_sparse_{variant}.tflite"
            # against the dense Keras model: the drop is everything the sparse file loses (pruning and format)
            check = self._write_checked(tflite, content, fmt, ref, x_test, io)
            dense_file = dense_by_format[fmt]
            dense_content = Path(dense_file.path).read_bytes()
            gz, dense_gz = len(gzip.compress(content, 9)), len(gzip.compress(dense_content, 9))
            dense_latency = dense_file.validation.latency_ms_median
            one = {**record, "encoding": encoding, "dense_file": dense_file.path, "size_bytes": len(content),
                   "dense_size_bytes": len(dense_content), "size_ratio": len(content) / len(dense_content),
                   "gzip_bytes": gz, "dense_gzip_bytes": dense_gz,
                   "gzip_ratio": gz / dense_gz,
                   "latency_ratio": check.latency_ms_median / dense_latency if dense_latency > 0 else None}
            report = self.folder / f"{self.label}_sparse_{variant}.json"
            write_json(report, {"model": str(keras_path), **check.to_dict(), "sparsity": one})
            key = f"sparse_{fmt}"
            self.tracker.log(parent, metrics={
                f"{key}_size_kib": check.size_kib, f"{key}_gzip_kib": gz / 1024, f"{key}_gzip_ratio": gz / dense_gz,
                f"{key}_{metric}": check.tflite_value, f"{key}_drop": check.drop,
                f"{key}_latency_ms": check.latency_ms_median,
                **({f"{key}_latency_ratio": one["latency_ratio"]} if one["latency_ratio"] is not None else {})},
                tags={f"automl.{key}.flagged": check.flagged})
            self.tracker.log_artifact(parent, tflite, "export")
            self.tracker.log_artifact(parent, report, "export")
            version = register_file(
                self.tracker, f"{plan.name}-tflite", parent, f"export/{tflite.name}", tflite,
                alias=f"{self.alias_prefix}sparse_{variant}",
                tags={"format": fmt, "io": io, "per_channel": cfg.per_channel, "model": self.label,
                      "sparsity": round(measured["kernels"], 4), "size_kib": round(check.size_kib, 2),
                      "gzip_kib": round(gz / 1024, 2), "gzip_ratio": round(gz / dense_gz, 4),
                      metric: check.tflite_value, f"keras_{metric}": check.keras_value, "drop": check.drop,
                      "flagged": check.flagged, "latency_ms_median": check.latency_ms_median},
                description=f"TFLite exports of {plan.name} (tags: format, validation on the test split)")
            files.append(ExportedFile(format=fmt, path=str(tflite), json_path=str(report), validation=check,
                                      registered_version=version))
        return record, files


def _usage(data: Any, check: Validation) -> dict[str, Any]:
    """What a caller of the file needs to know beyond tensor shapes."""
    shape = ["batch", *data.input_shape]
    raw = f"raw features exactly as data source '{data.source}' gives them"
    usage: dict[str, Any] = {
        "input_values": f"{raw}, shape {shape}; the normalization is inside the model" if not check.input.scale
        else (f"{raw}, quantized to {check.input.dtype}: q = clip(round(x / {check.input.scale:.9g} + "
              f"{check.input.zero_point})), shape {shape}; the normalization is inside the model"),
        "output_values": ("class probabilities (softmax), one per class" if data.task == "classification"
                          else "the prediction in the target's units") + (
            f", quantized: y = (q - {check.output.zero_point}) * {check.output.scale:.9g}" if check.output.scale
            else ""),
    }
    if data.class_names:
        usage["class_names"] = list(data.class_names)
    if check.input.scale:
        usage["quantize_input"] = "q = clip(round(x / scale + zero_point)) in the input dtype"
    if check.output.scale:
        usage["dequantize_output"] = "y = (q - zero_point) * scale"
    return usage
