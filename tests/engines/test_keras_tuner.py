"""What only the keras-tuner engine does: translating the space, Hyperband budgets and tags, its own state."""

from __future__ import annotations

import math
from pathlib import Path

import keras_tuner as kt
import pytest
from mlflow import MlflowClient

import automl
from automl.config import load_pipeline
from automl.engines import list_studies
from automl.engines._kt_space import to_hyperparameters
from automl.errors import ConfigError, StudyError
from automl.space import Space
from automl.space.params import choice, fixed, float_range
from automl.testing import write_pipeline
from automl.tracking import tracking_uri
from tests.engines.contract import STORAGE, drive, make_engine, space_for

KT = "keras_tuner"


def _hp(hps: kt.HyperParameters, name: str):
    return next(hp for hp in hps.space if hp.name == name)


def test_log_scale_parameters_sample_on_a_log_scale_without_a_step() -> None:
    hps, _ = to_hyperparameters(space_for("random"))
    lr, units = _hp(hps, "lr"), _hp(hps, "units")
    assert (lr.sampling, lr.step) == ("log", None)
    assert (units.sampling, units.step) == ("log", None)  # keras-tuner would read step=1 as a factor
    assert lr.prob_to_value(0.5) == pytest.approx(math.sqrt(1e-3 * 1e-1))


def test_a_stepped_float_takes_exactly_its_grid_values() -> None:
    hps, codecs = to_hyperparameters(space_for("random"))
    dropout = _hp(hps, "dropout")
    assert list(dropout.values) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]  # keras-tuner's own step would miss 0.5


def test_categoricals_keras_tuner_would_change_are_held_as_indices() -> None:
    hps, codecs = to_hyperparameters(space_for("random"))
    assert list(_hp(hps, "nesterov").values) == [0, 1]  # a Choice turns True into 1
    assert [codecs["nesterov"].decode(i) for i in (0, 1)] == [True, False]
    assert list(_hp(hps, "optimizer").values) == ["sgd", "adam"] and codecs["optimizer"].choices is None


def test_conditions_become_parent_conditions_and_fixed_values_fixed() -> None:
    hps, _ = to_hyperparameters(space_for("random"))
    nesterov = _hp(hps, "nesterov")
    assert sorted((c.name, c.values) for c in nesterov.conditions) == [("layers", [2, 3]), ("optimizer", ["sgd"])]
    assert isinstance(_hp(hps, "block"), kt.engine.hyperparameters.Fixed)
    hps.values = {"block": "mlp", "optimizer": "sgd", "layers": 1}
    assert hps.is_active("momentum") and not hps.is_active("nesterov")


def test_only_parameters_that_can_be_active_are_dimensions_of_the_search() -> None:
    space = space_for("random")
    hps, _ = to_hyperparameters(space)
    searched = {hp.name for hp in hps.space if not isinstance(hp, kt.engine.hyperparameters.Fixed)}
    # each dimension that can never be active slowed the Bayesian oracle's proposal (24 dims: ~25 s a trial)
    assert searched == {n for n, p in space.params.items() if p.tunable and space.can_be_active(n)}


def test_fixed_values_keras_tuner_cannot_hold_are_json_and_conditions_on_them_work() -> None:
    space = Space(params={"block": fixed("mlp"), "clip": fixed(None),
                          "units": choice(8, 16).conditioned({"clip": [None]}),
                          "momentum": float_range(0.0, 0.9).conditioned({"block": ["cnn"]})})
    hps, codecs = to_hyperparameters(space)
    assert [hp.name for hp in hps.space] == ["block", "clip", "units"]  # momentum can never be active
    assert _hp(hps, "clip").value == "null" and codecs["clip"].decode("null") is None
    hps.values = {"block": "mlp", "clip": "null"}
    assert hps.is_active("units")


def test_grid_turns_every_parameter_into_its_grid() -> None:
    hps, _ = to_hyperparameters(space_for("grid"), grid=True)
    assert list(_hp(hps, "layers").values) == [1, 2]
    assert list(_hp(hps, "momentum").values) == [0.0, 0.9]


def test_hyperband_gives_budgets_brackets_and_rounds() -> None:
    engine = make_engine(KT, "hyperband", epochs=4)
    engine.open()
    drive(engine, 7)
    records = engine.trials()
    # max_epochs 4, factor 3: bracket 1 trains 5 configurations for 2 epochs, then the best 2 for 4
    assert [r.attrs["epochs_budget"] for r in records] == [2] * 5 + [4] * 2
    assert [(r.attrs["bracket"], r.attrs["round"]) for r in records] == [(1, 0)] * 5 + [(1, 1)] * 2
    for promoted in records[5:]:
        assert promoted.params == records[promoted.attrs["promoted_from"]].params
    assert "tuner/epochs" not in records[0].params


def test_a_trial_the_process_died_in_is_failed_on_resume_not_run_again() -> None:
    engine = make_engine(KT, "random")
    engine.open()
    engine.ask()  # never told: the process "died"
    again = make_engine(KT, "random")
    again.open()
    first = again.trials()[0]
    assert first.state == "FAIL" and "process ended" in first.attrs["fail_reason"]
    trial = again.ask()
    assert trial is not None and trial.number == 1


def test_resuming_with_another_sampler_or_hyperband_budget_is_an_error() -> None:
    make_engine(KT, "hyperband", epochs=4).open()
    with pytest.raises(StudyError, match="sampler 'hyperband', got 'random'.*--new"):
        make_engine(KT, "random", epochs=4).open()
    with pytest.raises(StudyError, match="train.epochs=4 .*max_epochs.*got 6"):
        make_engine(KT, "hyperband", epochs=6).open()


def test_the_study_list_shows_keras_tuner_studies(tmp_path: Path) -> None:
    engine = make_engine(KT, "random", name="listed")
    engine.open()
    drive(engine, 2)
    drive(engine, 1, state="FAIL")
    rows = {r["name"]: r for r in list_studies(STORAGE)}
    row = rows["listed"]
    assert (row["engine"], row["trials"], row["complete"], row["failed"]) == (KT, 3, 2, 1)
    assert row["best_value"] == engine.best().value and row["best_trial"] == engine.best().number
    assert (tmp_path / "mlruns/keras_tuner/listed/oracle.json").exists()  # next to mlruns/optuna.db


@pytest.mark.parametrize(("key", "value", "message"), [
    ("sampler", "tpe", "study.sampler: unknown keras_tuner sampler 'tpe'"),
    ("pruner", "hyperband", "study.pruner: unknown keras_tuner pruner 'hyperband'"),
])
def test_what_keras_tuner_lacks_is_a_one_line_config_error(tmp_path: Path, key: str, value: str,
                                                            message: str) -> None:
    path = write_pipeline(tmp_path, study={"engine": KT, key: value})
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert str(info.value).startswith(f"{path}: {message}") and "\n" not in str(info.value)


def test_hyperband_runs_log_budgets_epochs_and_brackets_in_mlflow(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"engine": KT, "sampler": "hyperband", "trials": 6},
                          train={"epochs": 4})
    result = automl.run(path)
    assert [t.attrs["epochs_trained"] for t in result.trials] == [2] * 5 + [4]
    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name("tiny")
    children = [r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 6
    for child in children:
        tags = child.data.tags
        budget = int(tags["automl.epochs_budget"])
        assert (tags["automl.bracket"], tags["automl.round"]) == ("1", "0" if budget == 2 else "1")
        assert child.data.metrics["epochs_trained"] == budget
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        assert sorted(steps) == list(range(budget))
