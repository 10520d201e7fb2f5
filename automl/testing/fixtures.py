"""pytest fixtures shared by test folders: a conftest imports them, so each folder keeps its own copy.

    from automl.testing.fixtures import in_study, tiny_study  # noqa: F401

``made_stores`` gives a test an MLflow store whose tables are made already (a fresh SQLite store's migrations
take seconds; the fake runner's tests take milliseconds otherwise). ``postgres_url`` and ``mlflow_url`` give a
test a real PostgreSQL database and a real ``mlflow server`` (:mod:`automl.testing.servers`).
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from automl.testing.servers import Postgres, Unavailable, mlflow_server, postgres
from automl.testing.studies import StudyDir, make_study

_databases = itertools.count()


@pytest.fixture(scope="package")
def tiny_study(tmp_path_factory: pytest.TempPathFactory, _migrated_mlflow: Path) -> StudyDir:
    """One real tiny study (4 trials, 2 epochs, TPE + median pruner) for the importing folder's tests (its MLflow
    store copied from :func:`_migrated_mlflow`, which the conftest imports too)."""
    folder = tmp_path_factory.mktemp("study")
    (folder / "mlruns").mkdir()
    shutil.copyfile(_migrated_mlflow, folder / "mlruns" / "mlflow.db")
    return make_study(folder, trials=4, epochs=2)


@pytest.fixture
def in_study(tiny_study: StudyDir, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work inside the study's folder (its relative mlruns/ paths then resolve)."""
    monkeypatch.chdir(tiny_study.folder)
    return tiny_study.folder


@pytest.fixture(scope="session")
def _migrated_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store with MLflow's migrations run, made once per session."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # makes the tables
    return path


@pytest.fixture
def made_stores(_migrated_mlflow: Path) -> Path:
    """The working directory's ``mlruns/mlflow.db`` (the default tracking store), made and empty; its path."""
    target = Path.cwd() / "mlruns" / "mlflow.db"
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(_migrated_mlflow, target)
    return target


@pytest.fixture(scope="package")
def postgres_cluster() -> Iterator[Postgres]:
    """A real PostgreSQL cluster for the importing folder (skipped, with the reason, where none can run)."""
    try:
        with postgres() as cluster:
            yield cluster
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL here: {exc}")


@pytest.fixture
def postgres_url(postgres_cluster: Postgres, request: pytest.FixtureRequest) -> str:
    """A fresh database of :func:`postgres_cluster` for this test: ``postgresql+psycopg2://automl:PASSWORD@...``."""
    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:50] + f"_{next(_databases)}"
    return postgres_cluster.create_database(name)


@pytest.fixture(scope="package")
def mlflow_url() -> Iterator[str]:
    """A real ``mlflow server`` for the importing folder (artifacts served through it): ``http://127.0.0.1:PORT``.
    Tests share it: each names its own study (an experiment)."""
    with mlflow_server() as server:
        yield server.url


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tempfile's folder, inside the test's: what a measuring command was handed must be gone afterwards."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder

