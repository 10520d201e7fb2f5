"""What ``fit`` / ``evaluate`` / ``predict`` are given: the arrays themselves, or batches read one at a time.

Keras 3's ``fit`` on a NumPy array copies it into tensors, memory-mapped arrays included (a 2.1 GB float32
memmap took a process from 0.8 to 5.2 GB resident). A split read from files (:class:`~automl.data.rows.Rows`,
e.g. of source ``npy``) or larger than :data:`STREAM_BYTES` goes in as a ``keras.utils.PyDataset``
(every backend, JAX included) that reads one batch of rows at a time, in a fresh seeded order each epoch for
training; then the process's memory does not depend on the number of rows. Small splits go in as arrays
(Keras slices them faster than Python reads batches).

Keras is imported only when a batch reader is made: the study's own process never imports it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from automl.data.rows import Rows

#: a split in memory larger than this many bytes is also fed batch by batch (a Rows always is)
STREAM_BYTES = 256 * 2**20


def streamed(x: Any) -> bool:
    """Whether ``x`` goes to Keras batch by batch (:func:`batches`) rather than as an array."""
    return isinstance(x, Rows) or int(getattr(x, "nbytes", 0)) > STREAM_BYTES


def batches(x: Any, y: np.ndarray | None, batch_size: int, *, shuffle: bool = False, seed: int | None = None
            ) -> Any:
    """A ``keras.utils.PyDataset`` of ``(x, y)`` batches (``x`` only when ``y`` is None) read from ``x`` a batch
    at a time; with ``shuffle`` the rows come in a new order each epoch, drawn from ``seed`` and the epoch.

    ``fit(batches(...), class_weight=...)`` weighs the samples as ``fit(x, y, class_weight=...)`` would.
    """
    return _batch_class()(x, y, batch_size, shuffle=shuffle, seed=seed)


def fit_inputs(x: Any, y: np.ndarray, batch_size: int, *, seed: int | None = None) -> dict[str, Any]:
    """``fit``'s data arguments for ``x``, ``y``: ``x=``, ``y=`` and ``batch_size=`` for arrays, ``x=`` alone
    (a shuffled :func:`batches`) for a streamed split."""
    if streamed(x):
        return {"x": batches(x, y, batch_size, shuffle=True, seed=seed)}
    return {"x": x, "y": y, "batch_size": batch_size}


def eval_inputs(x: Any, y: np.ndarray, batch_size: int) -> Any:
    """``validation_data=`` for ``x``, ``y``: the arrays, or :func:`batches` in order for a streamed split."""
    return batches(x, y, batch_size) if streamed(x) else (x, y)


@functools.cache
def _batch_class() -> type:
    import keras

    class Batches(keras.utils.PyDataset):  # type: ignore[misc]
        """Batches of rows of ``x`` (and ``y``): an order per epoch, the rows read when Keras asks."""

        def __init__(self, x: Any, y: np.ndarray | None, batch_size: int, *, shuffle: bool,
                     seed: int | None) -> None:
            super().__init__()  # one worker, no process: the reader runs where the batches are consumed
            self.x, self.y, self.batch_size = x, (None if y is None else np.asarray(y)), int(batch_size)
            self.shuffle, self.seed, self.epoch = shuffle, seed, 0
            self.order = self._order()

        def _order(self) -> np.ndarray:
            if not self.shuffle:
                return np.arange(len(self.x))
            return np.random.default_rng([0 if self.seed is None else self.seed, self.epoch]).permutation(len(self.x))

        def __len__(self) -> int:
            return -(-len(self.x) // self.batch_size)

        def __getitem__(self, i: int) -> Any:
            rows = np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size])  # forward reads of the file
            x = self.x.read(self.x.index[rows]) if isinstance(self.x, Rows) else np.asarray(self.x[rows])
            return x if self.y is None else (x, self.y[rows])

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self._order()

    return Batches


__all__ = ["STREAM_BYTES", "batches", "eval_inputs", "fit_inputs", "streamed"]
