"""The student's architecture: the teacher's block made smaller (or a space of its own).

The default student keeps the teacher's block and training settings, scales every depth hyperparameter
(layers, conv_blocks, ...) by ``depth`` and every width hyperparameter (units, filters, ...) by one factor,
the largest that keeps its parameter count within ``size`` times the teacher's: a shallower student is
wider (up to :data:`MAX_WIDTH` times the teacher); when even the narrowest version is too big, depth goes
down further.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from automl.builders.model import ModelSpec, build_model
from automl.space.space import Space

# Hyperparameter names that set a block's width / depth (blocks of automl.builders.blocks and the usual
# names of recurrent and attention blocks); anything else is kept as the teacher had it.
WIDTH_HPS = ("units", "filters", "dense_units", "rnn_units", "hidden_units", "embed_dim", "key_dim",
             "ff_dim", "dim", "width")
WIDTH_FACTORS = ("width_multiplier",)  # float widths (mobilenet), scaled without rounding
DEPTH_HPS = ("layers", "conv_blocks", "num_blocks", "blocks", "stages", "depth", "rnn_layers",
             "transformer_blocks")
DISTILL_PARAMS = ("alpha", "temperature", "size", "depth", "mixup")
#: how much wider than the teacher a shallower student may grow (width factor at most this)
MAX_WIDTH = 16.0


def replay(space: Space, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The block and hyperparameters of the trial that sampled ``params`` from ``space``.

    A KeyError names a parameter the trial has no value for (the space was changed since).
    """
    try:
        values = space.replay(params)
    except KeyError as exc:
        raise KeyError(f"the best trial has no value for `{exc.args[0]}` (was the space changed since?)") from None
    return space.decode(values)


def scale(hp: dict[str, Any], width: float, depth: float = 1.0) -> dict[str, Any]:
    """``hp`` with width hyperparameters times ``width`` and depth ones times ``depth`` (at least 1)."""
    out = dict(hp)
    for name, value in hp.items():
        if name in WIDTH_FACTORS and isinstance(value, int | float) and value > 0:
            out[name] = max(0.05, round(float(value) * width, 3))
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            continue
        if name in WIDTH_HPS:
            out[name] = max(1, round(value * width))
        elif name in DEPTH_HPS:
            out[name] = max(1, round(value * depth))
    return out


def count_params(block: str, hp: dict[str, Any], spec: ModelSpec) -> int | None:
    """Parameters of the model ``hp`` builds, or None when that configuration does not build."""
    try:
        return int(build_model(block, hp, spec).count_params())
    except (ValueError, TypeError):  # a width a block cannot take (heads that do not divide a dimension, ...)
        return None


@dataclass
class Fitted:
    hp: dict[str, Any]
    n_params: int
    width: float
    depth: float


def fit_to_budget(block: str, hp: dict[str, Any], spec: ModelSpec, max_params: int, *, depth: float = 1.0,
                  max_width: float = MAX_WIDTH, steps: int = 12) -> Fitted:
    """The widest scaled copy of ``hp`` at ``depth`` times the teacher's depth with at most ``max_params``
    parameters.

    Bisection on the width factor (parameter counts grow with width): up to 1 at the teacher's depth, up to
    ``max_width`` for a shallower student (the parameters its missing layers would have held go to width).
    If even width -> 0 is over the budget, depth is halved and the search repeated. Returns the smallest
    model found when nothing fits.

    >>> fit_to_budget("mlp", {"layers": 2, "units": 16}, spec, 500, depth=0.5).hp["layers"]  # doctest: +SKIP
    1
    """
    if not 0.0 < depth <= 1.0:
        raise ValueError(f"`0 < depth <= 1` must hold, got depth={depth}")
    seen: dict[tuple[Any, ...], int | None] = {}

    def params_at(width: float, depth: float) -> tuple[dict[str, Any], int | None]:
        cand = scale(hp, width, depth)
        key = tuple(sorted(cand.items(), key=lambda kv: kv[0]))
        if key not in seen:
            seen[key] = count_params(block, cand, spec)
        return cand, seen[key]

    smallest: Fitted | None = None
    while True:
        top = 1.0 if depth >= 1.0 else max(1.0, max_width)
        full_hp, full = params_at(top, depth)
        if full is not None and full <= max_params:
            return Fitted(full_hp, full, top, depth)
        low_hp, low = params_at(0.0, depth)
        if low is not None and (smallest is None or low < smallest.n_params):
            smallest = Fitted(low_hp, low, 0.0, depth)
        if low is not None and low <= max_params:
            lo, hi = 0.0, top  # lo fits, hi does not
            for _ in range(steps + int(math.log2(top))):  # the same resolution whatever the top
                mid = (lo + hi) / 2
                _, n = params_at(mid, depth)
                if n is not None and n <= max_params:
                    lo = mid
                else:
                    hi = mid
            best_hp, n_best = params_at(lo, depth)
            assert n_best is not None
            return Fitted(best_hp, n_best, lo, depth)
        if all(scale(hp, 0.0, depth / 2).get(k) == scale(hp, 0.0, depth).get(k) for k in DEPTH_HPS):
            break  # depth is already 1 everywhere
        depth /= 2
    if smallest is None:
        raise ValueError(f"no scaled-down version of block '{block}' builds (hyperparameters: {hp})")
    return smallest
