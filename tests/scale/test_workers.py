"""`automl worker` and `automl finish`: workers that join one study from their own working directories (their
own mlruns/), sharing only the Optuna storage and the MLflow store, then the end of the study once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from typer.testing import CliRunner

from automl.cli import app
from automl.study.shared import VERSIONS
from automl.testing import write_pipeline
from tests.scale.test_postgres import _env, _runs

runner = CliRunner()


def _host(root: Path, name: str, i: int | str, **study: object) -> Path:
    """A host's working directory with its own copy of the pipeline."""
    folder = root / f"host-{i}"
    folder.mkdir()
    return write_pipeline(folder, name=name, study={"sampler": "random", **study}, train={"epochs": 1})


def test_a_worker_needs_a_budget(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path)
    result = runner.invoke(app, ["worker", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"{path}: study.budget: a worker runs until the study's budget is met: set "
                                     "study.budget or give --budget N")


def test_workers_then_finish_on_one_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers (one after the other) and finish in three folders, sharing a SQLite study and MLflow store:
    the budget is met exactly, the trials nest under one session run, finish registers once; other data, other
    versions and a finished study are refused in one line."""
    storage, tracking = f"sqlite:///{tmp_path / 'optuna.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
    common = ["--storage", storage, "--tracking-uri", tracking, "--quiet"]
    paths = [_host(tmp_path, "one-host", i) for i in range(3)]
    for i, path in enumerate(paths[:2]):
        monkeypatch.chdir(path.parent)
        done = runner.invoke(app, ["worker", str(path), "--budget", "3", "--index", str(i), *common])
        assert done.exit_code == 0, done.output
    assert "trials none; study 'one-host' has 3 of its budget of 3" in done.output  # the first ran them all
    trials = optuna.load_study(study_name="one-host", storage=storage).trials
    assert sorted(t.number for t in trials) == [0, 1, 2] and {t.state for t in trials} == {TrialState.COMPLETE}

    monkeypatch.chdir(paths[2].parent)
    first = runner.invoke(app, ["finish", str(paths[2]), *common[:-1]])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["finish", str(paths[2]), *common[:-1]])
    assert again.exit_code == 0 and "was finished before" in again.output, again.output
    client = MlflowClient(tracking)
    (session,), runs = _runs(client, "one-host")
    assert len(runs) == 3 and {r.data.tags["mlflow.parentRunId"] for r in runs} == {session.info.run_id}
    assert {r.info.status for r in [session, *runs]} == {"FINISHED"}
    assert [str(v.version) for v in client.search_model_versions("name='one-host'")] == ["1"]
    assert "test_accuracy" in session.data.metrics
    assert (paths[2].parent / "mlruns" / "one-host" / "best.keras").stat().st_size > 1000

    other = _host(tmp_path, "one-host", "other-data")
    other.write_text(other.read_text().replace("samples: 200", "samples: 180"))
    refused = runner.invoke(app, ["worker", str(other), "--budget", "3", *common])
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1, refused.output
    assert "study 'one-host' was started on other data" in refused.output
    finished = runner.invoke(app, ["worker", str(paths[0]), "--budget", "4", *common])
    assert finished.exit_code == 2 and "was ended by `automl finish`" in finished.output, finished.output

    study = optuna.load_study(study_name="one-host", storage=storage)
    study.set_user_attr(VERSIONS, {**study.user_attrs[VERSIONS], "sklearn": "0.1"})
    refused = runner.invoke(app, ["worker", str(paths[0]), "--budget", "3", *common])
    assert refused.exit_code == 2, refused.output
    assert refused.output.startswith("study 'one-host' runs sklearn 0.1, this host has "), refused.output


def _worker(path: Path, storage: str, tracking: str, index: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "automl.cli", "worker", str(path), "--index", str(index),
                             "--storage", storage, "--tracking-uri", tracking, "--quiet"], cwd=path.parent,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(path: Path, storage: str, tracking: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "automl.cli", "finish", str(path), "--storage", storage,
                           "--tracking-uri", tracking], cwd=path.parent, env=_env(), capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # ~1-2 min on 2 cores: three processes import TensorFlow and share the cores
def test_three_hosts_meet_a_budget_of_twelve(postgres_url: str, mlflow_url: str, tmp_path: Path) -> None:
    paths = [_host(tmp_path, "hosts", i, budget=12) for i in range(4)]
    workers = [_worker(path, postgres_url, mlflow_url, i) for i, path in enumerate(paths[:3])]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    done = _finish(paths[3], postgres_url, mlflow_url)
    assert done.returncode == 0, done.stdout + done.stderr

    trials = optuna.load_study(study_name="hosts", storage=postgres_url).trials
    assert sorted(t.number for t in trials) == list(range(12))
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    assert len({t.user_attrs["worker"] for t in trials}) >= 2  # the hosts shared the work
    client = MlflowClient(mlflow_url)
    (session,), runs = _runs(client, "hosts")
    assert len(runs) == 12 and {r.data.tags["mlflow.parentRunId"] for r in runs} == {session.info.run_id}
    assert {r.info.status for r in [session, *runs]} == {"FINISHED"}
    versions = client.search_model_versions("name='hosts'")
    assert [v.run_id for v in versions] == [session.info.run_id]
    # the best model came from the MLflow server: no host but the finishing one has a best.keras
    assert [p.parent.name for p in paths if (p.parent / "mlruns" / "hosts" / "best.keras").exists()] == ["host-3"]


@pytest.mark.slow  # ~1-2 min: a worker is killed with -9 mid-trial, another retries its trial
def test_a_worker_killed_mid_trial(postgres_url: str, mlflow_url: str, tmp_path: Path) -> None:
    budget = 6
    study = {"budget": budget, "heartbeat_interval": 1, "grace_period": 3}
    paths = [_host(tmp_path, "killed", i, **study) for i in range(4)]
    for path in paths:  # trials long enough to be killed in
        path.write_text(path.read_text().replace("epochs: 1", "epochs: 60"))
    workers = [_worker(path, postgres_url, mlflow_url, i) for i, path in enumerate(paths[:3])]
    victim = workers[0]
    try:
        killed = None
        deadline = time.monotonic() + 300
        while killed is None and time.monotonic() < deadline and victim.poll() is None:
            try:
                running = optuna.load_study(study_name="killed", storage=postgres_url).get_trials(
                    states=(TrialState.RUNNING,))
            except KeyError:  # not made yet
                running = []
            mine = [t for t in running if t.user_attrs.get("worker") == 0 and "mlflow_run_id" in t.user_attrs]
            if mine:
                victim.send_signal(signal.SIGKILL)
                killed = mine[0].number
            time.sleep(0.2)
        assert killed is not None, "worker 0 never ran a trial"
        victim.wait()
        outputs = [w.communicate(timeout=600)[0] for w in workers[1:]]
        assert [w.returncode for w in workers[1:]] == [0, 0], outputs
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    done = _finish(paths[3], postgres_url, mlflow_url)
    assert done.returncode == 0, done.stdout + done.stderr

    trials = {t.number: t for t in optuna.load_study(study_name="killed", storage=postgres_url).trials}
    assert trials[killed].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert retries[0].params == trials[killed].params
    finished = [t for t in trials.values() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == budget and len(trials) == budget + 1 and sorted(trials) == list(range(budget + 1))
    assert not [t for t in trials.values() if t.state in (TrialState.RUNNING, TrialState.WAITING)]

    client = MlflowClient(mlflow_url)
    (session,), runs = _runs(client, "killed")
    assert not [r for r in [session, *runs] if r.info.status == "RUNNING"]
    dead = [r for r in runs if r.data.tags["automl.trial"] == str(killed)]
    assert len(dead) == 1 and dead[0].info.status == "FAILED"
    assert dead[0].data.tags["automl.fail_reason"] == trials[killed].user_attrs["fail_reason"]
    assert "died" in dead[0].data.tags["automl.fail_reason"] or "heartbeat" in dead[0].data.tags["automl.fail_reason"]
    assert [r.data.tags.get("automl.retry_of") for r in runs if r.data.tags["automl.trial"] ==
            str(retries[0].number)] == [str(killed)]
