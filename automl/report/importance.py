"""Parameter importances from the trials alone (any engine): a random forest fitted to value ~ params.

The same idea as Optuna's default fANOVA evaluator (a random forest over the completed trials), read here
as the forest's impurity importances, so that studies of every engine get the same treatment. Conditional
parameters absent from a trial get their own "absent" code; parameters that never take two values (fixed ones,
even when a condition logs them only for some trials) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

MIN_TRIALS = 4


def _column(values: list[Any]) -> np.ndarray:
    numbers = [v for v in values if v is not None]
    if numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        floor = min(float(v) for v in numbers)
        span = max(float(v) for v in numbers) - floor
        # absent (a condition not met) sorts below every real value, so a tree can split it off
        return np.array([floor - span - 1.0 if v is None else float(v) for v in values])
    codes = {c: i for i, c in enumerate(sorted({repr(v) for v in values}))}
    return np.array([float(codes[repr(v)]) for v in values])


def param_importances(params: Sequence[dict[str, Any]], values: Sequence[float], *,
                      seed: int = 0) -> dict[str, float]:
    """Importance of each varying parameter for ``values`` (sums to 1), most important first.

    Needs at least ``MIN_TRIALS`` finite values; returns ``{}`` otherwise or when nothing varies.

    >>> param_importances([{"lr": 0.1 * i, "units": 8} for i in range(8)], [float(i) for i in range(8)])
    {'lr': 1.0}
    >>> sorted(param_importances([{"lr": 0.1 * i, **({"nesterov": True} if i % 2 else {})} for i in range(8)],
    ...                          [float(i % 2) for i in range(8)]))
    ['lr']
    """
    from sklearn.ensemble import RandomForestRegressor

    rows = [(p, float(v)) for p, v in zip(params, values, strict=True) if v is not None and math.isfinite(v)]
    if len(rows) < MIN_TRIALS:
        return {}
    names = sorted({k for p, _ in rows for k in p})
    # searched: two or more values where present (a fixed value logged only under a condition, such as
    # `nesterov: true` with sgd, varies by its presence alone: that is the condition's parent's importance)
    names = [n for n in names if len({repr(p[n]) for p, _ in rows if p.get(n) is not None}) > 1]
    y = np.array([v for _, v in rows])
    if not names or float(np.ptp(y)) == 0.0:
        return {}
    x = np.stack([_column([p.get(n) for p, _ in rows]) for n in names], axis=1)
    forest = RandomForestRegressor(n_estimators=64, max_depth=64, min_samples_leaf=1, random_state=seed)
    forest.fit(x, y)
    scores = dict(zip(names, (float(s) for s in forest.feature_importances_), strict=True))
    total = sum(scores.values()) or 1.0
    return dict(sorted(((k, v / total) for k, v in scores.items()), key=lambda kv: -kv[1]))
