"""Generated tasks shared by the benchmarks (no download): the motif-order sequences of ``mobile.py``, which
``_families.py``, ``distill.py`` and ``phone.py`` reuse. A module of its own, so that no two benchmarks import
each other in a circle."""

from __future__ import annotations

import numpy as np


def motif_data(n: int, *, steps: int = 64, channels: int = 4, noise: float = 1.0,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class k = the k-th ordered pair (a, b) of 5 motifs: a somewhere in the first half, b in the second."""
    rng = np.random.default_rng(seed)
    motifs = np.random.default_rng(123).normal(size=(6, 8, channels))
    pairs = [(a, b) for a in range(5) for b in range(5) if a != b][:10]
    y = rng.integers(0, len(pairs), n)
    x = rng.normal(scale=noise, size=(n, steps, channels))
    for i in range(n):
        a, b = pairs[y[i]]
        p, q, r = rng.integers(0, steps // 2 - 8), rng.integers(steps // 2, steps - 8), rng.integers(0, steps - 8)
        x[i, p:p + 8] += motifs[a]
        x[i, q:q + 8] += motifs[b]
        x[i, r:r + 8] += motifs[5]  # a distractor that belongs to no class
    return (3.0 * x + 10.0).astype(np.float32), y.astype(np.int64)
