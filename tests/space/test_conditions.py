"""Conditions across blocks and training parameters, value checks, and the end-to-end promise:
an inactive conditional parameter appears neither in Optuna's trial params nor in MLflow's run params."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automl.errors import ConfigError
from automl.space import SpaceFile, resolve_space
from automl.testing import write_pipeline
from automl.testing.fakes import FirstChoiceSuggester


def _space(raw: dict, rank: int | None = 2):
    return resolve_space(SpaceFile.model_validate(raw), rank, file="s.yaml")


def test_a_range_without_when_keeps_the_default_condition() -> None:
    space = _space({"block": "mlp", "params": {
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {"type": "float", "low": 0.5, "high": 0.9}, "nesterov": True}})
    assert space.params["momentum"].when == {"optimizer": ["sgd", "rmsprop"]}
    assert "momentum" not in space.sample(FirstChoiceSuggester())
    sgd = space.sample(FirstChoiceSuggester({"optimizer": "sgd"}))
    assert sgd["momentum"] == 0.5 and sgd["nesterov"] is True


def test_a_block_default_conditioned_on_a_namespaced_parent_follows_it() -> None:
    space = _space({"block": {"type": "categorical", "choices": ["cnn", "resnet"]}}, rank=4)
    assert space.params["cnn.leaky_alpha"].when == {"cnn.activation": ["leaky_relu"], "block": ["cnn"]}
    shared = _space({"block": {"type": "categorical", "choices": ["cnn", "resnet"]},
                     "params": {"activation": {"type": "categorical", "choices": ["relu", "leaky_relu"]}}}, rank=4)
    assert shared.params["cnn.leaky_alpha"].when == {"activation": ["leaky_relu"], "block": ["cnn"]}
    values = shared.sample(FirstChoiceSuggester({"block": "resnet", "activation": "leaky_relu"}))
    assert "resnet.leaky_alpha" in values and "cnn.leaky_alpha" not in values


def test_parameters_of_blocks_the_data_drops_are_ignored() -> None:
    space = _space({"block": {"type": "categorical", "choices": ["cnn", "rnn"]},
                    "params": {"cell": "gru", "bidirectional": {"type": "categorical", "choices": [False, True]}}},
                   rank=4)
    assert space.blocks == ["cnn"] and "cell" not in space.params and "bidirectional" not in space.params


def test_patch_size_exists_for_images_only() -> None:
    assert "patch_size" in _space({"block": "transformer"}, rank=4).params
    assert "patch_size" not in _space({"block": "transformer"}, rank=3).params


@pytest.mark.parametrize(("params", "message"), [
    ({"activation": {"type": "categorical", "choices": ["relu", "leaky_rlu"]}},
     "params.activation: unknown activation 'leaky_rlu'; did you mean 'leaky_relu'?"),
    ({"optimizer": "adamx"}, "params.optimizer: unknown optimizer 'adamx'; did you mean 'adam'?"),
    ({"schedule": "cosine_restart"}, "params.schedule: unknown schedule 'cosine_restart'; did you mean"),
    ({"dropout": {"type": "float", "low": 0.2, "high": 1.5}}, "params.dropout: expected a value in [0, 1), got 1.5"),
    ({"lr": 0}, "params.lr: expected a value > 0, got 0"),
    ({"units": {"type": "int", "low": 0, "high": 8}}, "params.units: expected an integer >= 1, got 0"),
    ({"class_weight": "balancd"}, "params.class_weight: expected none, balanced or a mapping"),
    ({"plateau": "yes"}, "params.plateau: expected true or false, got 'yes'"),
])
def test_bad_values_are_one_line_errors_before_training(params: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _space({"block": "mlp", "params": params})
    assert str(info.value).startswith(f"s.yaml: {message}") and "\n" not in str(info.value)


WIDE_TABULAR: dict[str, Any] = {
    "block": "mlp",
    "params": {
        "layers": 1,
        "units": 8,
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "adamw", "rmsprop"]},
        "nesterov": {"type": "categorical", "choices": [False, True]},
        "schedule": {"type": "categorical", "choices": ["constant", "exponential", "cosine_restarts"]},
        "plateau": {"type": "categorical", "choices": [False, True]},
        "regularizer": {"type": "categorical", "choices": ["none", "l1", "l1_l2"]},
        "activation": {"type": "categorical", "choices": ["relu", "leaky_relu"]},
        "batch_size": {"type": "categorical", "choices": [16, 32]},
        "epochs": {"type": "int", "low": 1, "high": 3},
    },
}


# The trials are the fake runner's (what is recorded of their parameters is the loop's and the engine's doing, not
# Keras'); the builders building from every combination of these parameters: tests/builders/test_blocks.py.
def test_inactive_parameters_appear_in_neither_optuna_nor_mlflow(tmp_path: Path, made_stores: Path) -> None:
    from automl.config import load_pipeline
    from automl.plan import make_plan
    from automl.study.tune import tune
    from automl.testing.runner import FakeRunner

    path = write_pipeline(tmp_path, name="conditions", space=WIDE_TABULAR, study={"trials": 6},
                          data={"source": "synthetic", "samples": 120, "features": 6, "classes": 3},
                          train={"epochs": 2, "batch_size": 32})
    result = tune(load_pipeline(path), runners=FakeRunner().factory)
    space = make_plan(load_pipeline(path)).space
    conditional = {n for n, p in space.params.items() if p.when}
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = {int(r.data.tags["automl.trial"]): r.data.params for r in client.search_runs(
        [client.get_experiment_by_name("conditions").experiment_id], "tags.`automl.role` = 'trial'")}
    seen_active: set[str] = set()
    for trial in result.study.trials:
        values = space.replay(trial.params)
        active = {n for n in conditional if space.is_active(n, values)}
        seen_active |= active
        assert set(trial.params) == {n for n in values if space.params[n].tunable}
        assert conditional & set(trial.params) == active & set(trial.params)
        assert conditional & set(runs[trial.number]) == active, trial.params
        assert int(runs[trial.number]["epochs"]) <= 2  # a searched epoch count is capped by train.epochs
    assert {"momentum", "nesterov", "weight_decay", "decay_rate", "l1"} & seen_active  # conditions did fire
