"""Warm starts checked without a tuning library: ``study.enqueue`` against the resolved space.

The engine checks them when it opens a study; :func:`check_enqueue` is importable as cheaply as the space, so
a pipeline's validation can check them too.
"""

from __future__ import annotations

import math
from typing import Any

from automl._text import one_of, show
from automl.errors import ConfigError
from automl.space.params import CategoricalParam, FixedParam, FloatParam, IntParam, Param
from automl.space.space import Space


def outside(spec: Param, value: Any) -> str | None:
    """Why ``value`` is not a value of ``spec`` (as a sampler could draw it), or None."""
    got = f", got {show(value)}"
    if isinstance(spec, FixedParam):
        return None if spec.contains(value) else f"fixed at {show(spec.value)} in the space{got}"
    if isinstance(spec, CategoricalParam):
        same = any(c == value and isinstance(c, bool) == isinstance(value, bool) for c in spec.choices)
        return None if same else f"expected one of {show(spec.choices)}{got}"
    assert isinstance(spec, IntParam | FloatParam)
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            isinstance(spec, IntParam) and not isinstance(value, int)):
        return f"expected {'an integer' if isinstance(spec, IntParam) else 'a number'}{got}"
    if not spec.contains(value):
        return f"`{spec.low:g} <= value <= {spec.high:g}` must hold{got}"
    if spec.step is not None and not math.isclose((value - spec.low) / spec.step,
                                                  round((value - spec.low) / spec.step), abs_tol=1e-9):
        return f"expected {spec.low:g} + a multiple of step {spec.step:g}{got}"
    return None


def check_enqueue(space: Space, configs: list[dict[str, Any]], *, file: str | None = None) -> list[dict[str, Any]]:
    """``study.enqueue`` checked against the space: each configuration's tunable values.

    An unknown name, a value a sampler could not draw, or a parameter whose condition the configuration
    itself rules out is a ConfigError naming ``file`` (the pipeline, when known) and ``study.enqueue.N.param``.
    """
    fixed = {k: p.value for k, p in space.params.items() if isinstance(p, FixedParam) and not p.when}
    out = []
    for i, config in enumerate(configs):
        known = {**fixed, **config}
        for name, value in config.items():
            where = f"study.enqueue.{i}.{name}"
            spec = space.params.get(name)
            if spec is None:
                raise ConfigError(one_of(name, [k for k, p in space.params.items() if p.tunable], "parameter"),
                                  file=file, path=where)
            problem = outside(spec, value)
            if problem:
                raise ConfigError(problem, file=file, path=where)
            if all(parent in known for parent in spec.when) and not space.is_active(name, known):
                raise ConfigError(f"inactive in this configuration: it needs {show(spec.when)}", file=file,
                                  path=where)
        out.append({k: v for k, v in config.items() if space.params[k].tunable})
    return out
