"""The Python API; the CLI is a thin layer over these functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl._text import show
from automl.config.loader import Pipeline, load_pipeline, load_space_file, parse_overrides, read_yaml
from automl.errors import ConfigError
from automl.plan import make_plan
from automl.progress import Progress
from automl.space.space import resolve_space
from automl.study.tune import TuneResult
from automl.study.tune import tune as _tune

if TYPE_CHECKING:
    from automl.distill import DistillResult
    from automl.export import ExportResult
    from automl.predict import LoadedModel
    from automl.report import Report
    from automl.study.shared import WorkerResult

Overrides = Mapping[str, Any] | Iterable[str] | None


def _pipeline(pipeline: str | Path | Pipeline, overrides: Overrides, from_study: str | None = None) -> Pipeline:
    if isinstance(pipeline, Pipeline):
        if overrides or from_study is not None:
            raise TypeError("overrides and from_study apply to a pipeline path, not a loaded Pipeline")
        return pipeline
    if from_study is not None:  # `--from-study NAME` is `--set study.from_study=NAME`, checked the same way
        given = overrides if overrides is None or isinstance(overrides, Mapping) else parse_overrides(overrides)
        overrides = {**(given or {}), "study.from_study": from_study}
    return load_pipeline(pipeline, overrides)


def tune(pipeline: str | Path | Pipeline, overrides: Overrides = None, *, new: bool = False,
         tracking_uri: str | None = None, storage: str | None = None,
         progress: Progress | None = None, from_study: str | None = None, continue_: bool = False) -> TuneResult:
    """Run or resume the study of a pipeline; ``overrides`` are dotted keys as with ``--set``.

    ``from_study`` seeds a new study with another study's trials (``study.from_study``; docs/engines.md).
    ``continue_`` goes on with a stored study whose search space changed in ranges or parameters (``--continue``;
    docs/spaces.md "Change the space and keep going").
    """
    return _tune(_pipeline(pipeline, overrides, from_study), new=new, tracking_uri=tracking_uri, storage=storage,
                 progress=progress, continue_space=continue_)


def _with_budget(overrides: Overrides, budget: int | None) -> Overrides:
    if budget is None:
        return overrides
    given = overrides if overrides is None or isinstance(overrides, Mapping) else parse_overrides(overrides)
    return {**(given or {}), "study.budget": budget}


def worker(pipeline: str | Path | Pipeline, overrides: Overrides = None, *, budget: int | None = None,
           index: int | None = None, tracking_uri: str | None = None, storage: str | None = None,
           progress: Progress | None = None) -> WorkerResult:
    """What ``automl worker`` does: join the pipeline's study from this host (making it if it is the first) and
    run trials until the study's ``budget`` (``study.budget``) is met; its trials nest under the study's one
    session run. ``index``: the worker's number (default: ``JOB_COMPLETION_INDEX``, else drawn from host and
    pid), which also picks its GPU. A host whose package versions or data differ from the study's is refused
    (StudyError).

    >>> worker("pipelines/quickstart.yaml", budget=40, storage="postgresql+psycopg2://...")  # doctest: +SKIP
    """
    from automl.study.shared import work

    return work(_pipeline(pipeline, _with_budget(overrides, budget)), index=index, tracking_uri=tracking_uri,
                storage=storage, progress=progress)


def finish(pipeline: str | Path | Pipeline, overrides: Overrides = None, *, tracking_uri: str | None = None,
           storage: str | None = None, progress: Progress | None = None) -> TuneResult:
    """What ``automl finish`` does: end the study that workers ran, once (a second call returns the first's
    result with ``finished_before``): the best trial's model fetched from MLflow, refit, tested, logged to the
    study's session run and registered.
    """
    from automl.study.shared import finish as _finish

    return _finish(_pipeline(pipeline, overrides), tracking_uri=tracking_uri, storage=storage, progress=progress)


def run(pipeline: str | Path | Pipeline, overrides: Overrides = None, *, new: bool = False,
        tracking_uri: str | None = None, storage: str | None = None,
        progress: Progress | None = None, from_study: str | None = None, continue_: bool = False) -> TuneResult:
    """What ``automl run`` does: tune the pipeline (and, when configured, the later stages).

    Ctrl-C (SIGINT) or SIGTERM stops at the next safe point (an epoch's end, between trials, between stages)
    with every run closed: the result says ``interrupted``, or :class:`automl.signals.Interrupted` is raised
    when the stop came after the trials. A second signal stops at once.

    It prints nothing: ``progress`` observes the study. To see what the command line shows (bars in a terminal,
    one line per trial elsewhere), pass ``automl.console.RichProgress(rich.console.Console())``; to collect
    the events, :class:`automl.progress.Events`. Everything is also in MLflow as it happens.

    >>> result = run("pipelines/quickstart.yaml", overrides={"study.trials": 5})  # doctest: +SKIP
    >>> result.best_params, result.best_value, result.model_path, result.parent_run_id  # doctest: +SKIP
    >>> from rich.console import Console; from automl.console import RichProgress  # doctest: +SKIP
    >>> run("pipelines/quickstart.yaml", progress=RichProgress(Console()))  # doctest: +SKIP
    """
    from automl import signals

    loaded = _pipeline(pipeline, overrides, from_study)
    with signals.handling():  # one Ctrl-C stops at the next safe point of whichever stage runs
        result = tune(loaded, new=new, tracking_uri=tracking_uri, storage=storage, progress=progress,
                      continue_=continue_)
        if result.interrupted or result.model_path is None:
            return result
        # one plan for every stage, and each stage's result handed to the next
        if loaded.config.distill is not None:
            signals.check()
            from automl.distill import distill as _distill

            result.distill = _distill(loaded, tracking_uri=tracking_uri, progress=progress, plan=result.plan)
        if loaded.config.export is not None:
            signals.check()
            from automl.export import export as _export

            result.export = _export(loaded, tracking_uri=tracking_uri, plan=result.plan, distilled=result.distill)
    return result


def distill(pipeline: str | Path | Pipeline, overrides: Overrides = None, *, tracking_uri: str | None = None,
            storage: str | None = None, progress: Progress | None = None,
            teacher: str | Path | None = None) -> DistillResult:
    """Distill the study's best model (or ``teacher``, a .keras file) into a smaller student.

    Runs the student study of the pipeline's ``distill`` section (defaults when it has none), trains the
    same student from scratch as the baseline and logs both; see docs/export.md.

    >>> result = distill("pipelines/quickstart.yaml", {"distill.trials": 4})  # doctest: +SKIP
    >>> result.distilled_test, result.scratch_test, result.verdict  # doctest: +SKIP
    """
    from automl.distill import distill as _distill

    return _distill(_pipeline(pipeline, overrides), tracking_uri=tracking_uri, storage=storage,
                    progress=progress, teacher=teacher)


def export(target: str | Path | Pipeline, overrides: Overrides = None, *, data: str | Path | None = None,
           model: str | Path | None = None, formats: list[str] | None = None, io: str | None = None,
           tracking_uri: str | None = None, storage: str | None = None) -> ExportResult:
    """Export to TFLite, re-validate every file in the interpreter, log and register them.

    ``target`` is a pipeline (its student, else its best model; ``model`` picks best | student | a .keras
    path) or a .keras file trained elsewhere, with ``data`` the pipeline whose data validates it.

    >>> result = export("pipelines/quickstart.yaml", formats=["int8"])  # doctest: +SKIP
    >>> result = export("model.keras", data="pipelines/quickstart.yaml", formats=["int8"])  # doctest: +SKIP
    >>> [(f.format, f.validation.size_kib, f.validation.drop) for f in result.files]  # doctest: +SKIP
    """
    from automl.config.loader import refuse_session_keys
    from automl.export import export as _export

    refuse_session_keys(overrides, "export")  # `--trials 5` on export would be silently ignored
    if not isinstance(target, Pipeline) and Path(target).suffix not in (".yaml", ".yml"):
        if data is None:
            raise ConfigError(f"exporting the model file {target} needs a pipeline for its data: pass "
                              "--data PIPELINE", path="--data")
        if model is not None:
            raise ConfigError(f"give either a model file ({target}) or --model, not both", path="--model")
        target, model = data, target
    elif data is not None:
        raise ConfigError("--data applies to exporting a .keras file, not a pipeline", path="--data")
    if not isinstance(target, Pipeline) and (formats or io):
        # applied as overrides, so a bad value reads like any other: `FILE: export.formats: ...`
        items = dict(parse_overrides(overrides) if overrides is not None and not isinstance(overrides, Mapping)
                     else overrides or {})
        items |= {"export.formats": formats} if formats else {}
        items |= {"export.io": io} if io else {}
        overrides, formats, io = items, None, None
    return _export(_pipeline(target, overrides), model=model, formats=formats, io=io,
                   tracking_uri=tracking_uri, storage=storage)


def export_pareto(target: str | Path | Pipeline, overrides: Overrides = None, *, pick: str | None = None,
                  formats: list[str] | None = None, io: str | None = None, tracking_uri: str | None = None,
                  storage: str | None = None) -> list[ExportResult]:
    """Export every kept Pareto model of a multi-objective study (``pick``: the most accurate one meeting a
    budget such as ``"tflite_latency_ms <= 1.0"``, chosen on validation values) to
    ``mlruns/<name>/export/pareto/trial_<n>_<format>.tflite``, re-validated and registered.

    >>> results = export_pareto("pipelines/mobile_pareto.yaml", pick="tflite_kib <= 64")  # doctest: +SKIP
    """
    from automl.config.loader import refuse_session_keys
    from automl.export.exporter import export_pareto as _export_pareto

    refuse_session_keys(overrides, "export")
    return _export_pareto(_pipeline(target, overrides), pick=pick, formats=formats, io=io,
                          tracking_uri=tracking_uri, storage=storage)


def predict(pipeline: str | Path | Pipeline, data: Any, model: str | Path = "best", output: str | Path | None = None,
            name: str | None = None, overrides: Overrides = None) -> Any:
    """What ``automl predict`` does: the study's model (``best``, ``student`` or a ``.keras`` path) on new raw rows
    (a CSV, NPZ or NPY path, a DataFrame or an array), encoded as the training rows were; a pandas DataFrame with
    ``prediction`` (the class as the training labels had it, or the value in the target's units) and, for
    classes, ``probability_<class>`` per class; written to ``output`` as CSV when given.

    >>> automl.predict("pipelines/csv.yaml", "examples/customers.csv").head()  # doctest: +SKIP
    """
    from automl.predict import predict as _predict

    return _predict(pipeline, data, model=model, output=output, name=name, overrides=overrides)


def load_model(pipeline: str | Path | Pipeline, model: str | Path = "best", *, name: str | None = None,
               overrides: Overrides = None) -> LoadedModel:
    """A study's model with its saved encoding and class names (``.model``, ``.encoding``, ``.class_names``,
    ``.predict(frame_or_array)``); ``pipeline`` is a pipeline file, a study folder (``mlruns/<name>``) or a name.

    >>> loaded = automl.load_model("pipelines/csv.yaml")  # doctest: +SKIP
    >>> loaded.class_names, loaded.predict(pandas.read_csv("examples/customers.csv"))  # doctest: +SKIP
    """
    from automl.predict import load_model as _load_model

    return _load_model(pipeline, model, name=name, overrides=overrides)


@dataclass
class Validated:
    file: str
    kind: str  # pipeline | space
    summary: str
    notes: list[str] = field(default_factory=list)  # valid, but probably not what was meant


def validate(path: str | Path, overrides: Overrides = None) -> Validated:
    """Check a pipeline (with its space and data) or a space file; raises ConfigError with file:key."""
    raw = read_yaml(path)
    if isinstance(raw, dict) and "block" in raw and "name" not in raw:
        space = resolve_space(load_space_file(path), None, file=str(path))
        return Validated(str(path), "space", f"blocks {', '.join(space.blocks)}; {len(space.params)} parameters",
                         _imported(space))
    plan = make_plan(load_pipeline(path, overrides))
    d = plan.data
    return Validated(str(path), "pipeline",
                     f"{d.task} on {d.source} {list(d.input_shape)} ({len(d.x_train)}/{len(d.x_val)}/"
                     f"{len(d.x_test)} train/val/test); blocks {', '.join(plan.space.blocks)}; "
                     f"{plan.metric} {plan.direction}", [*_imported(plan.space), *plan.notes])


def _imported(space: Any) -> list[str]:
    """One note per builder module a check imported (ran): a pipeline or space file runs the Python it names."""
    return [f"imported {b.path or b.module} (block {b.ref}): its code ran; run only pipelines you trust"
            for b in space.builders.values()]


def report(target: str | Path | Pipeline, overrides: Overrides = None, *, tracking_uri: str | None = None,
           output: str | Path | None = None, log: bool = True) -> Report:
    """What ``automl report`` does: an HTML report of a study (by name, or a pipeline's), logged to MLflow.

    >>> report = report("pipelines/quickstart.yaml")  # doctest: +SKIP
    >>> report.path, report.importances, report.study.ranked()[0].params  # doctest: +SKIP
    """
    from automl.report import build_report

    if isinstance(target, Pipeline) or Path(target).suffix in (".yaml", ".yml"):
        name = _pipeline(target, overrides).name
    elif overrides:
        raise ConfigError(f"--set applies to a pipeline file, not to the study name {show(target)}", path="--set")
    else:
        name = str(target)
    return build_report(name, tracking_uri=tracking_uri, output=output, output_dir=None, log=log)


def studies(storage: str | None = None) -> list[dict[str, Any]]:
    """What ``automl studies`` lists: every study in the Optuna storage (name, trial counts, best value).

    A storage that does not exist yet holds no study (and is not created).
    """
    from automl.engines import list_studies
    from automl.plan import DEFAULT_STORAGE
    from automl.store.access import not_made_yet
    from automl.tracking.mlflow import absolute_sqlite

    url = absolute_sqlite(storage or DEFAULT_STORAGE)
    if not_made_yet(url):
        return []
    return sorted(list_studies(url), key=lambda r: str(r["name"]))


__all__ = ["TuneResult", "Validated", "distill", "export", "load_model", "load_pipeline", "predict", "report", "run",
           "studies", "tune", "validate"]
