"""The ``automl`` command: thin typer layer over :mod:`automl.api`; rich renders."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from automl.errors import AutomlError, ConfigError
from automl.states import TrialState

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Keras AutoML: YAML pipeline -> tuned Keras model -> MLflow.")
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}

T = TypeVar("T")

SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a key: dotted.key=value (YAML).")]
TrialsOpt = Annotated[int | None, typer.Option("--trials", "-n", help="Shorthand for --set study.trials=N.")]
StorageOpt = Annotated[str | None, typer.Option("--storage", help="Optuna storage URL (default: study.storage, "
                                                "AUTOML_STORAGE or sqlite:///mlruns/optuna.db).")]
TrackingOpt = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: "
                                                 "MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).")]
BudgetOpt = Annotated[int | None, typer.Option("--budget", help="Shorthand for --set study.budget=N: the study's "
                                               "total trials over every host and worker.", metavar="N")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Study name instead of the pipeline's `name` (its own "
                                             "study, MLflow experiment and mlruns/NAME/); --set name=NAME.",
                                             metavar="NAME")]

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Every trial's parameters.")]


def _overrides(sets: list[str] | None, trials: int | None, name: str | None = None,
               budget: int | None = None) -> list[str]:
    items = list(sets or [])
    if trials is not None:
        items.append(f"study.trials={trials}")
    if budget is not None:
        items.append(f"study.budget={budget}")
    if name is not None:  # quoted: `--name 2024` or `--name yes` is the string, as written
        items.append(f"name={json.dumps(name)}")
    return items


def _guard(fn: Callable[[], T], *, stopped: str = "") -> T:
    """Run ``fn``; an AutomlError becomes its lines on stderr and exit code 2 (traceback with --debug); a stop
    (Ctrl-C, SIGTERM) exits 130 / 143 with ``stopped`` (what is left and how to go on) after the reason."""
    try:
        return fn()
    except AutomlError as exc:
        if _state["debug"]:
            raise
        from automl.store.access import scrub

        for line in scrub(str(exc)).splitlines():
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # typer would make it exit 130 whatever the signal: 143 after SIGTERM
        from automl import signals

        signals.hold()  # every run is closed already: nothing may cut the exit short
        err_console.print(f"{signals.reason()}{': ' + stopped if stopped else ''}", markup=False, highlight=False)
        raise typer.Exit(signals.exit_code()) from None


_RESUME = "the study is saved; run the same command again to resume"

#: a regression's metrics, by the units they are in: the loss is the MSE of the standardized target (the
#: model's training loss), the others are in the target's own units
_REGRESSION_UNITS = {"loss": "MSE / target variance", "mae": "target units", "rmse": "target units",
                     "mse": "target units squared"}


def _best_line(result: Any) -> str:
    """``best trial 3: val_accuracy=0.9812  test_accuracy=0.9750 ...``; a regression's values name their units."""
    plan = getattr(result, "plan", None)
    regression = plan is not None and plan.data.task == "regression"

    def shown(name: str, value: float) -> str:
        base = name.removeprefix("val_").removeprefix("test_")
        unit = _REGRESSION_UNITS.get(base) if regression else None
        return f"{name}={value:.4f}" + (f" ({unit})" if unit else "")

    tests = "  ".join(shown(k, v) for k, v in result.test_metrics.items())
    return f"best trial {result.best_trial}: {shown(result.metric, result.best_value)}  {tests}"


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _state["debug"] = debug
    _state["size_warned"] = False  # per command (tests invoke several in one process)


