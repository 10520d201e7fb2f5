"""Shared fixtures: every test runs in its own working directory, so mlruns/ lands in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("AUTOML_STORAGE", None)  # a developer's shared study must not receive the tests' trials

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("AUTOML_STORAGE", raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def _no_stop_left_over() -> None:
    """A test that signals its own process (a Ctrl-C inside automl.run) must not leave the stop recorded for
    the next test, whose first safe point would raise it."""
    from automl import signals

    signals._state.received, signals._state.count = None, 0


@pytest.fixture
def repo() -> Path:
    return REPO
