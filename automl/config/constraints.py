"""Budgets such as ``"tflite_latency_ms <= 1.0"``: one small parser (no ``eval``) for ``study.constraints``
and ``automl export --pick``.

A constraint is ``METRIC OP NUMBER`` with ``OP`` one of ``<=``, ``<``, ``>=``, ``>``. Its *violation* is how
far a value lies on the wrong side of the bound (Optuna's convention: ``<= 0`` means feasible).

>>> c = parse_constraint("tflite_latency_ms <= 1.0")
>>> c.metric, c.op, c.bound, c.holds(0.8), c.violation(2.5)
('tflite_latency_ms', '<=', 1.0, True, 1.5)
>>> str(parse_constraint(" tflite_kib<64 "))
'tflite_kib < 64'
>>> parse_constraint("tflite_kib = 64")
Traceback (most recent call last):
...
ValueError: expected `METRIC <= NUMBER` (or <, >=, >), got 'tflite_kib = 64'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from automl._text import show

_FORM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
#: a strict bound is met only when the value is this far inside it (violation 0 means "exactly on the bound")
_STRICT = 1e-12


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``, e.g. ``tflite_kib <= 64``."""

    metric: str
    op: str  # <= | < | >= | >
    bound: float

    def violation(self, value: float) -> float:
        """How far ``value`` lies beyond the bound (``<= 0``: the constraint holds)."""
        if self.op in ("<=", "<"):
            excess = value - self.bound
        else:
            excess = self.bound - value
        return excess + _STRICT if self.op in ("<", ">") else excess

    def holds(self, value: float) -> bool:
        return math.isfinite(value) and self.violation(value) <= 0

    def broken(self, value: float) -> str:
        """Why ``value`` breaks it, as a trial's reason: ``tflite_latency_ms 2.31 > 1.0``."""
        opposite = {"<=": ">", "<": ">=", ">=": "<", ">": "<="}[self.op]
        return f"{self.metric} {value:.4g} {opposite} {self.bound:g}"

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


def parse_constraint(text: str) -> Constraint:
    """``"tflite_kib <= 64"`` -> :class:`Constraint`; ValueError saying the expected form otherwise."""
    match = _FORM.match(text) if isinstance(text, str) and len(text) <= 200 else None
    if match is None:
        raise ValueError(f"expected `METRIC <= NUMBER` (or <, >=, >), got {show(text)}")
    bound = float(match.group(3))
    if not math.isfinite(bound):
        raise ValueError(f"expected a finite bound, got {show(text)}")
    return Constraint(metric=match.group(1), op=match.group(2), bound=bound)


__all__ = ["Constraint", "parse_constraint"]
