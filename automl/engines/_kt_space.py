"""Translate an automl :class:`~automl.space.space.Space` into keras-tuner ``HyperParameters``.

What keras-tuner cannot say the way automl means it is translated, never passed through:

- a log-scale int or float gets ``sampling="log"`` and no ``step`` (on a log scale keras-tuner's ``step``
  is a multiplying factor, and it rejects ``step=1`` there);
- a float with a ``step`` becomes an ordered ``Choice`` of exactly its grid values (keras-tuner floors
  ``(high - low) // step``, so ``0.0..0.5 step 0.1`` would never draw 0.5);
- a categorical whose choices are not all ``str``, all ``int`` or all ``float`` (bools, ``None``, mixed types)
  is a ``Choice`` over the indices of its choices (keras-tuner's ``Choice`` turns ``True`` into ``1``);
- a condition ``when: {a: [..], b: [..]}`` is a list of ``Parent`` conditions on the parameter: nested
  ``conditional_scope`` blocks cannot AND two parents (each must exist inside the enclosing scope);
- a fixed value is ``Fixed`` (so conditions on it work in keras-tuner); one that ``Fixed`` cannot hold
  (a list, ``None``) is ``Fixed`` of its JSON text;
- a parameter no condition can switch on (``decay_rate`` under a fixed ``schedule: constant``) is left out:
  the space never draws it, and every such dimension slows the Bayesian oracle's search for its next point.

Under the grid sampler every tunable parameter that can be active is a ``Choice`` of its grid values, the same
grid as Optuna's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import keras_tuner as kt
from keras_tuner.engine import hyperparameters as hp_types

from automl.engines._kt_private import Parent
from automl.space.params import CategoricalParam, FixedParam, FloatParam, IntParam, Param
from automl.space.space import Space

_NATIVE = (str, int, float)


@dataclass(frozen=True)
class Codec:
    """How one parameter is held in keras-tuner: its own value, an index into ``choices``, or JSON text."""

    choices: tuple[Any, ...] | None = None
    as_json: bool = False

    def encode_all(self, allowed: list[Any]) -> list[Any]:
        """Condition values as keras-tuner holds them; -1 (an index never held) when none can occur."""
        if self.as_json:
            return [json.dumps(v) for v in allowed]
        if self.choices is None:
            return list(allowed)
        return [self.choices.index(v) for v in allowed if v in self.choices] or [-1]

    def decode(self, raw: Any) -> Any:
        raw = raw.item() if hasattr(raw, "item") else raw  # numpy scalars from the Bayesian oracle
        if self.as_json:
            return json.loads(raw)
        return raw if self.choices is None else self.choices[int(raw)]


def _native(values: list[Any]) -> bool:
    """Whether keras-tuner's ``Choice`` keeps these values as they are."""
    kinds = {type(v) for v in values}
    return len(kinds) == 1 and kinds.pop() in _NATIVE


def _hyperparameter(name: str, spec: Param, grid: bool, conditions: list[Any]) -> tuple[Any, Codec]:
    if isinstance(spec, FixedParam):
        if _native([spec.value]) or isinstance(spec.value, bool):
            return hp_types.Fixed(name, spec.value, conditions=conditions), Codec()
        return hp_types.Fixed(name, json.dumps(spec.value), conditions=conditions), Codec(as_json=True)
    if isinstance(spec, CategoricalParam) or grid:
        values = spec.grid()
        if _native(values):
            numeric = not isinstance(values[0], str)
            return hp_types.Choice(name, values, ordered=numeric, conditions=conditions), Codec()
        return (hp_types.Choice(name, list(range(len(values))), ordered=False, conditions=conditions),
                Codec(tuple(values)))
    if isinstance(spec, IntParam):
        if spec.log:
            return hp_types.Int(name, spec.low, spec.high, sampling="log", conditions=conditions), Codec()
        return hp_types.Int(name, spec.low, spec.high, step=spec.step, conditions=conditions), Codec()
    assert isinstance(spec, FloatParam)
    if spec.step is not None:
        return hp_types.Choice(name, spec.grid(), ordered=True, conditions=conditions), Codec()
    sampling = "log" if spec.log else "linear"
    return hp_types.Float(name, spec.low, spec.high, sampling=sampling, conditions=conditions), Codec()


def to_hyperparameters(space: Space, *, grid: bool = False) -> tuple[kt.HyperParameters, dict[str, Codec]]:
    """keras-tuner's view of ``space`` and, per parameter, how to read its values back.

    Raises ValueError under ``grid`` when a parameter has no grid (a float without a step).
    """
    hps = kt.HyperParameters()
    codecs: dict[str, Codec] = {}
    for name, spec in space.params.items():  # parents come first
        if not space.can_be_active(name):
            continue
        conditions = [Parent(parent, codecs[parent].encode_all(allowed)) for parent, allowed in spec.when.items()]
        hp, codecs[name] = _hyperparameter(name, spec, grid, conditions)
        hps.merge([hp])
    return hps, codecs
