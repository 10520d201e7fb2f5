"""A resumed study keeps its split, seed and cv folds (else one line, exit 2); a changed budget is one warning
line, and every trial records the budget it trained under."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from automl.cli import app
from automl.config import load_pipeline
from automl.engines.base import TrialRecord
from automl.errors import ConfigError
from automl.progress import Events
from automl.store.folder import read_json
from automl.study.terms import FIXED_KEYS, check_resume, study_terms
from automl.study.tune import tune
from automl.testing import write_pipeline
from automl.testing.runner import FakeRunner, Play
from automl.tracking import tracking_uri

runner = CliRunner()
NOW = {"data.validation_split": 0.2, "data.test_split": 0.2, "data.stratify": True, "data.split_column": None,
       "data.validation_path": None, "data.test_path": None, "seed": 0, "study.cv_folds": None,
       "train.epochs": 2, "train.batch_size": 32}


def _trial(number: int, **attrs: object) -> TrialRecord:
    return TrialRecord(number=number, state="COMPLETE", value=0.5, params={}, attrs=dict(attrs))


def test_the_terms_of_a_pipeline(tmp_path: Path) -> None:
    cfg = load_pipeline(write_pipeline(tmp_path)).config
    assert study_terms(cfg) == NOW


@pytest.mark.parametrize(("key", "value"), [("data.test_split", 0.3), ("data.stratify", False),
                                            ("data.split_column", "fold"), ("data.validation_path", "v.csv"),
                                            ("data.test_path", "t.csv"), ("seed", 1), ("study.cv_folds", 3)])
def test_a_changed_split_seed_or_cv_folds_is_an_error_naming_file_and_key(key: str, value: object) -> None:
    assert key in FIXED_KEYS
    with pytest.raises(ConfigError) as err:
        check_resume(NOW, {**NOW, key: value}, [_trial(0)], name="x", file="x.yaml")
    text = str(err.value)
    assert text.startswith(f"x.yaml: {key}: ") and "--name NEW_NAME" in text and "--new" in text
    assert "\n" not in text


def test_a_changed_budget_is_one_warning_counting_the_trials_that_used_another() -> None:
    earlier = [_trial(0, **{"train.epochs": 2, "train.batch_size": 32}),
               _trial(1, **{"train.epochs": 3, "train.batch_size": 32}), _trial(2)]  # 2: before attrs: stored
    warning = check_resume(NOW, {**NOW, "train.epochs": 3, "train.batch_size": 64}, earlier, name="x",
                           file="x.yaml")
    assert warning == ("x.yaml: train.epochs 3 differs from the 2 that the 2 earlier trials of study 'x' used; "
                       "train.batch_size 64 differs from the 32 that the 3 earlier trials of study 'x' used; their "
                       "values are not comparable")
    assert check_resume(NOW, NOW, earlier[:1], name="x", file="x.yaml") is None


def test_resume_warns_once_records_each_trials_budget_and_refuses_a_changed_seed(tmp_path: Path) -> None:
    # the two sessions' trials are scripted (the terms are the study's, whatever trains); the way out at the end
    # trains for real, through the CLI
    path = write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1})
    tune(load_pipeline(path), runners=FakeRunner().factory)
    events = Events()
    result = tune(load_pipeline(path, {"train.epochs": 2}), progress=events,
                  runners=FakeRunner(default=Play(epochs=[0.5, 0.6])).factory)
    warnings = [e.args["text"] for e in events.of("warning")]
    assert warnings == [f"{path}: train.epochs 2 differs from the 1 that the 1 earlier trial of study 'tiny' used; "
                        "their values are not comparable"]
    budgets = [(t.attrs["train.epochs"], t.attrs["train.batch_size"]) for t in result.trials]
    assert budgets == [(1, 32), (2, 32)]
    client = MlflowClient(tracking_uri())
    runs = [client.get_run(str(t.attrs["mlflow_run_id"])) for t in result.trials]
    assert [(r.data.params["train.epochs"], r.data.params["train.batch_size"]) for r in runs] == [("1", "32"),
                                                                                                  ("2", "32")]
    refused = runner.invoke(app, ["run", str(path), "-q", "--set", "seed=5"])
    assert refused.exit_code == 2, refused.output
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}: seed: 5 differs from the 0"), refused.output
    assert "Traceback" not in refused.output
    split = runner.invoke(app, ["run", str(path), "-q", "--set", "data.test_split=0.3"])
    assert split.exit_code == 2 and split.output.startswith(f"{path}: data.test_split: 0.3 differs"), split.output
    fresh = runner.invoke(app, ["run", str(path), "-q", "--new", "--set", "seed=5"])  # the way out it names
    assert fresh.exit_code == 0, fresh.output
    assert read_json(Path("mlruns/tiny/terms.json"))["seed"] == 5
