"""A study budget reserved in the shared storage: concurrent processes never overshoot it, and a trial whose
process was killed is failed, retried and counted once. Engine-level (no Keras): each process is a real
OptunaEngine on a real SQLite file or PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.engines.base import StudySettings
from automl.engines.optuna import OptunaEngine, counted
from automl.space import SpaceFile, resolve_space

# a worker: reserve a trial, tell it, until the budget is met; prints the numbers it ran
WORKER = """
import sys, time
from automl.engines.base import StudySettings
from automl.engines.optuna import OptunaEngine
from automl.space import SpaceFile, resolve_space
space = resolve_space(SpaceFile.model_validate({"block": "mlp"}), 2)
engine = OptunaEngine(StudySettings(name="b", space=space, sampler="random", pruner="none", direction="maximize",
                                    seed=int(sys.argv[3]), storage=sys.argv[1], epochs=2, worker=int(sys.argv[3]),
                                    heartbeat_interval=1, grace_period=2, budget=int(sys.argv[2])))
engine.open()
ran = []
while True:
    trial = engine.reserve(int(sys.argv[2]))
    if trial is None:
        if not engine.count().running:
            break
        time.sleep(0.05)
        continue
    space.sample(trial)
    if sys.argv[4] == "hang":  # asked, then waits to be killed mid-trial
        print(trial.number, flush=True)
        time.sleep(600)
    engine.tell(trial, "COMPLETE", float(trial.number), {})
    ran.append(trial.number)
print(" ".join(map(str, ran)), flush=True)
"""


def _settings(storage: str, budget: int) -> StudySettings:
    space = resolve_space(SpaceFile.model_validate({"block": "mlp"}), 2)
    return StudySettings(name="b", space=space, sampler="random", pruner="none", direction="maximize", seed=0,
                         storage=storage, epochs=2, heartbeat_interval=1, grace_period=2, budget=budget)


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'optuna.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _start(storage: str, budget: int, worker: int, mode: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WORKER, storage, str(budget), str(worker), mode], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_processes_meet_the_budget_exactly(storage: str, tmp_path: Path) -> None:
    OptunaEngine(_settings(storage, 30)).open()  # made once; the workers load it
    workers = [_start(storage, 30, i, "run", tmp_path) for i in range(2)]
    outputs = [w.communicate(timeout=240) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    ran = [int(n) for out, _ in outputs for n in out.split()]
    trials = optuna.load_study(study_name="b", storage=storage).trials
    assert sorted(ran) == list(range(30)) == sorted(t.number for t in trials)
    assert {t.state for t in trials} == {TrialState.COMPLETE}


def test_a_killed_trial_is_retried_and_counted_once(storage: str, tmp_path: Path) -> None:
    OptunaEngine(_settings(storage, 3)).open()
    hung = _start(storage, 3, 7, "hang", tmp_path)
    try:
        killed = int(hung.stdout.readline())  # type: ignore[union-attr]
    finally:
        hung.kill()
        hung.wait()
    # a start heals it once its last beat is older than the grace period (polled: a fixed sleep raced the clock)
    deadline = time.monotonic() + 60
    while True:
        engine = OptunaEngine(_settings(storage, 3))
        engine.open()
        if engine.healed or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert engine.healed and engine.healed[0][0] == killed
    study = optuna.load_study(study_name="b", storage=storage)
    assert counted(study.trials).counted == 0 and counted(study.trials).waiting == 1
    numbers, space = [], _settings(storage, 3).space
    while (trial := engine.reserve(3)) is not None:
        space.sample(trial)  # the retry's parameters are the killed trial's
        engine.tell(trial, "COMPLETE", 1.0, {})
        numbers.append(trial.number)
    trials = {t.number: t for t in optuna.load_study(study_name="b", storage=storage).trials}
    assert trials[killed].state == TrialState.FAIL and len(numbers) == 3 and killed not in numbers
    retry = trials[numbers[0]]
    assert retry.system_attrs["failed_trial"] == killed and retry.params == trials[killed].params
    with pytest.warns(optuna.exceptions.ExperimentalWarning):  # Optuna's own reader of a retry
        assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == killed
    assert "fail_reason" not in retry.user_attrs
    assert counted(list(trials.values())).counted == 3 and sorted(trials) == list(range(4))


# three sessions of Keras trainings (~25 s): the budget across sessions runs in the default suite with scripted
# trials (tests/study/test_loop_faults.py::test_a_study_budget_holds_across_sessions); `--budget` parsing is in
# tests/cli/test_typed_options.py
@pytest.mark.slow
def test_run_stops_at_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`automl run --budget N`: the session adds study.trials but the study never passes N in total."""
    from typer.testing import CliRunner

    from automl.cli import app
    from automl.testing import write_pipeline

    monkeypatch.chdir(tmp_path)
    path = write_pipeline(tmp_path, name="capped", study={"trials": 3}, train={"epochs": 1})
    runner = CliRunner()
    for expected in (3, 4, 4):
        done = runner.invoke(app, ["run", str(path), "--budget", "4", "--quiet"])
        assert done.exit_code == 0, done.output
        trials = optuna.load_study(study_name="capped", storage="sqlite:///mlruns/optuna.db").trials
        assert len(trials) == expected