@app.command()
def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file.")],
    set_: SetOpt = None,
    trials: TrialsOpt = None,
    new: Annotated[bool, typer.Option("--new", help="Delete this study's stored state and start afresh.")] = False,
    continue_: Annotated[bool, typer.Option("--continue", help="Go on with the stored study although its search "
                                            "space changed (ranges, parameters added or removed); the change is "
                                            "recorded.")] = False,
    name: NameOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", help="Shorthand for --set study.workers=N: trials at once, one per GPU when there "
        "are GPUs.")] = None,
    from_study: Annotated[str | None, typer.Option(
        "--from-study", help="Seed a new study with study NAME's trials (same space) or its 5 best configurations "
        "(another space); --set study.from_study=NAME.", metavar="NAME")] = None,
    budget: BudgetOpt = None,
) -> None:
    """Tune a pipeline (resuming its study if it exists)."""
    from automl import api, signals
    from automl.console import RichProgress, pareto_table, summary_table

    progress = RichProgress(console, quiet=quiet, verbose=verbose)
    overrides = _overrides(set_, trials, name, budget) + ([f"study.workers={workers}"] if workers is not None
                                                          else [])
    # once the study has ended, a signal is ignored until the command exits: a second Ctrl-C while the
    # summary prints neither raises nor kills (signals.hold inside the handling block, so nothing restores the
    # default handler in between)
    with signals.handling():  # stopped in the final stage or between stages: every run is closed already
        result = _guard(lambda: api.run(pipeline, overrides, new=new, storage=storage, tracking_uri=tracking_uri,
                                        progress=progress, from_study=from_study, continue_=continue_),
                        stopped=_RESUME)
        signals.hold()
    table = summary_table(result)
    if table.row_count:
        console.print(table)
    elif result.trials:  # stopped before any trial completed: no empty table, only the count
        console.print(str(table.caption), markup=False, highlight=False)
    if result.pareto:
        console.print(pareto_table(result))
    if result.latency_note:  # said where the user reads the result, not only in the docs
        err_console.print(f"warning: {result.latency_note}", markup=False, highlight=False)
    if result.best_value is None:
        console.print("[yellow]no trial completed[/]")
    else:
        console.print(_best_line(result), markup=False, highlight=False)
        console.print(f"best model: {result.model_path}")
    from automl.store.access import redact
    from automl.tracking import tracking_uri as uri

    console.print(f"MLflow: {redact(uri(tracking_uri))}  experiment '{result.study_name}', "
                  f"parent run {result.parent_run_id}")
    if result.interrupted:
        err_console.print(f"{signals.reason()}: {_RESUME}", markup=False, highlight=False)
        raise typer.Exit(signals.exit_code())
    if result.distill is not None:
        _print_distill(result.distill)
    if result.export is not None:
        _print_export(result.export)
    if result.session_trials and all(t.state == TrialState.FAIL for t in result.session_trials):
        # scripts and CI must notice a session that trained nothing (a pruned trial did train: not a failure)
        err_console.print("no trial completed; see the failed trials' reasons in MLflow", markup=False,
                          highlight=False)
        raise typer.Exit(1)


def _latency(ms: float) -> str:
    return f"{ms * 1000:.1f} µs" if ms < 1 else f"{ms:.2f} ms"


def _print_distill(result: Any) -> None:
    """Teacher, distilled student and the same student from scratch, then the verdict."""
    from rich.table import Table

    m = result.metric
    table = Table(title=f"distillation: test {m}")
    for col in ("model", "weights", f"test {m}"):
        table.add_column(col, justify="left" if col == "model" else "right")
    rows = [("teacher", result.teacher_params, result.teacher_test),
            ("student (distilled)", result.student_params, result.distilled_test),
            ("student (from scratch)", result.student_params, result.scratch_test)]
    for name, params, test in rows:
        value = test.get(m)
        table.add_row(name, f"{params:,}", "-" if value is None else f"{value:.4f}")
    console.print(table)
    if result.best_params:
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in result.best_params.items() if k != "block")
        console.print(f"best student ({result.student_params / max(1, result.teacher_params):.1%} of the teacher's "
                      f"parameters): {shown}", markup=False, highlight=False)
    style = "green" if result.helped else "yellow"
    console.print(result.verdict, style=style, markup=False, highlight=False)
    if result.closing:  # the student is more than a point behind its teacher
        console.print(result.closing, style="yellow", markup=False, highlight=False)
    if result.size_warning:
        _size_warning(result.size_warning)
    if result.student_path:
        console.print(f"export.model auto: {result.picked}", markup=False, highlight=False)


def _size_warning(text: str) -> None:
    """The small-test-split warning, once per command (distillation and every exported file share the split)."""
    if not _state.get("size_warned"):
        _state["size_warned"] = True
        err_console.print(f"warning: {text}", markup=False, highlight=False)


