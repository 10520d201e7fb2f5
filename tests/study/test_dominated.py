"""`pruner: dominated`: a multi-objective study's own early stop. The rule on fake records, the Optuna trial that
applies it on a storage's completed trials, and one small study through the real path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

import automl
from automl._types import Objectives
from automl.config import load_pipeline
from automl.engines.optuna import Dominance, OptunaTrial
from automl.engines.pareto import EPOCH_OBJECTIVES, dominator
from automl.study.tune import tune
from automl.testing import write_pipeline
from automl.testing.runner import FakeRunner, Play

ACC_MS = [("val_accuracy", "maximize"), ("tflite_latency_ms", "minimize")]


# -- the rule ----------------------------------------------------------------------------------------------
def test_a_trial_worse_on_one_objective_and_no_better_on_any_is_dominated() -> None:
    done = [(0, [[0.70, 0.03]]), (1, [[0.60, 0.05]])]
    assert dominator([0.61, 0.05], done, ACC_MS, 0) == (
        "dominated at epoch 0 by trial 0: val_accuracy 0.61 <= 0.7, tflite_latency_ms 0.05 >= 0.03")
    # equal on one, worse on the other: still dominated (and by the lowest-numbered such trial)
    assert dominator([0.70, 0.04], done, ACC_MS, 0) == (
        "dominated at epoch 0 by trial 0: val_accuracy 0.7 <= 0.7, tflite_latency_ms 0.04 >= 0.03")


def test_equal_or_trading_off_is_not_dominated() -> None:
    done = [(0, [[0.70, 0.03]])]
    assert dominator([0.70, 0.03], done, ACC_MS, 0) is None  # the same point
    assert dominator([0.80, 0.05], done, ACC_MS, 0) is None  # more accurate, slower: a trade-off
    assert dominator([0.60, 0.02], done, ACC_MS, 0) is None  # less accurate, faster


def test_only_the_epoch_compared_and_what_both_trials_know() -> None:
    done = [(0, [[0.40, 0.03], [0.90, 0.03]])]
    assert dominator([0.50, 0.03], done, ACC_MS, 0) is None  # at epoch 0 trial 0 was worse
    assert dominator([0.50, 0.03], done, ACC_MS, 1) is not None  # at epoch 1 better
    assert dominator([0.50, 0.03], done, ACC_MS, 2) is None  # trial 0 never reached epoch 2
    # an objective known only at the end (None) is left out; the rest decides
    assert dominator([0.50, None], done, ACC_MS, 1) == "dominated at epoch 1 by trial 0: val_accuracy 0.5 <= 0.9"
    assert dominator([0.50, 0.03], [(0, [[0.90, None]])], ACC_MS, 0) == (
        "dominated at epoch 0 by trial 0: val_accuracy 0.5 <= 0.9")
    assert dominator([None, None], done, ACC_MS, 1) is None  # nothing to compare
    # a NaN is left out as an unknown (a trial whose trained values are all unknown judges nothing: see below)
    assert dominator([float("nan"), 0.05], done, ACC_MS, 1) == (
        "dominated at epoch 1 by trial 0: tflite_latency_ms 0.05 >= 0.03")


def test_min_trials_counts_the_trials_that_reached_the_epoch() -> None:
    done = [(0, [[0.90, 0.01], [0.95, 0.01]]), (1, [[0.20, 0.09]])]
    assert dominator([0.5, 0.05], done, ACC_MS, 0, min_trials=2) is not None
    assert dominator([0.5, 0.05], done, ACC_MS, 1, min_trials=2) is None  # only trial 0 reached epoch 1
    assert dominator([0.5, 0.05], done, ACC_MS, 1, min_trials=1) is not None
    assert dominator([0.5, 0.05], [], ACC_MS, 0) is None


def test_two_minimized_objectives() -> None:
    objectives = [("val_loss", "minimize"), ("params_count", "minimize")]
    assert dominator([0.9, 195.0], [(3, [[0.5, 51.0]])], objectives, 0) == (
        "dominated at epoch 0 by trial 3: val_loss 0.9 >= 0.5, params_count 195 >= 51")


def test_the_examples_of_the_pareto_module_hold() -> None:
    import doctest

    from automl.engines import pareto

    assert doctest.testmod(pareto).failed == 0


# -- the Optuna trial: its records in the storage, the warmup -------------------------------------------------
def _study(records: dict[int, list[list[float | None]]], **attrs: Any) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for number, record in records.items():
        study.add_trial(optuna.trial.create_trial(values=[record[-1][0] or 0.0, record[-1][1] or 0.0],
                                                  user_attrs={EPOCH_OBJECTIVES: record, **attrs}))
        assert study.trials[-1].number == number
    return study


def _asked(study: optuna.Study, rule: Dominance | None) -> OptunaTrial:
    return OptunaTrial(study.ask(), multi_objective=True, objectives=tuple(ACC_MS), dominance=rule)


def test_the_optuna_trial_compares_its_epochs_with_the_completed_trials() -> None:
    study = _study({0: [[0.50, 0.03], [0.80, 0.03], [0.85, 0.03]]})
    trial = _asked(study, Dominance(objectives=tuple(ACC_MS), warmup=1))
    trial.measured({"params_count": 51.0, "tflite_latency_ms": 0.05})
    trial.report(0, 0.40, {"val_accuracy": 0.40, "loss": 1.0})
    assert not trial.should_prune()  # epoch 0: the warmup
    trial.report(1, 0.81, {"val_accuracy": 0.81})
    assert not trial.should_prune()  # more accurate at epoch 1 (slower): a trade-off
    trial.report(2, 0.70, {"val_accuracy": 0.70})
    assert trial.should_prune()
    assert trial.prune_reason == ("dominated at epoch 2 by trial 0: val_accuracy 0.7 <= 0.85, tflite_latency_ms "
                                  "0.05 >= 0.03")
    assert trial.epoch_objectives == [[0.40, 0.05], [0.81, 0.05], [0.70, 0.05]]


def test_no_rule_no_pruning_but_the_epochs_are_recorded() -> None:
    study = _study({0: [[0.99, 0.01]]})
    trial = _asked(study, None)
    trial.measured({"tflite_latency_ms": 0.05})
    trial.report(0, 0.1, {"val_accuracy": 0.1})
    assert not trial.should_prune() and trial.prune_reason is None
    assert trial.epoch_objectives == [[0.1, 0.05]]


def test_values_known_before_training_alone_never_prune() -> None:
    # the first objective is not a per-epoch metric here: what training changes is unknown, nothing is judged
    study = _study({0: [[None, 0.01]]})
    trial = _asked(study, Dominance(objectives=tuple(ACC_MS), warmup=0))
    trial.measured({"tflite_latency_ms": 0.05})
    trial.report(0, 0.5, {"val_loss": 0.5})
    assert trial.epoch_objectives == [[None, 0.05]]
    assert not trial.should_prune()


def test_infeasible_trials_and_the_interval() -> None:
    study = _study({0: [[0.9, 0.01]] * 4}, **{"automl.feasible": False})
    trial = _asked(study, Dominance(objectives=tuple(ACC_MS), warmup=0))
    trial.measured({"tflite_latency_ms": 0.05})
    trial.report(0, 0.5, {"val_accuracy": 0.5})
    assert not trial.should_prune()  # an infeasible trial dominates nothing
    study = _study({0: [[0.9, 0.01]] * 4})
    trial = _asked(study, Dominance(objectives=tuple(ACC_MS), warmup=1, interval=2))
    trial.measured({"tflite_latency_ms": 0.05})
    decisions = []
    for epoch in range(4):
        trial.report(epoch, 0.5, {"val_accuracy": 0.5})
        decisions.append(trial.should_prune())
    assert decisions == [False, True, False, True]  # epochs 1 and 3


# -- the real path -------------------------------------------------------------------------------------------
# units 4: 51 parameters; units 16: 195. The slow one (plain SGD at lr 0.001) stays near chance for epochs
GOOD = {"units": 4, "optimizer": "adam", "lr": 0.05}
SLOW = {"units": 16, "optimizer": "sgd", "momentum": 0.0, "lr": 0.001}


# Trained for real in a trial process (the pruner's answer crosses the process boundary, and only this test
# prunes there); the same study with scripted epochs (the fake runner) checks the rule and its records inline
# in a second, where Keras would add nothing but the time the inline trials take.
@pytest.mark.parametrize("isolation", ["fake", "process"])
def test_a_dominated_trial_stops_early_with_its_reason(tmp_path: Path, isolation: str, made_stores: Path) -> None:
    study = {"objectives": [{"val_accuracy": "maximize"}, {"params_count": "minimize"}],
             "pruner": {"name": "dominated", "warmup_epochs": 1}, "enqueue": [GOOD, SLOW], "trials": 2}
    path = write_pipeline(tmp_path, name="dom", study=study,
                          train={"epochs": 4, "isolation": "inline" if isolation == "fake" else isolation})
    if isolation == "fake":  # as the real pair: the good one learns, the slow one stays near chance
        good = Play(epochs=[{"val_accuracy": a, "val_loss": 1 - a} for a in (0.6, 0.8, 0.85, 0.9)], n_params=51)
        slow = Play(epochs=[{"val_accuracy": 0.35, "val_loss": 1.1}] * 4, n_params=195)
        tune(load_pipeline(path), runners=FakeRunner([good, slow]).factory)
    else:
        automl.run(path)
    stored = optuna.load_study(study_name="dom", storage="sqlite:///mlruns/optuna.db")
    good, slow = stored.get_trials(deepcopy=False)
    assert good.state.name == "COMPLETE" and good.values[1] == 51.0
    record = good.user_attrs[EPOCH_OBJECTIVES]
    assert len(record) == 4 and all(row[1] == 51.0 for row in record)
    assert slow.state.name == "PRUNED"
    reason = slow.user_attrs["reason"]
    assert reason.startswith("dominated at epoch 1 by trial 0: val_accuracy "), reason
    assert reason.endswith(f"<= {record[1][0]:.4g}, params_count 195 >= 51"), reason
    assert slow.user_attrs["epochs_trained"] == 2  # epochs 0 and 1
    assert len(slow.user_attrs[EPOCH_OBJECTIVES]) == 2
    assert [t.number for t in stored.best_trials] == [0]  # a pruned trial is no Pareto member
    client = MlflowClient(f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("dom")
    assert experiment is not None
    runs = {int(r.data.tags["automl.trial"]): r for r in
            client.search_runs([experiment.experiment_id], "tags.`automl.role` = 'trial'")}
    assert runs[1].data.tags["automl.state"] == "PRUNED" and runs[1].data.tags["automl.reason"] == reason
    assert runs[0].data.tags["automl.pareto"] == "true" and runs[1].data.tags["automl.pareto"] == "false"


def test_workers_sharing_a_storage_judge_against_each_others_trials() -> None:
    """Two engines on one SQLite storage (two workers): a trial asked before the other's trial completed is
    judged, at its next epoch, against that trial's record in the storage."""
    from automl.engines.base import StudySettings
    from automl.engines.optuna import OptunaEngine
    from tests.engines.contract import STORAGE, space_for

    def worker(i: int) -> OptunaEngine:
        engine = OptunaEngine(StudySettings(
            name="shared", space=space_for("random"), sampler="random", pruner="dominated", direction="maximize",
            seed=0, storage=STORAGE, epochs=4, worker=i, pruner_options={"warmup_epochs": 1},
            objectives=Objectives([("val_accuracy", "maximize"), ("params_count", "minimize")])))
        engine.open()
        return engine

    first, second = worker(0), worker(1)
    fast, slow = first.ask(), second.ask()
    assert fast is not None and slow is not None
    fast.measured({"params_count": 51.0})
    slow.measured({"params_count": 195.0})
    slow.report(0, 0.30, {"val_accuracy": 0.30})
    assert not slow.should_prune()  # the warmup (and nothing completed yet)
    for epoch, acc in enumerate([0.5, 0.8, 0.9, 0.9]):
        fast.report(epoch, acc, {"val_accuracy": acc})
        assert not fast.should_prune()
    first.tell(fast, "COMPLETE", [0.9, 51.0], {})
    slow.report(1, 0.35, {"val_accuracy": 0.35})
    assert slow.should_prune()
    assert slow.prune_reason == "dominated at epoch 1 by trial 0: val_accuracy 0.35 <= 0.8, params_count 195 >= 51"
    second.tell(slow, "PRUNED", None, {"reason": slow.prune_reason})
    stored = {t.number: t for t in optuna.load_study(study_name="shared", storage=STORAGE).get_trials()}
    assert stored[0].user_attrs[EPOCH_OBJECTIVES] == [[0.5, 51.0], [0.8, 51.0], [0.9, 51.0], [0.9, 51.0]]
    assert stored[1].state.name == "PRUNED" and stored[1].user_attrs[EPOCH_OBJECTIVES] == [[0.3, 195.0],
                                                                                            [0.35, 195.0]]
