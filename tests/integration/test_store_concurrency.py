"""Several processes creating the Optuna and MLflow stores of a fresh mlruns/ at one moment all succeed.

Both stores run alembic migrations when they make a fresh SQLite file; two processes doing it at once used
to kill one of them ("Online migration expected to match one row", "table ... already exists"). It is a
race: the store-level test repeats it on fresh folders (before the fix it failed in 4 of 4 rounds, and
`automl run` in every one of 6).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from automl.testing import write_pipeline

pytestmark = pytest.mark.fresh_folder  # the race to make the stores of a fresh folder

STORAGE = "sqlite:///mlruns/optuna.db"

# Imports first, then waits for "go" on stdin, so that every process reaches the stores together.
_OPEN_STORES = """
import sys
from automl.engines.base import StudySettings
from automl.engines.optuna import OptunaEngine
from automl.space import SpaceFile, resolve_space
from automl.tracking import Tracker
import mlflow.store.tracking.sqlalchemy_store, optuna.storages  # noqa: the slow imports, before the start
name = sys.argv[1]
space = resolve_space(SpaceFile.model_validate({"block": "mlp"}), 2)
print("ready", flush=True)
sys.stdin.readline()
engine = OptunaEngine(StudySettings(name=name, space=space, sampler="random", pruner="none",
                                    direction="maximize", seed=0, storage="sqlite:///mlruns/optuna.db", epochs=1))
engine.open()
tracker = Tracker(name)  # after Optuna's store, whose lock is held ~0.1 s: MLflow's migrations still collide
engine.tell(engine.ask(), "COMPLETE", 0.5, {})
tracker.end(tracker.start_run(f"{name}-run"))
"""


def _studies(folder: Path) -> dict[str, int]:
    storage = f"sqlite:///{folder}/mlruns/optuna.db"
    return {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(storage)}


def _runs(folder: Path, experiment: str, role: str | None = None) -> int:
    client = MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment}"
    where = f"tags.`automl.role` = '{role}'" if role else ""
    return len(client.search_runs([exp.experiment_id], where))


@pytest.mark.parametrize("attempt", [0, *(pytest.param(i, marks=pytest.mark.slow) for i in (1, 2))])
def test_three_processes_create_the_stores_at_once(tmp_path: Path, attempt: int) -> None:
    names = ["a", "a", "b"]  # two on one study and experiment, one on another, in one fresh mlruns/
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_STORES, name], cwd=tmp_path, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.communicate()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-3000:]
    assert _studies(tmp_path) == {"a": 2, "b": 1}
    assert (_runs(tmp_path, "a"), _runs(tmp_path, "b")) == (2, 1)


@pytest.mark.slow  # two `automl run` processes, ~30 s: run by .ci/run after the default suite
@pytest.mark.parametrize("same", [True, False], ids=["same-study", "two-studies"])
def test_two_automl_runs_started_together_on_a_fresh_folder(tmp_path: Path, same: bool) -> None:
    """Covered in the default run by: tests/integration/test_store_concurrency.py::
    test_three_processes_create_the_stores_at_once (the same stores opened by automl's own engine and tracker, three
    processes at one moment on a fresh mlruns/)."""
    # one round each (~20 s): the store-level test above repeats the race
    for round_ in range(1):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        pipelines = [write_pipeline(folder, name=name, study={"trials": 1}, train={"epochs": 1})
                     for name in (("tiny",) if same else ("one", "two"))]
        commands = [[sys.executable, "-m", "automl.cli", "run", str(pipelines[i % len(pipelines)]), "--quiet"]
                    for i in range(2)]
        procs = [subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for cmd in commands]
        try:
            results = [proc.communicate(timeout=300) for proc in procs]
        finally:
            for proc in procs:
                proc.kill()
        for proc, (out, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, f"round {round_}: {out[-1000:]}{err[-3000:]}"
        if same:
            assert _studies(folder) == {"tiny": 2}
            assert _runs(folder, "tiny", "trial") == 2
        else:
            assert _studies(folder) == {"one": 1, "two": 1}
            assert (_runs(folder, "one", "trial"), _runs(folder, "two", "trial")) == (1, 1)
