"""The Pareto front of a multi-objective study: the feasible completed trials no other feasible trial dominates.

>>> from automl.engines.base import TrialRecord
>>> rec = lambda n, acc, ms: TrialRecord(n, "COMPLETE", acc, {}, values=[acc, ms])
>>> trials = [rec(0, 0.90, 2.0), rec(1, 0.95, 3.0), rec(2, 0.89, 2.5), rec(3, 0.95, 3.0)]
>>> [t.number for t in front(trials, ["maximize", "minimize"])]
[0, 1, 3]
"""

from __future__ import annotations

from collections.abc import Sequence

from automl.engines.base import TrialRecord


def _oriented(t: TrialRecord, directions: Sequence[str]) -> list[float]:
    """The trial's values, each turned so that smaller is better."""
    values = t.values if t.values is not None else [float(t.value)]  # type: ignore[arg-type]
    return [v if d == "minimize" else -v for v, d in zip(values, directions, strict=True)]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` in every (smaller-is-better) value and better in one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def front(trials: Sequence[TrialRecord], directions: Sequence[str]) -> list[TrialRecord]:
    """The non-dominated feasible COMPLETE trials, in trial order (equal values are all kept)."""
    done = [t for t in trials if t.state == "COMPLETE" and t.value is not None and t.feasible]
    points = [_oriented(t, directions) for t in done]
    return [t for t, p in zip(done, points, strict=True) if not any(dominates(q, p) for q in points)]


__all__ = ["dominates", "front"]
