"""Batches instead of arrays: a memory-mapped or large split reaches fit / evaluate a batch at a time, in a
seeded order per epoch, with the same losses, metrics and class weights as arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.data import batches as batches_module
from automl.data.batches import batches, fit_inputs, streamed
from automl.data.rows import Rows


def _data(tmp_path: Path) -> tuple[Rows, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    x = (rng.integers(0, 100, (150, 5)) + y[:, None] * 30).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    return Rows([tmp_path / "x.npy"]), x, y


def test_what_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows, x, _ = _data(tmp_path)
    assert streamed(rows) and not streamed(x)
    monkeypatch.setattr(batches_module, "STREAM_BYTES", x.nbytes - 1)
    assert streamed(x)


def test_each_epoch_is_a_new_seeded_order_of_every_row(tmp_path: Path) -> None:
    rows, x, y = _data(tmp_path)
    feed = batches(rows, y, 32, shuffle=True, seed=7)
    first = np.concatenate([feed[i][0] for i in range(len(feed))])
    feed.on_epoch_end()
    second = np.concatenate([feed[i][0] for i in range(len(feed))])
    again = batches(rows, y, 32, shuffle=True, seed=7)
    assert len(feed) == 5 and sorted(map(tuple, first)) == sorted(map(tuple, x))
    assert not np.array_equal(first, second)
    assert np.array_equal(np.concatenate([again[i][0] for i in range(len(again))]), first)
    ordered = batches(rows, None, 64)
    assert np.array_equal(np.concatenate([ordered[i] for i in range(len(ordered))]), x)


def test_losses_metrics_and_class_weights_match_arrays(tmp_path: Path) -> None:
    import keras

    from automl.builders.metrics import score_model

    rows, x, y = _data(tmp_path)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Rescaling(1 / 255), keras.layers.Dense(3),
                              keras.layers.Softmax()])
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
    weights = {0: 3.0, 1: 1.0, 2: 0.5}
    streamed_fit = model.fit(**fit_inputs(rows, y, 32, seed=1), class_weight=weights, verbose=0)
    array_fit = model.fit(x, y, batch_size=32, class_weight=weights, verbose=0)  # lr 0: the same weights
    assert streamed_fit.history["loss"][0] == pytest.approx(array_fit.history["loss"][0], rel=1e-5)
    assert score_model(model, rows, y, "classification", 3) == pytest.approx(
        score_model(model, x, y, "classification", 3), rel=1e-5)
