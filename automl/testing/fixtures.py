"""pytest fixtures shared by test folders: a conftest imports them, so each folder keeps its own copy.

    from automl.testing.fixtures import in_study, tiny_study  # noqa: F401
"""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.testing.studies import StudyDir, make_study


@pytest.fixture(scope="package")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> StudyDir:
    """One real tiny study (4 trials, 2 epochs, TPE + median pruner) for the importing folder's tests."""
    return make_study(tmp_path_factory.mktemp("study"), trials=4, epochs=2)


@pytest.fixture
def in_study(tiny_study: StudyDir, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work inside the study's folder (its relative mlruns/ paths then resolve)."""
    monkeypatch.chdir(tiny_study.folder)
    return tiny_study.folder
