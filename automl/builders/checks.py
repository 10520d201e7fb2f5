"""What a space may set a hyperparameter to: registry names and numeric bounds, checked before training.

:func:`check_param` returns a one-line problem (or None); the space resolver adds the file and key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import Any

from automl._text import one_of, show
from automl.space.params import CategoricalParam, FixedParam, FloatParam, IntParam


def _names() -> dict[str, tuple[str, Collection[str]]]:
    from automl.builders.activations import ACTIVATIONS
    from automl.builders.augmentation import FLIPS
    from automl.builders.blocks.pretrained import BACKBONES
    from automl.builders.blocks.rnn import CELLS
    from automl.builders.blocks.transformer import POSITIONAL
    from automl.builders.initializers import INITIALIZERS
    from automl.builders.normalizations import NORMALIZATIONS
    from automl.builders.optimizers import OPTIMIZERS
    from automl.builders.regularizers import REGULARIZERS
    from automl.builders.schedules import SCHEDULES

    return {
        "activation": ("activation", ACTIVATIONS.names()), "initializer": ("initializer", INITIALIZERS.names()),
        "normalization": ("normalization", NORMALIZATIONS.names()), "optimizer": ("optimizer", OPTIMIZERS.names()),
        "schedule": ("schedule", SCHEDULES.names()), "regularizer": ("regularizer", REGULARIZERS.names()),
        "cell": ("rnn cell", CELLS.names()), "positional": ("positional embedding", POSITIONAL),
        "flip": ("flip", FLIPS), "pooling": ("pooling", ("avg", "max")), "backbone": ("backbone", tuple(BACKBONES)),
    }


def _between(low: float, high: float, *, low_open: bool = False, high_open: bool = False,
             none: bool = False) -> Callable[[Any], str | None]:
    left, right = "(" if low_open else "[", ")" if high_open else "]"

    def check(v: Any) -> str | None:
        if v is None and none:
            return None
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and (
            (low < v if low_open else low <= v) and (v < high if high_open else v <= high))
        if ok:
            return None
        where = f"{'>' if low_open else '>='} {low:g}" if high == math.inf else f"in {left}{low:g}, {high:g}{right}"
        return f"expected a value {where}{' or null' if none else ''}, got {show(v)}"

    return check


def _integer(low: int, *, none: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v is None and none:
            return None
        if isinstance(v, int) and not isinstance(v, bool) and v >= low:
            return None
        return f"expected an integer >= {low}{' or null' if none else ''}, got {show(v)}"

    return check


def _stem_stride(v: Any) -> str | None:
    ok = v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v in (1, 2))
    return None if ok else f"expected auto, 1 or 2, got {show(v)}"


def _boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"expected true or false, got {show(v)}"


_RULES: dict[str, Callable[[Any], str | None]] = {
    **{k: _between(0.0, 1.0, high_open=True) for k in ("dropout", "spatial_dropout", "recurrent_dropout",
                                                         "label_smoothing", "momentum", "min_lr_fraction")},
    "unfreeze": _between(0.0, 1.0),
    **{k: _between(0.0, 1.0) for k in ("rotation", "zoom", "translation", "contrast")},
    **{k: _between(0.0, 1.0, low_open=True, high_open=True) for k in ("decay_rate", "plateau_factor")},
    **{k: _between(0.0, math.inf, low_open=True) for k in ("lr", "width_multiplier", "power", "alpha",
                                                                    "finetune_lr_factor")},
    **{k: _between(0.0, math.inf) for k in ("l1", "l2", "weight_decay", "min_delta", "leaky_alpha")},
    **{k: _between(0.0, math.inf, low_open=True, none=True) for k in ("clipnorm", "clipvalue")},
    **{k: _integer(1) for k in ("layers", "units", "filters", "conv_blocks", "stages", "blocks", "heads", "key_dim",
                                "embed_dim", "ff_dim", "patch_size", "kernel_size", "expansion", "decay_epochs",
                                "restart_epochs", "patience", "plateau_patience")},
    **{k: _integer(1, none=True) for k in ("batch_size", "epochs")},
    **{k: _integer(0) for k in ("dense_units", "warmup_epochs", "frozen_epochs")},
    "resolution": _integer(32, none=True),
    "stem_stride": _stem_stride,
    **{k: _boolean for k in ("nesterov", "plateau", "early_stopping", "bidirectional", "squeeze_excite")},
}


def _values(spec: Any) -> list[Any]:
    if isinstance(spec, FixedParam | CategoricalParam):
        return list(spec.grid())
    if isinstance(spec, IntParam | FloatParam):
        return [spec.low, spec.high]
    return []


def check_param(name: str, spec: Any) -> str | None:
    """The first value ``spec`` can take that ``name`` does not accept, as a message; None when all fit."""
    names = _names()
    for value in _values(spec):
        if name in names:
            what, allowed = names[name]
            if not isinstance(value, str) or value not in allowed:
                return one_of(str(value), allowed, what)
        elif name == "class_weight":
            if not (value in ("none", "balanced", None) or isinstance(value, dict)):
                return f"expected none, balanced or a mapping class -> weight, got {show(value)}"
        elif name in _RULES:
            problem = _RULES[name](value)
            if problem:
                return problem
    return None
