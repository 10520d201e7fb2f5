"""The Python API; the CLI is a thin layer over these functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.config.loader import Pipeline, load_pipeline, load_space_file, read_yaml
from automl.plan import make_plan
from automl.progress import Progress
from automl.space.space import resolve_space
from automl.study import TuneResult
from automl.study import tune as _tune

Overrides = Mapping[str, Any] | Iterable[str] | None


def _pipeline(pipeline: str | Path | Pipeline, overrides: Overrides) -> Pipeline:
    if isinstance(pipeline, Pipeline):
        if overrides:
            raise TypeError("overrides apply to a pipeline path, not a loaded Pipeline")
        return pipeline
    return load_pipeline(pipeline, overrides)


def tune(pipeline: str | Path | Pipeline, overrides: Overrides = None, *, new: bool = False,
         tracking_uri: str | None = None, storage: str | None = None,
         progress: Progress | None = None) -> TuneResult:
    """Run or resume the study of a pipeline; ``overrides`` are dotted keys as with ``--set``."""
    return _tune(_pipeline(pipeline, overrides), new=new, tracking_uri=tracking_uri, storage=storage,
                 progress=progress)


def run(pipeline: str | Path | Pipeline, overrides: Overrides = None, *, new: bool = False,
        tracking_uri: str | None = None, storage: str | None = None,
        progress: Progress | None = None) -> TuneResult:
    """What ``automl run`` does: tune the pipeline (and, when configured, the later stages).

    >>> result = run("pipelines/quickstart.yaml", overrides={"study.trials": 5})  # doctest: +SKIP
    >>> result.best_params, result.best_value, result.model_path, result.parent_run_id  # doctest: +SKIP
    """
    return tune(pipeline, overrides, new=new, tracking_uri=tracking_uri, storage=storage, progress=progress)


@dataclass
class Validated:
    file: str
    kind: str  # pipeline | space
    summary: str


def validate(path: str | Path, overrides: Overrides = None) -> Validated:
    """Check a pipeline (with its space and data) or a space file; raises ConfigError with file:key."""
    raw = read_yaml(path)
    if isinstance(raw, dict) and "block" in raw and "name" not in raw:
        space = resolve_space(load_space_file(path), None, file=str(path))
        return Validated(str(path), "space", f"blocks {', '.join(space.blocks)}; {len(space.params)} parameters")
    plan = make_plan(load_pipeline(path, overrides))
    d = plan.data
    return Validated(str(path), "pipeline",
                     f"{d.task} on {d.source} {list(d.input_shape)} ({len(d.x_train)}/{len(d.x_val)}/"
                     f"{len(d.x_test)} train/val/test); blocks {', '.join(plan.space.blocks)}; "
                     f"{plan.metric} {plan.direction}")


__all__ = ["TuneResult", "Validated", "load_pipeline", "run", "tune", "validate"]
