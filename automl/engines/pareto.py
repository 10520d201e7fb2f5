"""Pareto dominance over an engine's trial records: the front of a multi-objective study (the feasible completed
trials no other feasible trial dominates) and the test of ``pruner: dominated``.

>>> from automl.engines.base import TrialRecord
>>> rec = lambda n, acc, ms: TrialRecord(n, "COMPLETE", acc, {}, values=[acc, ms])
>>> trials = [rec(0, 0.90, 2.0), rec(1, 0.95, 3.0), rec(2, 0.89, 2.5), rec(3, 0.95, 3.0)]
>>> [t.number for t in front(trials, ["maximize", "minimize"])]
[0, 1, 3]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from automl.engines.base import TrialRecord
from automl.states import TrialState


def _oriented(t: TrialRecord, directions: Sequence[str]) -> list[float]:
    """The trial's values, each turned so that smaller is better."""
    values = t.values if t.values is not None else [float(t.value)]  # type: ignore[arg-type]
    return [v if d == "minimize" else -v for v, d in zip(values, directions, strict=True)]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` in every (smaller-is-better) value and better in one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def front(trials: Sequence[TrialRecord], directions: Sequence[str]) -> list[TrialRecord]:
    """The non-dominated feasible COMPLETE trials, in trial order (equal values are all kept)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None and t.feasible]
    points = [_oriented(t, directions) for t in done]
    return [t for t, p in zip(done, points, strict=True) if not any(dominates(q, p) for q in points)]


#: a trial attribute of a multi-objective study: per epoch (0, 1, ...), each objective's value known at the end
#: of that epoch (the per-epoch ``val_`` metrics, and what was known before training: params_count, tflite_*),
#: None for one known only at the end. What ``pruner: dominated`` compares a running trial with.
EPOCH_OBJECTIVES = "automl.epoch_objectives"


def dominator(mine: Sequence[float | None], others: Sequence[tuple[int, Sequence[Sequence[float | None]]]],
              objectives: Sequence[tuple[str, str]], epoch: int, *, min_trials: int = 1) -> str | None:
    """Why a running trial is dominated at ``epoch`` (``pruner: dominated``), or None when it is not.

    ``mine``: its value of each objective at ``epoch`` (None: not known yet); ``others``: each completed trial's
    number and :data:`EPOCH_OBJECTIVES` record. Only the objectives known for both trials are compared; a trial
    that reached no ``epoch`` does not count, and fewer than ``min_trials`` such trials decide nothing. The
    reason names the first (lowest-numbered) trial that is at least as good on every compared objective and
    better on one.

    >>> obj = [("val_accuracy", "maximize"), ("tflite_latency_ms", "minimize")]
    >>> dominator([0.61, 0.05], [(1, [[0.5, 0.03], [0.74, 0.03]])], obj, 1)
    'dominated at epoch 1 by trial 1: val_accuracy 0.61 <= 0.74, tflite_latency_ms 0.05 >= 0.03'
    >>> dominator([0.61, 0.05], [(1, [[0.5, 0.03], [0.74, 0.03]])], obj, 1, min_trials=2) is None
    True
    """
    reached = [(n, record[epoch]) for n, record in others if len(record) > epoch]
    if len(reached) < min_trials:
        return None
    for number, theirs in sorted(reached, key=lambda r: r[0]):
        pairs = {i: (float(a), float(b)) for i, (a, b) in enumerate(zip(mine, theirs, strict=False))
                 if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)}
        if not pairs:
            continue
        sign = {i: 1.0 if objectives[i][1] == "minimize" else -1.0 for i in pairs}
        if dominates([sign[i] * b for i, (_, b) in pairs.items()], [sign[i] * a for i, (a, _) in pairs.items()]):
            said = ", ".join(f"{objectives[i][0]} {a:.4g} {'>=' if objectives[i][1] == 'minimize' else '<='} {b:.4g}"
                             for i, (a, b) in pairs.items())
            return f"dominated at epoch {epoch} by trial {number}: {said}"
    return None


__all__ = ["EPOCH_OBJECTIVES", "dominates", "dominator", "front"]
