"""Warm starts on the optuna engine: ``study.enqueue`` configurations first, ``from_study`` seeding a new study
with another study's trials (same space) or best configurations (another space)."""

from __future__ import annotations

from typing import Any

import pytest

from automl.engines.base import Engine
from automl.engines.warm import check_enqueue
from automl.errors import ConfigError, StudyError
from tests.engines.contract import drive, make_engine, space_for

FIRST = {"layers": 2, "units": 16, "dropout": 0.2, "activation": "tanh", "optimizer": "sgd", "momentum": 0.5,
         "nesterov": True, "lr": 0.01}


def _params(eng: Engine) -> list[dict[str, Any]]:
    return [r.params for r in eng.trials()]


def test_enqueued_configurations_run_first_in_order_and_partial_ones_are_completed_by_the_sampler() -> None:
    eng = make_engine("optuna", "tpe", enqueue=[FIRST, {"optimizer": "adam", "lr": 0.05}])
    eng.open()
    drive(eng, 4)
    params = _params(eng)
    assert params[0] == FIRST
    assert params[1]["optimizer"] == "adam" and params[1]["lr"] == 0.05 and "momentum" not in params[1]
    assert set(params[1]) >= {"layers", "units", "dropout", "activation"}  # sampled
    assert [r.attrs.get("automl.enqueued") for r in eng.trials()] == [0, 1, None, None]


def test_a_resumed_study_or_a_second_worker_does_not_enqueue_a_configuration_again() -> None:
    first = make_engine("optuna", "random", enqueue=[FIRST])
    first.open()
    worker = make_engine("optuna", "random", enqueue=[FIRST])
    worker.open()  # before the first one ran it: it waits once in the queue
    drive(first, 2)
    again = make_engine("optuna", "random", enqueue=[FIRST, {"lr": 0.002}])
    again.open()
    drive(again, 2)
    params = _params(again)
    assert [p == FIRST for p in params] == [True, False, False, False]
    assert params[2]["lr"] == 0.002  # only the new configuration


@pytest.mark.parametrize(("config", "path", "message"), [
    ({"lrr": 0.01}, "study.enqueue.1.lrr", "unknown parameter 'lrr'; did you mean 'lr'?"),
    ({"lr": 0.5}, "study.enqueue.1.lr", "`0.001 <= value <= 0.1` must hold, got 0.5"),
    ({"layers": 2.0}, "study.enqueue.1.layers", "expected an integer, got 2"),
    ({"layers": True}, "study.enqueue.1.layers", "expected an integer, got True"),
    ({"dropout": 0.15}, "study.enqueue.1.dropout", "expected 0 + a multiple of step 0.1, got 0.15"),
    ({"activation": "gelu"}, "study.enqueue.1.activation", "expected one of ['relu', 'tanh'], got 'gelu'"),
    ({"optimizer": "adam", "momentum": 0.5}, "study.enqueue.1.momentum",
     "inactive in this configuration: it needs {'optimizer': ['sgd']}"),
])
def test_an_enqueued_value_the_space_cannot_hold_is_an_error_naming_it(config: dict[str, Any], path: str,
                                                                       message: str) -> None:
    eng = make_engine("optuna", "tpe", enqueue=[{"lr": 0.01}, config])
    with pytest.raises(ConfigError) as err:
        eng.open()
    assert err.value.path == path and err.value.detail.startswith(message), err.value.detail
    assert not eng.exists()  # nothing made before the check


def test_a_fixed_value_may_be_enqueued_only_as_it_is() -> None:
    space = space_for("tpe", {"block": "mlp", "params": {"units": 8, "lr": {"type": "float", "low": 0.001,
                                                                            "high": 0.1, "log": True}}})
    eng = make_engine("optuna", "tpe", space=space, enqueue=[{"units": 8, "lr": 0.02}])
    eng.open()
    drive(eng, 1)
    assert _params(eng)[0]["lr"] == 0.02 and "units" not in _params(eng)[0]  # fixed: never a trial's param
    with pytest.raises(ConfigError, match="fixed at 8 in the space, got 16"):
        make_engine("optuna", "tpe", name="other", space=space, enqueue=[{"units": 16}]).open()


