"""Trial params in MLflow read as written: floats rounded to 10 significant digits, the rest untouched."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import automl.tracking.mlflow as tracking
from automl.tracking.mlflow import Tracker, param_value


@pytest.mark.parametrize("value, shown", [
    (0.1 + 0.2, "0.3"), (1 / 3, "0.3333333333"), (1e-05, "1e-05"), (2.5e-4, "0.00025"), (3.0, "3.0"),
    (np.float32(0.1), "0.1"), (np.float64(0.7000000000000001), "0.7"), (float("nan"), "nan"),
    (7, "7"), (np.int64(64), "64"), (True, "True"), ("adam", "adam"), (None, "None"),
])
def test_param_value(value: object, shown: str) -> None:
    assert param_value(value) == shown


def test_docstring_examples_run() -> None:
    assert doctest.testmod(tracking).failed == 0


class _Client:
    def __init__(self) -> None:
        self.batches: list[dict[str, object]] = []

    def log_batch(self, run_id: str, **batch: object) -> None:
        self.batches.append(batch)


def test_logged_params_are_rounded() -> None:
    tracker = Tracker.__new__(Tracker)  # no store: what reaches MLflow's client is the point
    tracker.client = _Client()  # type: ignore[assignment]
    tracker.log("run", params={"dropout": 0.1 + 0.2, "units": 32, "optimizer": "adam", "lr": 0.0012345678901234})
    params = tracker.client.batches[0]["params"]  # type: ignore[attr-defined]
    assert {p.key: p.value for p in params} == {"dropout": "0.3", "units": "32", "optimizer": "adam",
                                                "lr": "0.00123456789"}