def _print_export(result: Any) -> None:
    """One line per exported file: format, size, accuracy (or MAE), drop, latency."""
    from rich.table import Table

    files = result.files
    if not files:
        return
    metric = files[0].validation.metric
    table = Table(title=f"TFLite exports of {result.model_path} ({files[0].validation.samples} test samples)")
    for col in ("format", "size", metric, "drop", "agree", "latency p50 / p90"):
        table.add_column(col, justify="left" if col == "format" else "right")
    for f in files:
        v = f.validation
        ratio = f" ({v.size_ratio:.2f}x)" if v.size_ratio is not None and f.format != "float32" else ""
        drop = f"{v.drop * 100:+.2f} pt" if v.metric == "accuracy" else f"{v.drop * 100:+.2f} %"
        table.add_row(f.format + (" (io " + v.io + ")" if v.io != "float32" else ""),
                      f"{v.size_kib:.1f} KiB{ratio}", f"{v.tflite_value:.4f}",
                      f"[red]{drop} FLAGGED[/]" if v.flagged else drop,
                      "-" if v.agreement is None else f"{v.agreement:.1%}",
                      f"{_latency(v.latency_ms_median)} / {_latency(v.latency_ms_p90)}")
    console.print(table)
    console.print(f"files: {', '.join(Path(f.path).name for f in files)} in {Path(files[0].path).parent}/ (each with "
                  "a .json: validation and input/output spec)", markup=False, highlight=False)
    keras_value = files[0].validation.keras_value
    alias = f"alias {result.model}_<format>" if result.model.startswith("trial_") else "alias per format"
    console.print(f"keras {metric}={keras_value:.4f}; drop above export.max_drop={files[0].validation.max_drop:g} is "
                  f"flagged; registered as '{result.name}-tflite' ({alias})", markup=False, highlight=False)
    for f in files:  # int8: what the recovery ladder took, or how far it got
        if getattr(f, "recovery", None) is not None and f.recovery.needed:
            (console if f.recovery.met else err_console).print(f.recovery.summary(metric), markup=False,
                                                               highlight=False)
    for f in result.flagged:
        err_console.print(f"flagged: {f.path} loses {f.validation.drop:.4f} {metric} vs Keras "
                          f"(max_drop {f.validation.max_drop:g})", markup=False, highlight=False)
    for f in files:  # the drop of a quantized file vs Keras, with its interval over the test rows
        v = f.validation
        if f.format == "float32" or v.drop_interval is None:
            continue
        told = "" if v.drop_interval.distinguishable else ": not distinguishable from no drop"
        console.print(f"{f.format}{' (io ' + v.io + ')' if v.io != 'float32' else ''} vs Keras on the test split: "
                      f"{v.drop_text}{told}", markup=False, highlight=False)
        if v.size_warning:
            _size_warning(v.size_warning)
    if result.sparse is not None:
        _print_sparse(result)


def _print_sparse(result: Any) -> None:
    """export.sparsity: the measured sparsity, the pruned model's drop vs the dense one, and per file the gzip
    size against the dense file's."""
    sp = result.sparse
    unit = "pt" if sp["metric"] == "accuracy" else "%"
    val, test = sp["validation"], sp["test"]
    verdict = (f"[red]over max_drop {sp['max_drop']:g} FLAGGED[/]" if val["flagged"]
               else f"within max_drop {sp['max_drop']:g}")
    console.print(f"sparse model ({sp['keras_model']}): {sp['measured']['kernels']:.1%} zeros in the pruned kernels, "
                  f"{sp['measured']['all']:.1%} of all weights (target {sp['target']:g}, "
                  f"fine-tuned {sp['fine_tune']['epochs']} epoch(s))", markup=False, highlight=False, soft_wrap=True)
    console.print(f"sparse vs dense Keras: validation drop {val['drop'] * 100:+.2f} {unit} ({verdict}); test drop "
                  f"{test['drop'] * 100:+.2f} {unit}", highlight=False, soft_wrap=True)
    for f in result.sparse_files:
        v = f.validation
        with open(f.json_path) as fh:
            info = json.load(fh)["sparsity"]
        latency = "" if info["latency_ratio"] is None else f", latency {info['latency_ratio']:.2f}x of dense"
        drop = f"{v.drop * 100:+.2f} {unit}"
        encoded = info.get("encoding", "dense") != "dense"
        size = f"{v.size_kib:.1f} KiB" + (f" ({info['size_ratio']:.2f}x, {info['encoding']})" if encoded else "")
        console.print(f"  {Path(f.path).name}: {size}, gzip -9 {info['gzip_bytes'] / 1024:.1f} KiB = "
                      f"{info['gzip_ratio']:.2f}x the dense file's; {sp['metric']} {v.tflite_value:.4f}, drop vs "
                      f"dense Keras {drop}{' FLAGGED' if v.flagged else ''}{latency}", markup=False,
                      highlight=False, soft_wrap=True)


