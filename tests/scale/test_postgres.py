"""One study on a real PostgreSQL database and a real ``mlflow server``: trials in PostgreSQL, runs, the best
model and the registered model on the server, the password nowhere in what automl logs or prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from automl.cli import app
from automl.testing import write_pipeline
from automl.testing.servers import PASSWORD, Postgres

pytestmark = pytest.mark.fresh_folder  # server stores: nothing may be made in mlruns/

runner = CliRunner()
NAME = "pg-tiny"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "AUTOML_STORAGE")}
    return {**env, **extra}


def _runs(client: MlflowClient, name: str) -> tuple[list, list]:
    """The study's session runs and trial runs on the server."""
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None, f"no experiment {name} on the server"
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return ([r for r in runs if r.data.tags.get("automl.role") == "study"],
            [r for r in runs if r.data.tags.get("automl.role") == "trial"])


@dataclass
class Ran:
    folder: Path
    storage: str
    tracking: str
    output: str


@pytest.fixture(scope="module")
def ran(postgres_cluster: Postgres, mlflow_url: str, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """`automl run` in a subprocess: study.storage (with its password) in the pipeline file, --tracking-uri the
    server; 3 trials of 1 epoch, inline."""
    folder = tmp_path_factory.mktemp("pg")
    storage = postgres_cluster.create_database("study")
    path = write_pipeline(folder, name=NAME, study={"trials": 3, "storage": storage}, train={"epochs": 1})
    done = subprocess.run([sys.executable, "-m", "automl.cli", "run", str(path), "--tracking-uri", mlflow_url,
                           "--quiet"], cwd=folder, capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return Ran(folder=folder, storage=storage, tracking=mlflow_url, output=done.stdout + done.stderr)


def test_trials_land_in_postgres(ran: Ran) -> None:
    study = optuna.load_study(study_name=NAME, storage=ran.storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    # nothing went through the SQLite paths: no optuna.db, no lock file
    assert sorted(p.name for p in (ran.folder / "mlruns").iterdir() if p.is_file()) == []


def test_trial_runs_nest_under_the_session_on_the_server(ran: Ran) -> None:
    sessions, trials = _runs(MlflowClient(ran.tracking), NAME)
    assert len(sessions) == 1 and len(trials) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {sessions[0].info.run_id}
    assert {r.info.status for r in sessions + trials} == {"FINISHED"}
    assert not (ran.folder / "mlruns" / "mlflow.db").exists()


def test_best_model_and_registered_model_are_on_the_server(ran: Ran) -> None:
    client = MlflowClient(ran.tracking)
    (session,), _ = _runs(client, NAME)
    files = {a.path: a.file_size for a in client.list_artifacts(session.info.run_id, "model")}
    assert files.get("model/best.keras", 0) > 1000, files
    versions = client.search_model_versions(f"name='{NAME}'")
    assert [v.run_id for v in versions] == [session.info.run_id]
    assert versions[0].source.startswith("mlflow-artifacts:") or "models" in versions[0].source


def test_the_password_is_not_logged_nor_printed(ran: Ran) -> None:
    client = MlflowClient(ran.tracking)
    sessions, trials = _runs(client, NAME)
    for run in sessions + trials:
        logged = [*run.data.params.values(), *run.data.tags.values(), run.info.run_name or ""]
        assert not [v for v in logged if PASSWORD in v], run.info.run_id
    pipeline = Path(client.download_artifacts(sessions[0].info.run_id, "pipeline.yaml", str(ran.folder)))
    text = pipeline.read_text()
    assert "storage: postgresql+psycopg2://automl:***@127.0.0.1" in text and PASSWORD not in text
    assert PASSWORD not in ran.output

    for args, env in ((["studies", "--storage", ran.storage], {}), (["studies"], {"AUTOML_STORAGE": ran.storage})):
        listed = runner.invoke(app, args, env=env)
        assert listed.exit_code == 0, listed.output
        assert NAME in listed.output and "automl:***@127.0.0.1" in listed.output
        assert PASSWORD not in listed.output


def test_the_environment_supplies_storage_and_tracking_uri(postgres_url: str, mlflow_url: str,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No storage in the pipeline, no --tracking-uri: AUTOML_STORAGE and MLFLOW_TRACKING_URI say where."""
    monkeypatch.setenv("AUTOML_STORAGE", postgres_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_url)
    path = write_pipeline(tmp_path, name="pg-env", study={"trials": 1}, train={"epochs": 1})
    result = runner.invoke(app, ["run", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert len(optuna.load_study(study_name="pg-env", storage=postgres_url).trials) == 1
    sessions, trials = _runs(MlflowClient(mlflow_url), "pg-env")
    assert len(sessions) == 1 and len(trials) == 1
    assert not (tmp_path / "mlruns" / "optuna.db").exists() and not (tmp_path / "mlruns" / "mlflow.db").exists()
    assert f"MLflow: {mlflow_url}" in result.output and PASSWORD not in result.output


def test_study_storage_wins_over_the_environment(postgres_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from automl.config import load_pipeline
    from automl.plan import storage_url

    monkeypatch.setenv("AUTOML_STORAGE", postgres_url)
    path = write_pipeline(tmp_path, study={"storage": "sqlite:///elsewhere.db"})
    assert storage_url(load_pipeline(path)) == "sqlite:///elsewhere.db"
    assert storage_url(load_pipeline(path), "sqlite:///given.db") == "sqlite:///given.db"
    assert storage_url(load_pipeline(write_pipeline(tmp_path, name="bare"))) == postgres_url


def test_a_wrong_password_is_one_line_without_it(postgres_url: str) -> None:
    wrong = postgres_url.replace(PASSWORD, "not-the-pass-9c1e")
    result = runner.invoke(app, ["studies", "--storage", wrong])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "not-the-pass-9c1e" not in result.output, result.output
    assert lines[0].startswith("postgresql+psycopg2://automl:***@127.0.0.1:") and "cannot connect (" in lines[0]
    assert 'password authentication failed for user "automl"' in lines[0]


def test_a_missing_driver_names_the_extra(postgres_url: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_pipeline(tmp_path, study={"storage": postgres_url})
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # `import psycopg2` now fails, as where it is missing
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    shown = postgres_url.replace(f":{PASSWORD}@", ":***@")
    assert result.output.strip() == (f"{path}: study.storage: {shown}: needs the database driver psycopg2, which is "
                                     'not installed: pip install "automl[postgres]"')


def test_a_missing_driver_from_the_cli_process(postgres_url: str, tmp_path: Path) -> None:
    """The whole command in a process without the driver: exit 2, one line, no traceback."""
    hide = "import sys; sys.modules['psycopg2'] = None; sys.argv[0] = 'automl'; from automl.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", hide, "studies", "--storage", postgres_url], cwd=tmp_path,
                          capture_output=True, text=True, env=_env(AUTOML_STORAGE=postgres_url), timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.endswith('needs the database driver psycopg2, which is not installed: '
                                'pip install "automl[postgres]"\n'), done.stderr
    assert PASSWORD not in done.stderr


# a worker on "another host": it asks a trial (the heartbeat starts), says so, and waits to be killed
WORKER = """
import sys, time
from automl.engines.base import StudySettings
from automl.engines.optuna import OptunaEngine
from automl.liveness import OWNER
from automl.space import SpaceFile, resolve_space
space = resolve_space(SpaceFile.model_validate({"block": "mlp"}), 2)
engine = OptunaEngine(StudySettings(name="s", space=space, sampler="random", pruner="none", direction="maximize",
                                    seed=0, storage=sys.argv[1], epochs=2, heartbeat_interval=1, grace_period=2))
engine.open()
trial = engine.ask()
engine.mark(trial, {OWNER: "another-host/1/x"})  # its pid means nothing here: only the heartbeat can tell
print(trial.number, flush=True)
time.sleep(600)
"""


def test_heartbeats_on_postgres_fail_a_dead_hosts_trial(postgres_url: str, tmp_path: Path) -> None:
    from automl.engines.base import StudySettings
    from automl.engines.optuna import OptunaEngine
    from automl.space import SpaceFile, resolve_space

    space = resolve_space(SpaceFile.model_validate({"block": "mlp"}), 2)
    settings = StudySettings(name="s", space=space, sampler="random", pruner="none", direction="maximize", seed=0,
                             storage=postgres_url, epochs=2, heartbeat_interval=1, grace_period=2)
    OptunaEngine(settings).open()  # the study exists before the workers race to create it
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, postgres_url], cwd=tmp_path, stdout=subprocess.PIPE,
                                text=True) for _ in range(2)]
    try:
        dead_trial, alive_trial = (int(w.stdout.readline()) for w in workers)  # type: ignore[union-attr]
        workers[0].kill()
        workers[0].wait()
        # a start heals it once its last beat is older than the grace period (polled, as in
        # tests/study/test_heartbeat.py: a fixed sleep raced the clock); the live worker beats every second meanwhile
        deadline = time.monotonic() + 60
        while True:
            engine = OptunaEngine(settings)
            engine.open()
            if engine.healed or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert engine.healed == [(dead_trial, "no heartbeat for 2 s (its process or its host died)")]
        states = {t.number: t.state for t in optuna.load_study(study_name="s", storage=postgres_url).trials}
        assert states == {dead_trial: optuna.trial.TrialState.FAIL, alive_trial: optuna.trial.TrialState.RUNNING}
    finally:
        for w in workers:
            w.kill()
            w.wait()


@pytest.mark.slow  # ~40 s on 2 cores: each worker process imports TensorFlow
def test_two_workers_share_a_postgres_study(postgres_url: str, mlflow_url: str, tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, name="pg-workers", study={"trials": 4, "workers": 2, "storage": postgres_url},
                          train={"epochs": 1})
    result = runner.invoke(app, ["run", str(path), "--tracking-uri", mlflow_url, "--quiet"])
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="pg-workers", storage=postgres_url).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}
    sessions, runs = _runs(MlflowClient(mlflow_url), "pg-workers")
    assert len(sessions) == 1 and len(runs) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {sessions[0].info.run_id}
    assert {r.info.status for r in sessions + runs} == {"FINISHED"}
