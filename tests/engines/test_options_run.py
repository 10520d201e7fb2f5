"""End to end through the CLI: `automl run` with a non-default sampler and pruner given with options, then
`automl run --from-study` seeding a second study from the first (real Keras on ~200 samples)."""

from __future__ import annotations

import inspect
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.study import tune
from automl.testing import write_pipeline

runner = CliRunner()
STORAGE = "sqlite:///mlruns/optuna.db"
# the study loop passes `cfg.study.engine_options()` to the engine (sampler/pruner options, enqueue, from_study)
PASSES_OPTIONS = "engine_options" in inspect.getsource(tune)


def _run(*args: str) -> str:
    result = runner.invoke(app, ["run", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _states(name: str) -> list[str]:
    study = optuna.load_study(study_name=name, storage=STORAGE)
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def test_run_with_sampler_and_pruner_options(tmp_path: Path) -> None:
    study = {"sampler": {"name": "nsga2", "population_size": 4, "crossover": "sbx"},
             "pruner": {"name": "percentile", "percentile": 50, "warmup_epochs": 1}, "trials": 2}
    _run(str(write_pipeline(tmp_path, name="first", study=study)))
    assert _states("first") == ["COMPLETE", "COMPLETE"]
    if not PASSES_OPTIONS:
        pytest.skip("automl/study/tune.py does not pass cfg.study.engine_options() to StudySettings yet")
    _run(str(write_pipeline(tmp_path, name="second", study={**study, "trials": 1})), "--from-study", "first")
    seeded = optuna.load_study(study_name="second", storage=STORAGE)
    assert [t.user_attrs.get("automl.from_trial") for t in seeded.trials] == [0, 1, None]
    assert [t.state.name for t in seeded.trials][-1] in ("COMPLETE", "PRUNED")