@app.command()
def distill(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file (its study's best model is the teacher).")],
    set_: SetOpt = None,
    trials: Annotated[int | None, typer.Option("--trials", "-n", help="Shorthand for --set distill.trials=N "
                                               "(the student study).")] = None,
    teacher: Annotated[Path | None, typer.Option("--teacher", help="A .keras teacher instead of the best "
                                                 "model (needs distill.student).")] = None,
    name: NameOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Distill the study's best model into a smaller student; also train it from scratch to compare."""
    from automl import api
    from automl.console import RichProgress

    overrides = _overrides(set_, None, name) + ([f"distill.trials={trials}"] if trials is not None else [])
    progress = RichProgress(console, quiet=quiet, verbose=verbose)
    result = _guard(lambda: api.distill(pipeline, overrides, tracking_uri=tracking_uri, storage=storage,
                                        progress=progress, teacher=teacher),
                    stopped="the earlier students are kept as they were; run the same command again to distill")
    _print_distill(result)
    console.print(f"student: {result.student_path}, from scratch: {result.scratch_path}")
    console.print(f"MLflow parent run {result.parent_run_id}, registered "
                  f"model '{result.study_name}' version {result.registered_version}", markup=False,
                  highlight=False)


@app.command()
def worker(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file (the study's storage: study.storage, "
                                             "--storage or AUTOML_STORAGE).")],
    set_: SetOpt = None,
    budget: BudgetOpt = None,
    index: Annotated[int | None, typer.Option("--index", help="This worker's number, which also picks its GPU "
                                              "(default: JOB_COMPLETION_INDEX, else drawn from host and "
                                              "pid).")] = None,
    name: NameOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Join the pipeline's study from this host and run trials until its budget is met (docs/scale.md)."""
    from automl import api, signals
    from automl.console import RichProgress
    from automl.store.access import redact
    from automl.tracking import tracking_uri as uri

    progress = RichProgress(console, quiet=quiet, verbose=verbose)
    result = _guard(lambda: api.worker(pipeline, _overrides(set_, None, name), budget=budget, index=index,
                                       tracking_uri=tracking_uri, storage=storage, progress=progress),
                    stopped="this worker's trial is failed; start a worker again to go on")
    ran = ", ".join(map(str, result.trials)) or "none"
    console.print(f"worker {result.worker}{f' (GPU {result.gpu})' if result.gpu is not None else ''}: trials {ran}; "
                  f"study '{result.study_name}' has {result.counted} of its budget of {result.budget}", markup=False,
                  highlight=False)
    console.print(f"MLflow: {redact(uri(tracking_uri))}  session run {result.parent_run_id}", markup=False,
                  highlight=False)
    if result.interrupted:
        err_console.print(f"{signals.reason()}: this worker's trial is failed; start a worker again to go on",
                          markup=False, highlight=False)
        raise typer.Exit(signals.exit_code())
    if result.counted >= result.budget:
        named = f" --name {name}" if name is not None else ""
        console.print(f"the budget is met: run `automl finish {pipeline}{named}` once, on any host", markup=False,
                      highlight=False)


@app.command()
def finish(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file whose study workers ran.")],
    set_: SetOpt = None,
    name: NameOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """End a study that `automl worker` ran, once: best model from MLflow, refit, test metrics, registry."""
    from automl import api
    from automl.store.access import redact
    from automl.tracking import tracking_uri as uri

    result = _guard(lambda: api.finish(pipeline, _overrides(set_, None, name), tracking_uri=tracking_uri,
                                       storage=storage))
    if result.finished_before:
        console.print(f"study '{result.study_name}' was finished before:", markup=False, highlight=False)
    if result.best_trial is None:
        console.print("[yellow]no trial completed[/]")
    else:
        console.print(_best_line(result), markup=False, highlight=False)
        console.print(f"best model: {result.model_path}; registered model '{result.study_name}' version "
                      f"{result.registered_version}", markup=False, highlight=False)
    console.print(f"MLflow: {redact(uri(tracking_uri))}  experiment '{result.study_name}', session run "
                  f"{result.parent_run_id}", markup=False, highlight=False)


@app.command()
def export(
    target: Annotated[Path, typer.Argument(help="Pipeline YAML file, or a .keras model (with --data).")],
    set_: SetOpt = None,
    trials: Annotated[int | None, typer.Option("--trials", "-n", hidden=True)] = None,  # refused in one line
    name: NameOpt = None,
    format_: Annotated[list[str] | None, typer.Option("--format", "-f", help="float32 | float16 | dynamic | "
                                                      "int8 (repeatable; default: export.formats).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="best | student | PATH.keras (default: "
                                              "export.model, auto: the student if any).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="The pipeline whose data validates a .keras "
                                              "TARGET.")] = None,
    io: Annotated[str | None, typer.Option("--io", help="int8 format's input/output type: float32 | int8 | "
                                           "uint8.")] = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    pareto: Annotated[bool, typer.Option("--pareto", help="Every kept Pareto model of a multi-objective study, "
                                         "to export/pareto/trial_<n>_<format>.tflite.")] = False,
    pick: Annotated[str | None, typer.Option("--pick", help="Only the Pareto trial with the best validation "
                                             "value meeting a budget, e.g. \"tflite_latency_ms <= 1.0\".")] = None,
) -> None:
    """Export to TFLite, re-validate each file in the interpreter on the test split, register in MLflow."""
    from automl import api

    if trials is not None:  # a typo-like usage error, but one line, not typer's usage box
        _guard(lambda: _refuse_trials("export"))
    if pareto or pick is not None:
        if model is not None or data is not None:
            _guard(lambda: _refuse_model_with_pareto())
        results = _guard(lambda: api.export_pareto(target, _overrides(set_, None, name), pick=pick, formats=format_,
                                                   io=io, tracking_uri=tracking_uri, storage=storage))
        for one in results:
            _print_export(one)
        return
    result = _guard(lambda: api.export(target, _overrides(set_, None, name), data=data, model=model,
                                       formats=format_, io=io, tracking_uri=tracking_uri, storage=storage))
    _print_export(result)


@app.command()
def predict(
    pipeline: Annotated[str, typer.Argument(help="Pipeline YAML file (its study), or a study folder mlruns/NAME.")],
    data: Annotated[Path, typer.Argument(help="Raw rows: a CSV file (the target column may be there or not), or an "
                                         ".npz (array x) / .npy file of raw features.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the predictions to this CSV file "
                                                "(default: print them as CSV).")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="best | student | PATH.keras | PATH.tflite (the "
                                       "shipped file, run in the ai-edge-litert interpreter).")] = "best",
    set_: SetOpt = None,
    name: NameOpt = None,
) -> None:
    """Predict new raw rows with the study's model, encoded as its training rows were (class names, probabilities)."""
    from automl import api, signals
    from automl._predict_io import write_csv

    if name is not None and not _is_pipeline(pipeline):
        _guard(lambda: _refuse_name(pipeline))
    with signals.handling():  # Ctrl-C / SIGTERM: stop after a batch of rows, exit 130 / 143, no -o file written
        stopped = (f"no predictions written{'; ' + str(output) + ' is as it was' if output.exists() else ''}"
                   if output is not None else "the predictions printed are incomplete")
        try:
            result = _guard(lambda: api.predict(pipeline, data, model=model, output=output,
                                                overrides=_overrides(set_, None, name) or None), stopped=stopped)
            for note in result.attrs.get("notes", []):
                err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
            if output is None:
                write_csv(result, sys.stdout)
                return
        except KeyboardInterrupt:  # while the rows were printed (outside _guard)
            signals.hold()
            err_console.print(f"{signals.reason()}: {stopped}", markup=False, highlight=False)
            raise typer.Exit(signals.exit_code()) from None
    err_console.print(f"{len(result)} predictions of {result.attrs['model']} written to {output}", markup=False,
                      highlight=False)


def _refuse_model_with_pareto() -> None:
    raise ConfigError("--pareto and --pick export the Pareto trials' kept models; --model and --data pick another "
                      "model: give one or the other", path="--pareto")


def _refuse_trials(verb: str) -> None:
    raise ConfigError(f"{verb} trains nothing, so --trials has no meaning here (it sets study.trials, the size of a "
                      "tuning session: `automl run`)", path="--trials")


def _is_pipeline(target: str | Path | None) -> bool:
    return target is not None and Path(target).suffix in (".yaml", ".yml")


def _refuse_name(target: str | None) -> None:
    from automl._text import show

    raise ConfigError(f"--name renames a pipeline's study; {show(target)} is not a pipeline file (give the study's "
                      "name as the argument instead)", path="--name")


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Pipeline and/or space YAML files.")],
    set_: SetOpt = None,
    trials: TrialsOpt = None,
    name: NameOpt = None,
) -> None:
    """Check pipeline and space files (and the data a pipeline points to) without training."""
    from automl import api

    failed = False
    for file in files:
        try:
            checked = api.validate(file, _overrides(set_, trials, name))
        except AutomlError as exc:
            if _state["debug"]:
                raise
            failed = True
            for line in str(exc).splitlines():
                err_console.print(line, markup=False, highlight=False, soft_wrap=True)
            continue
        console.print(f"ok {checked.kind} {checked.file}: {checked.summary}", markup=False, highlight=False,
                      soft_wrap=True)
        for note in checked.notes:
            err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(2)


@app.command()
def studies(storage: StorageOpt = None,
            as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the studies in the Optuna storage with trial counts and best values."""
    from rich.table import Table

    from automl import api
    from automl.plan import DEFAULT_STORAGE, STORAGE_ENV
    from automl.store.access import redact

    storage = storage or os.environ.get(STORAGE_ENV) or None
    rows = _guard(lambda: api.studies(storage))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    where = redact(storage or DEFAULT_STORAGE)
    if not rows:
        console.print(f"no studies in {where}: `automl run PIPELINE` makes one", markup=False, highlight=False)
        return
    table = Table(title=f"studies in {where}")
    columns = ("name", "engine", "trials", "complete", "pruned", "failed", "direction", "best_value", "best_trial")
    for col in columns:
        # names are what users copy and grep: never wrapped or cut (only the headers wrap)
        table.add_column(col.replace("_", " "), justify="left" if col in ("name", "engine", "direction") else "right",
                         no_wrap=col == "name")
    cells = [[("-" if r.get(c) is None else f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c])) for c in columns]
             for r in rows]
    for row in cells:
        table.add_row(*row)
    _print_uncut(table, cells)
    console.print("details: `automl report NAME` (HTML report), `automl ui NAME` (MLflow UI)", markup=False,
                  highlight=False)


def _print_uncut(table: Any, rows: list[list[str]]) -> None:
    """Print ``table`` (whose cells are ``rows``) so that no cell is cut: at its natural width when that fits the
    terminal, else with each column as wide as its longest cell (headers wrap), however wide that is.

    rich would otherwise shrink columns to a pipe's 80 columns or a narrow terminal and cut cells ("quick…").
    """
    from rich.measure import Measurement

    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    if natural <= console.width:
        console.print(table)
        return
    for i, column in enumerate(table.columns):
        column.width = max(max((len(row[i]) for row in rows), default=1),
                           *(len(word) for word in str(column.header).split()))
    # padding (2) and a border (1) per column, one more border at the end
    needed = 1 + sum(3 + (column.width or 0) for column in table.columns)
    wide = Console(width=max(needed, console.width), file=console.file, force_terminal=console.is_terminal,
                   color_system=console.color_system, no_color=console.no_color)  # type: ignore[arg-type]
    wide.print(table)


@app.command()
def schema(space: Annotated[bool, typer.Option("--space", help="The space file's schema.")] = False) -> None:
    """Print the JSON Schema of pipeline files (or of space files with --space)."""
    from automl.config.schema import pipeline_schema, space_schema

    print(json.dumps(space_schema() if space else pipeline_schema(), indent=2))


@app.command()
def report(
    target: Annotated[str, typer.Argument(help="A study name, or a pipeline YAML file (its study).")],
    set_: SetOpt = None,
    name: NameOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The HTML file (default: "
                                                "mlruns/<name>/report.html).")] = None,
    tracking_uri: TrackingOpt = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log the report to MLflow.")] = False,
) -> None:
    """Write a self-contained HTML report of a study (best trials, importances, learning curves, exports)."""
    from automl import api
    from automl.report.terminal import summary

    if name is not None and not _is_pipeline(target):
        _guard(lambda: _refuse_name(target))
    result = _guard(lambda: api.report(target, _overrides(set_, None, name), tracking_uri=tracking_uri, output=output,
                                       log=not no_log))
    for part in summary(result):
        console.print(part, highlight=False, soft_wrap=True) if isinstance(part, str) else console.print(part)


@app.command()
def ui(
    target: Annotated[str | None, typer.Argument(help="A study name or pipeline YAML file: print the link to "
                                                 "its experiment.")] = None,
    name: NameOpt = None,
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on (0: any free port).")] = 5000,
    host: Annotated[str, typer.Option("--host", help="Interface to bind (127.0.0.1: this machine only).")] = (
        "127.0.0.1"),
    tracking_uri: TrackingOpt = None,
) -> None:
    """Serve the MLflow UI on the project's store (sqlite:///mlruns/mlflow.db) until Ctrl-C."""
    import signal
    import time

    from automl.config.loader import load_pipeline
    from automl.store.access import redact
    from automl.store.folder import ROOT
    from automl.tracking.server import MlflowServer

    study = target
    if target is not None and _is_pipeline(target):
        study = _guard(lambda: load_pipeline(target, _overrides(None, None, name))).name
    elif name is not None:
        _guard(lambda: _refuse_name(target))
    log = ROOT / "ui.log"
    server = _guard(lambda: MlflowServer(tracking_uri, port=port, host=host, log=log))

    def _stop(signum: int, frame: Any) -> None:  # `kill` and a closed terminal stop it like Ctrl-C
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts us in the background ignores it, and Ctrl-C must still stop the server
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        _guard(server.start)
        console.print(f"MLflow UI: {server.url}  (store {redact(server.store)}; server log {log})", markup=False,
                      highlight=False, soft_wrap=True)
        experiments = server.api("experiments/search", {"max_results": 1000}).get("experiments", [])
        shown = [e for e in experiments if (e["name"] != "Default" if study is None else e["name"] == study)]
        for e in shown:
            console.print(f"study {e['name']}: {server.runs_url(e['experiment_id'])}", markup=False,
                          highlight=False, soft_wrap=True)
        if study is not None and not shown:
            err_console.print(f"no study '{study}' in the store yet: its runs appear once `automl run` starts",
                              markup=False, highlight=False)
        console.print("Ctrl-C stops the server", markup=False, highlight=False)
        while server.running():
            time.sleep(0.5)
        err_console.print(f"the MLflow server stopped on its own; see {log}", markup=False, highlight=False)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("stopping the MLflow UI", markup=False, highlight=False)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> None:
    from automl import signals

    try:
        code = app(standalone_mode=False)  # usage errors come here, to be told in one line
    except typer.BadParameter as exc:  # `--budget abc`: one line naming the option, as every other bad input
        err_console.print(_bad_parameter(exc), markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, EOFError):
        err_console.print("aborted", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:  # 130 after Ctrl-C, 143 after SIGTERM, whichever verb was stopped
        err_console.print(signals.requested() or "interrupted", markup=False, highlight=False)
        sys.exit(signals.exit_code())
    except Exception as exc:  # a bug (or --debug): its traceback, with any URL's password masked
        import traceback

        from automl.store.access import scrub

        if hasattr(exc, "exit_code") and hasattr(exc, "show"):  # another usage error: typer's own words
            from typer import rich_utils

            rich_utils.rich_format_error(exc)  # type: ignore[arg-type]
            sys.exit(int(exc.exit_code))
        sys.stderr.write(scrub("".join(traceback.format_exception(exc))))
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _bad_parameter(exc: typer.BadParameter) -> str:
    """``--budget: 'abc' is not a valid integer`` (typer draws a box of several lines around it)."""
    where = "/".join(getattr(exc.param, "opts", []) or []) or str(exc.param_hint or "")
    words = str(exc.message).strip().rstrip(".") or exc.format_message().strip().rstrip(".")
    return f"{where}: {words}" if where and not words.lower().startswith(("missing", "invalid value")) else words


if __name__ == "__main__":
    main()
