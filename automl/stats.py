"""How sure a comparison of two models on the same test rows is: a paired bootstrap interval.

Two models scored on the same ``n`` test rows give one value per row each (1/0 for a correct class, an absolute
or squared error). The difference of their means is what a verdict reports; resampling the rows with
replacement (the same rows for both models: the pairing) ``resamples`` times, with a fixed seed, gives the
spread of that difference, and the central ``level`` share of it is the interval.

The interval decides the wording: a difference whose interval spans zero is *not distinguishable*. The test
split is *too small to tell a 1-point difference* when the interval's half-width exceeds one point
(:data:`POINT`: 0.01, i.e. one accuracy point, or 1% of the reference error for a regression metric); the rows
it would take are ``n * (half_width / point)**2``, since the half-width shrinks as ``1 / sqrt(n)``. For 0/1
values (accuracy) it is also too small below :func:`min_rows` rows (600 at 95%), whatever the interval: a
1-point difference is then fewer than 6 rows, and even 6 rows that all favour one model are not set apart from
zero by a 95% interval (``0.5**k`` must fall below the 2.5% tail: ``k >= 6``). Two models that agree on every
row of a small split have a zero-width interval, which says nothing about a 1-point difference.

>>> import numpy as np
>>> same = np.array([1, 0, 1, 1, 0, 1, 1, 1] * 25, dtype=float)
>>> paired_bootstrap(same, same).text("gain", percent=True)
'gain +0.0 pt [95% CI +0.0, +0.0]'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

RESAMPLES, SEED, LEVEL = 1000, 0, 0.95
#: the difference a test split must be able to tell apart (one point of a 0..1 metric; 1% of an error)
POINT = 0.01
_CHUNK = 100  # resamples drawn at once (memory: _CHUNK * n indices)


@dataclass(frozen=True)
class Interval:
    """A difference of two models' scores on the same rows, and its bootstrap interval."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = LEVEL
    resamples: int = RESAMPLES

    @property
    def distinguishable(self) -> bool:
        """Whether the interval lies wholly on one side of zero."""
        return self.low > 0 or self.high < 0

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def too_small(self, point: float = POINT) -> bool:
        """Whether the interval is wider than ``point`` each side: the split cannot tell such a difference."""
        return self.half_width > point + 1e-12

    def rows_needed(self, point: float = POINT) -> int | None:
        """About how many test rows would make the half-width ``point`` (None when it is 0 already)."""
        if self.half_width <= 0:
            return None
        return int(np.ceil(self.n * (self.half_width / point) ** 2))

    def text(self, label: str, *, percent: bool = False, digits: int = 4) -> str:
        """``gain +1.2 pt [95% CI -0.8, +3.1]`` (``percent``: a 0..1 metric shown in points)."""
        scale, unit, fmt = (100.0, " pt", "+.1f") if percent else (1.0, "", f"+.{digits}g")
        return (f"{label} {self.estimate * scale:{fmt}}{unit} [{round(self.level * 100):d}% CI "
                f"{self.low * scale:{fmt}}, {self.high * scale:{fmt}}]")

    def size_warning(self, what: str, *, point: float = POINT, shown: str = "1 point",
                     binary: bool = False) -> str | None:
        """One line when the test split is too small to tell a ``point`` difference (``shown``: how that
        difference reads, e.g. "1 point" of accuracy or "1%" of an error) of ``what``; else None. ``binary``:
        the values were 0/1 (accuracy), so fewer than :func:`min_rows` rows are too few whatever the interval."""
        least = min_rows(point, self.level) if binary else 0
        if self.n < least:
            return (f"the test split ({self.n} rows) is too small to tell {shown} of {what}: that is fewer than "
                    f"{round(least * point)} rows, too few for a {round(self.level * 100)}% interval to exclude zero "
                    f"(rule: at least {least} test rows, and an interval at most {shown} wide each side)")
        if not self.too_small(point):
            return None
        return (f"the test split ({self.n} rows) is too small to tell {shown} of {what}: the "
                f"{round(self.level * 100)}% interval is {self.half_width / point:.1f} x {shown} wide each side "
                f"(rule: half-width > {shown}); about {self.rows_needed(point)} test rows would tell it")

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n, "level": self.level,
                "resamples": self.resamples, "distinguishable": self.distinguishable, "half_width": self.half_width}


def min_rows(point: float = POINT, level: float = LEVEL) -> int:
    """The fewest rows of 0/1 values on which a ``point`` difference can lie outside a ``level`` interval: the
    difference must span ``k`` rows with ``0.5**k`` below the interval's tail, even when all favour one model.

    >>> min_rows()
    600
    """
    k = int(np.ceil(np.log2(2 / (1 - level)) - 1e-9))
    return int(np.ceil(k / point - 1e-9))


