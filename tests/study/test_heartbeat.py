"""Optuna's heartbeat judges trials of other hosts: a trial whose heartbeat stopped for the grace period is
failed by the next start, on any host; a trial whose heartbeat goes on is left alone."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import optuna

from automl.engines.base import StudySettings
from automl.engines.optuna import OptunaEngine
from automl.space import SpaceFile, resolve_space

STORAGE = "sqlite:///mlruns/optuna.db"
# a worker on "another host": it asks a trial (the heartbeat starts), says so, and waits to be killed
WORKER = """
import time
from automl.engines.base import StudySettings
from automl.engines.optuna import OptunaEngine
from automl.liveness import OWNER
from automl.space import SpaceFile, resolve_space
space = resolve_space(SpaceFile.model_validate({"block": "mlp"}), 2)
engine = OptunaEngine(StudySettings(name="s", space=space, sampler="random", pruner="none", direction="maximize",
                                    seed=0, storage="sqlite:///mlruns/optuna.db", epochs=2, heartbeat_interval=1,
                                    grace_period=2))
engine.open()
trial = engine.ask()
engine.mark(trial, {OWNER: "another-host/1/x"})  # its pid means nothing here: only the heartbeat can tell
print(trial.number, flush=True)
time.sleep(600)
"""


def _settings() -> StudySettings:
    space = resolve_space(SpaceFile.model_validate({"block": "mlp"}), 2)
    return StudySettings(name="s", space=space, sampler="random", pruner="none", direction="maximize", seed=0,
                         storage=STORAGE, epochs=2, heartbeat_interval=1, grace_period=2)


def _worker(cwd: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", WORKER], cwd=cwd, stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())  # type: ignore[union-attr]


def _first_start_that_heals(deadline: float) -> OptunaEngine:
    """Start (open the study) until a start heals a trial: once the dead worker's last beat is older than the
    grace period (a fixed sleep was too short on a loaded machine, and slow on an idle one)."""
    while True:
        engine = OptunaEngine(_settings())
        engine.open()
        if engine.healed or time.monotonic() > deadline:
            return engine
        time.sleep(0.2)


def test_a_trial_whose_heartbeat_stopped_fails_and_a_beating_one_stays(tmp_path: Path) -> None:
    OptunaEngine(_settings()).open()  # the study exists before the workers race to create it
    dead, dead_trial = _worker(tmp_path)
    alive, alive_trial = _worker(tmp_path)
    try:
        dead.kill()
        dead.wait()
        engine = _first_start_that_heals(time.monotonic() + 60)  # the live worker beats every second meanwhile
        assert engine.healed == [(dead_trial, "no heartbeat for 2 s (its process or its host died)")]
        states = {t.number: t.state for t in optuna.load_study(study_name="s", storage=STORAGE).trials}
        assert states == {dead_trial: optuna.trial.TrialState.FAIL, alive_trial: optuna.trial.TrialState.RUNNING}
    finally:
        alive.kill()
        dead.kill()
