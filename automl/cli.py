"""The ``automl`` command: thin typer layer over :mod:`automl.api`; rich renders."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from automl.errors import AutomlError

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Keras AutoML: YAML pipeline -> tuned Keras model -> MLflow.")
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}

T = TypeVar("T")

SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a key: dotted.key=value (YAML).")]
TrialsOpt = Annotated[int | None, typer.Option("--trials", "-n", help="Shorthand for --set study.trials=N.")]
StorageOpt = Annotated[str | None, typer.Option("--storage", help="Optuna storage URL (default: study.storage or "
                                                "sqlite:///mlruns/optuna.db).")]
TrackingOpt = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: "
                                                 "MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).")]


def _overrides(sets: list[str] | None, trials: int | None) -> list[str]:
    items = list(sets or [])
    if trials is not None:
        items.append(f"study.trials={trials}")
    return items


def _guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; an AutomlError becomes its lines on stderr and exit code 2 (traceback with --debug)."""
    try:
        return fn()
    except AutomlError as exc:
        if _state["debug"]:
            raise
        for line in str(exc).splitlines():
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _state["debug"] = debug


@app.command()
def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file.")],
    set_: SetOpt = None,
    trials: TrialsOpt = None,
    new: Annotated[bool, typer.Option("--new", help="Delete this study's stored state and start afresh.")] = False,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Every trial's parameters.")] = False,
) -> None:
    """Tune a pipeline (resuming its study if it exists)."""
    from automl import api
    from automl.ui import RichProgress, summary_table

    progress = RichProgress(console, quiet=quiet, verbose=verbose)
    result = _guard(lambda: api.run(pipeline, _overrides(set_, trials), new=new, storage=storage,
                                    tracking_uri=tracking_uri, progress=progress))
    console.print(summary_table(result))
    if result.best_value is None:
        console.print("[yellow]no trial completed[/]")
    else:
        tests = "  ".join(f"{k}={v:.4f}" for k, v in result.test_metrics.items())
        console.print(f"best trial {result.best_trial}: {result.metric}={result.best_value:.4f}  {tests}")
        console.print(f"best model: {result.model_path}")
    from automl.tracking import tracking_uri as uri

    console.print(f"MLflow: {uri(tracking_uri)}  experiment '{result.study_name}', parent run {result.parent_run_id}")
    if result.interrupted:
        err_console.print("interrupted: the study is saved; run the same command again to resume")
        raise typer.Exit(130)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Pipeline and/or space YAML files.")],
    set_: SetOpt = None,
    trials: TrialsOpt = None,
) -> None:
    """Check pipeline and space files (and the data a pipeline points to) without training."""
    from automl import api

    failed = False
    for file in files:
        try:
            checked = api.validate(file, _overrides(set_, trials))
        except AutomlError as exc:
            if _state["debug"]:
                raise
            failed = True
            for line in str(exc).splitlines():
                err_console.print(line, markup=False, highlight=False, soft_wrap=True)
            continue
        console.print(f"ok {checked.kind} {checked.file}: {checked.summary}", markup=False, highlight=False,
                      soft_wrap=True)
    if failed:
        raise typer.Exit(2)


@app.command()
def studies(storage: StorageOpt = None,
            as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the studies in the Optuna storage with trial counts and best values."""
    from rich.table import Table

    from automl.engines import list_studies
    from automl.plan import DEFAULT_STORAGE

    rows = _guard(lambda: list_studies(storage or DEFAULT_STORAGE))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"studies in {storage or DEFAULT_STORAGE}")
    for col in ("name", "engine", "trials", "complete", "pruned", "failed", "direction", "best_value"):
        table.add_column(col)
    for r in rows:
        table.add_row(*[("-" if r[c] is None else f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]))
                        for c in ("name", "engine", "trials", "complete", "pruned", "failed", "direction",
                                  "best_value")])
    console.print(table)


@app.command()
def schema(space: Annotated[bool, typer.Option("--space", help="The space file's schema.")] = False) -> None:
    """Print the JSON Schema of pipeline files (or of space files with --space)."""
    from automl.config.models import PipelineConfig
    from automl.space.space import SpaceFile

    model: Any = SpaceFile if space else PipelineConfig
    print(json.dumps(model.model_json_schema(), indent=2))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