def test_from_study_with_the_same_space_copies_its_completed_trials() -> None:
    source = make_engine("optuna", "tpe", name="source", epochs=3)
    source.open()
    drive(source, 3)
    drive(source, 1, state="FAIL")
    seeded = make_engine("optuna", "tpe", name="seeded", epochs=3, from_study="source")
    seeded.open()
    copied = seeded.trials()
    assert [(r.state, r.value, r.params) for r in copied] == [
        (r.state, r.value, r.params) for r in source.trials() if r.state == "COMPLETE"]
    assert [(r.attrs["automl.from_study"], r.attrs["automl.from_trial"], r.attrs["n_params"]) for r in copied] == [
        ("source", n, 1) for n in range(3)]
    # the pruner sees their epochs, the sampler their values; new trials follow them
    study = seeded.study  # type: ignore[attr-defined]
    assert study.trials[0].intermediate_values == source.study.trials[0].intermediate_values  # type: ignore[attr-defined]
    drive(seeded, 2)
    assert [r.number for r in seeded.trials()] == [0, 1, 2, 3, 4]
    assert study.user_attrs["automl.from_study"] == "source"


def test_from_study_with_another_space_enqueues_its_best_configurations_that_fit() -> None:
    source = make_engine("optuna", "random", name="source")
    source.open()
    drive(source, 8)
    ranked = sorted((r for r in source.trials()), key=lambda r: r.value, reverse=True)
    narrow = space_for("random", {"block": "mlp", "params": {
        "layers": {"type": "int", "low": 1, "high": 3}, "units": 8,
        "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}}})
    seeded = make_engine("optuna", "random", name="seeded", space=narrow, from_study="source")
    seeded.open()
    assert [r.state for r in seeded.trials()] == ["WAITING"] * 5
    drive(seeded, 6)
    params = _params(seeded)
    # the best five first, with what of them fits this space (units is fixed here, the block's defaults differ)
    fits = ("layers", "lr", "dropout", "activation")
    assert [{k: p[k] for k in fits} for p in params[:5]] == [{k: r.params[k] for k in fits} for r in ranked[:5]]
    assert [r.attrs["automl.from_trial"] for r in seeded.trials()[:5]] == [r.number for r in ranked[:5]]


def test_from_study_seeds_only_a_new_study() -> None:
    source = make_engine("optuna", "random", name="source")
    source.open()
    drive(source, 2)
    seeded = make_engine("optuna", "random", name="seeded", from_study="source")
    seeded.open()
    drive(seeded, 1)
    again = make_engine("optuna", "random", name="seeded", from_study="source")
    again.open()
    assert len(again.trials()) == 3  # two copied, one run: not copied again
    fresh = make_engine("optuna", "random", name="seeded", from_study="source")
    fresh.open(new=True)  # --new: a new study, seeded again
    assert len(fresh.trials()) == 2


def test_from_study_must_name_another_existing_study() -> None:
    make_engine("optuna", "random", name="source").open()
    with pytest.raises(StudyError, match=r"unknown study 'sourc'; did you mean 'source'\?"):
        make_engine("optuna", "random", name="seeded", from_study="sourc").open()
    with pytest.raises(StudyError, match="names this study"):
        make_engine("optuna", "random", name="seeded", from_study="seeded").open()
    assert not make_engine("optuna", "random", name="seeded").exists()


def test_the_enqueue_check_names_the_pipeline_file_when_given() -> None:
    with pytest.raises(ConfigError) as err:
        check_enqueue(space_for("tpe"), [{"lr": 2.0}], file="p.yaml")
    assert str(err.value) == "p.yaml: study.enqueue.0.lr: `0.001 <= value <= 0.1` must hold, got 2"