def _difference(mean_a: np.ndarray, mean_b: np.ndarray) -> np.ndarray:
    return mean_a - mean_b


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *,
                     stat: Callable[[np.ndarray, np.ndarray], np.ndarray] = _difference,
                     resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Interval:
    """The interval of ``stat(mean(a), mean(b))`` (default: ``mean(a) - mean(b)``) over paired resamples of
    the rows of ``a`` and ``b`` (per-row values of two models on the same rows).

    ``stat`` takes arrays of means (one per resample) and is vectorized: e.g. the relative increase of an
    error ``lambda a, b: (a - b) / b``. Deterministic for a given ``seed``.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {a.shape[0]} and {b.shape[0]}")
    n = len(a)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, level, resamples)
    estimate = float(stat(np.array([a.mean()]), np.array([b.mean()]))[0])
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, resamples, _CHUNK):
        idx = rng.integers(0, n, size=(min(_CHUNK, resamples - start), n))
        values.append(stat(a[idx].mean(axis=1), b[idx].mean(axis=1)))
    spread = np.concatenate(values)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), n, level, resamples)


def row_values(outputs: np.ndarray, y: np.ndarray, task: str, metric: str) -> tuple[np.ndarray, str]:
    """One value per row whose mean is ``metric`` (classification: 1/0 for a correct class, i.e. accuracy;
    regression: the absolute error, mae, or the squared error for ``mse``, ``rmse`` and ``loss``), and the
    metric that mean is. A classification metric that is not a mean over rows (f1, auc, precision, recall,
    loss) is compared on accuracy."""
    y = np.asarray(y)
    n = len(y)
    if task == "classification":
        labels = np.argmax(y.reshape(n, -1), axis=-1) if y.ndim > 1 and y.reshape(n, -1).shape[1] > 1 else y.reshape(n)
        predicted = np.argmax(np.asarray(outputs).reshape(n, -1), axis=-1)
        return (predicted == labels.astype(predicted.dtype)).astype(np.float64), "accuracy"
    error = np.asarray(outputs, dtype=np.float64).reshape(n) - y.reshape(n).astype(np.float64)
    if metric in ("mse", "rmse", "loss"):
        return error ** 2, "rmse" if metric == "rmse" else "mse"
    return np.abs(error), "mae"


def gain(a_outputs: np.ndarray, b_outputs: np.ndarray, y: np.ndarray, task: str, metric: str, *,
         seed: int = SEED) -> tuple[Interval, str]:
    """How much better model ``a`` scores than model ``b`` on the same rows (> 0: ``a`` is better), with its
    paired bootstrap interval, on ``metric`` when it is a mean over rows (else accuracy, see :func:`row_values`);
    returns the interval and the metric it is on."""
    a, on = row_values(a_outputs, y, task, metric)
    b, _ = row_values(b_outputs, y, task, metric)
    if on == "accuracy":
        return paired_bootstrap(a, b, seed=seed), on
    if on == "rmse":
        return paired_bootstrap(a, b, seed=seed, stat=lambda ma, mb: np.sqrt(mb) - np.sqrt(ma)), on
    return paired_bootstrap(b, a, seed=seed), on  # an error: lower is better


def relative_increase(a_errors: np.ndarray, b_errors: np.ndarray, *, seed: int = SEED) -> Interval:
    """The interval of ``(mean(a) - mean(b)) / mean(b)``: how much larger ``a``'s error is, relative to ``b``'s
    (the drop of a regression model's export, MAE against Keras's)."""
    return paired_bootstrap(a_errors, b_errors, seed=seed, stat=lambda ma, mb: (ma - mb) / np.maximum(mb, 1e-12))


__all__ = ["LEVEL", "POINT", "RESAMPLES", "Interval", "gain", "min_rows", "paired_bootstrap", "relative_increase",
           "row_values"]


#: how far a drop may pass ``export.max_drop`` and still be within it: float rounding between runtimes is not a drop
DROP_TOLERANCE = 1e-6


def metric_drop(reference: float, value: float, task: str) -> float:
    """What ``value`` (an exported, quantized or pruned model's score) lost against ``reference`` (the Keras
    model's), worse-is-positive: accuracy points lost (classification), or the MAE's relative increase (regression).

    >>> metric_drop(0.9, 0.85, "classification") > 0, metric_drop(2.0, 2.5, "regression")
    (True, 0.25)
    """
    if task == "classification":
        return float(reference - value)
    return float((value - reference) / max(reference, 1e-12))


def over_max_drop(drop: float, max_drop: float) -> bool:
    """Whether ``drop`` is over ``export.max_drop``: the one test of the export, the recovery ladder, the sparse
    copy and the report (so the report flags what the CLI flagged, and nothing else).

    >>> over_max_drop(0.01 + 1e-9, 0.01), over_max_drop(0.0101, 0.01)
    (False, True)
    """
    return drop > max_drop + DROP_TOLERANCE
