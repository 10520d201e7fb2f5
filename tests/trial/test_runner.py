"""One trial through the real Keras path: outcome, best-epoch weights, pruning, failure reasons."""

from __future__ import annotations

import numpy as np
import pytest

from automl.builders.model import ModelSpec
from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.testing.fakes import PruneAfter
from automl.trial import TrialRequest, run_trial

HP = {"layers": 1, "units": 8, "activation": "relu", "dropout": 0.0, "optimizer": "adam", "lr": 0.01}


@pytest.fixture(scope="module")
def data():
    return load_dataset(DataConfig(source="synthetic", samples=200, features=8, classes=3))


def _request(data, **kw) -> TrialRequest:
    spec = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes)
    base = dict(number=0, block="mlp", hp=HP, spec=spec, metric="val_accuracy", direction="maximize",
                epochs=3, batch_size=32, seed=0)
    return TrialRequest(**{**base, **kw})


def test_complete_trial_keeps_its_best_epoch(data) -> None:
    result = run_trial(_request(data), data)
    assert result.state == "COMPLETE" and len(result.history) == 3
    values = [h["val_accuracy"] for h in result.history]
    assert result.value == max(values) and result.best_epoch == values.index(max(values))
    assert all("lr" in h and "loss" in h for h in result.history)
    scores = result.model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(result.value, abs=1e-6)  # weights of the best epoch


def test_pruned_trial_stops_early(data) -> None:
    reporter = PruneAfter(1)
    result = run_trial(_request(data, epochs=5), data, reporter)
    assert result.state == "PRUNED" and len(result.history) == 1 and reporter.reported[0][0] == 0


def test_exception_becomes_a_failed_trial_with_its_reason(data) -> None:
    result = run_trial(_request(data, hp={**HP, "optimizer": "nadamm"}), data)
    assert result.state == "FAIL" and "unknown optimizer 'nadamm'" in (result.reason or "")


def test_unlogged_metric_fails_with_what_is_logged(data) -> None:
    result = run_trial(_request(data, metric="val_r2"), data)
    assert result.state == "FAIL" and "metric 'val_r2' is not logged" in (result.reason or "")


def test_model_takes_raw_inputs(data) -> None:
    result = run_trial(_request(data), data)
    raw = data.x_test[:5]
    probs = result.model.predict(raw, verbose=0)
    assert probs.shape == (5, data.num_classes) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
