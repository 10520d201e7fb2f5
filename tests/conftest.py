"""Shared fixtures: every test runs in its own working directory, so mlruns/ lands in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("AUTOML_STORAGE", None)  # a developer's shared study must not receive the tests' trials

from automl.testing.fixtures import _migrated_mlflow, made_stores  # noqa: E402, F401  (after the environment)

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that share a fixture made once per module or package (a real study, trained models, a PostgreSQL
    cluster) form one xdist group: under `--dist loadgroup` (the Makefile's) they run in one worker, which makes
    the fixture once; spread over two workers, each made it (10-40 s each, measured in the durations' setups)."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None or item.get_closest_marker("xdist_group") is not None:
            continue
        scopes = {defs[-1].scope for name in info.names_closure if (defs := info.name2fixturedefs.get(name))}
        if "package" in scopes:
            item.add_marker(pytest.mark.xdist_group(str(item.path.parent.relative_to(REPO))))
        elif "module" in scopes:
            item.add_marker(pytest.mark.xdist_group(str(item.path.relative_to(REPO))))


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("AUTOML_STORAGE", raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def _made_mlflow_store(_workdir: Path, request: pytest.FixtureRequest) -> None:
    """The working directory's mlruns/mlflow.db, made already (automl.testing.fixtures.made_stores): MLflow's
    migrations of a fresh SQLite store took ~2.5 s of a one-trial study's ~4.5 s on 2 cores, in every test that ran
    a study, in its own process or in a subprocess started there.

    A test of what a fresh folder gets (the stores' creation, a race on it, permissions, nothing written) is marked
    ``fresh_folder`` and starts without it; so does every ``slow`` test, so that `make test-slow` and .ci/run go on
    proving a first run on a fresh folder end to end."""
    if request.node.get_closest_marker("fresh_folder") or request.node.get_closest_marker("slow"):
        return
    if not (_workdir / "mlruns" / "mlflow.db").exists():  # a folder a module's tests share keeps its store
        request.getfixturevalue("made_stores")


@pytest.fixture(autouse=True)
def _no_stop_left_over() -> None:
    """A test that signals its own process (a Ctrl-C inside automl.run) must not leave the stop recorded for
    the next test, whose first safe point would raise it."""
    from automl import signals

    signals._state.received, signals._state.count = None, 0


@pytest.fixture
def repo() -> Path:
    return REPO
