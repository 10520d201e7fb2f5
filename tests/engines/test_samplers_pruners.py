"""Every optuna sampler and pruner with its options, through the engine seam on a real (tiny) study.

The contract suite (test_contract.py) runs each sampler with its defaults; here the options reach Optuna's
objects, and each pruner stops the trial it should and lets the others finish.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest

from automl.engines import missing_extra
from automl.engines.base import Engine
from automl.engines.options import population_for
from automl.errors import ConfigError
from tests.engines.contract import drive, make_engine

SAMPLERS: list[tuple[str, dict[str, Any], type, dict[str, Any]]] = [
    # sampler, options, Optuna's class, what its object holds
    ("tpe", {}, optuna.samplers.TPESampler, {"_n_startup_trials": 3, "_multivariate": True, "_group": True}),
    ("tpe", {"n_startup_trials": 4, "multivariate": False}, optuna.samplers.TPESampler,
     {"_n_startup_trials": 4, "_multivariate": False, "_group": False}),
    ("qmc", {"qmc_type": "halton", "scramble": False}, optuna.samplers.QMCSampler,
     {"_qmc_type": "halton", "_scramble": False}),
    ("cmaes", {"n_startup_trials": 2, "popsize": 5, "with_margin": True}, optuna.samplers.CmaEsSampler,
     {"_n_startup_trials": 2, "_popsize": 5, "_with_margin": True}),
    ("nsga2", {"population_size": 6, "crossover": "sbx", "mutation_prob": 0.2}, optuna.samplers.NSGAIISampler,
     {"_population_size": 6}),
    ("nsga2", {}, optuna.samplers.NSGAIISampler, {"_population_size": population_for(20)}),
    ("nsga3", {"population_size": 4, "dividing_parameter": 2}, optuna.samplers.NSGAIIISampler,
     {"_population_size": 4}),
]


@pytest.mark.parametrize(("sampler", "options", "cls", "held"), SAMPLERS,
                         ids=[f"{s}-{i}" for i, (s, *_) in enumerate(SAMPLERS)])
def test_a_samplers_options_reach_optuna_and_it_runs(sampler: str, options: dict[str, Any], cls: type,
                                                    held: dict[str, Any]) -> None:
    eng = make_engine("optuna", sampler, sampler_options=options)
    eng.open()
    study = eng.study  # type: ignore[attr-defined]
    assert type(study.sampler) is cls
    assert {k: getattr(study.sampler, k) for k in held} == held
    assert len(drive(eng, 5)) == 5
    assert all(r.state == "COMPLETE" for r in eng.trials())


def test_sampler_options_change_the_sampled_sequence() -> None:
    plain, tuned = make_engine("optuna", "qmc", name="plain"), make_engine(
        "optuna", "qmc", name="tuned", sampler_options={"qmc_type": "halton"})
    plain.open()
    tuned.open()
    assert drive(plain, 3) != drive(tuned, 3)


def test_options_that_optuna_would_reject_are_a_config_error_naming_the_option() -> None:
    eng = make_engine("optuna", "tpe", sampler_options={"group": True, "multivariate": False})
    with pytest.raises(ConfigError, match=r"^study\.sampler\.group: `group: true` needs `multivariate: true`"):
        eng.open()
    eng = make_engine("optuna", "random", pruner="percentile", pruner_options={"percentile": 101})
    with pytest.raises(ConfigError, match=r"^study\.pruner\.percentile: "):
        eng.open()


@pytest.mark.skipif(missing_extra("gp") is None, reason="torch is installed: gp runs in the contract suite")
def test_gp_without_torch_is_one_line_naming_the_extra() -> None:
    with pytest.raises(ConfigError) as err:
        make_engine("optuna", "gp").open()
    assert str(err.value) == ("study.sampler: sampler 'gp' needs torch, which is not installed: "
                              "pip install 'automl[gp]'")


# -- pruners ------------------------------------------------------------------------------------------------
EPOCHS = 6


def _trial(eng: Engine, curve: list[float]) -> int | None:
    """Run one trial reporting ``curve``; the epoch it was pruned at, or None when it completed."""
    trial = eng.ask()
    assert trial is not None
    eng.settings.space.sample(trial)
    for epoch, value in enumerate(curve):
        trial.report(epoch, value, {})
        if trial.should_prune():
            eng.tell(trial, "PRUNED", value, {})
            return epoch
    eng.tell(trial, "COMPLETE", max(curve), {})
    return None


GOOD = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
BAD = [0.1] * EPOCHS


def _pruning(pruner: str, options: dict[str, Any], good: int = 5) -> Engine:
    eng = make_engine("optuna", "random", name=pruner, pruner=pruner, pruner_options=options, epochs=EPOCHS)
    eng.open()
    for _ in range(good):
        assert _trial(eng, GOOD) is None
    return eng


def test_none_never_prunes() -> None:
    eng = _pruning("none", {})
    assert _trial(eng, BAD) is None


def test_median_waits_for_its_warmup_epochs() -> None:
    assert _trial(_pruning("median", {"warmup_epochs": 3, "n_startup_trials": 2}), BAD) == 3


def test_percentile_keeps_only_the_top_percentile() -> None:
    eng = _pruning("percentile", {"percentile": 25, "warmup_epochs": 0, "n_startup_trials": 3}, good=0)
    for curve in ([0.9] * EPOCHS, [0.8] * EPOCHS, [0.7] * EPOCHS):
        assert _trial(eng, curve) is None
    assert _trial(eng, [0.75] * EPOCHS) == 0  # above the median, below the top quarter
    median = _pruning("median", {"warmup_epochs": 0, "n_startup_trials": 3}, good=0)
    for curve in ([0.9] * EPOCHS, [0.8] * EPOCHS, [0.7] * EPOCHS):
        assert _trial(median, curve) is None
    assert _trial(median, [0.85] * EPOCHS) is None  # the median pruner lets it finish


def test_successive_halving_stops_a_bad_trial_at_its_first_rung() -> None:
    eng = _pruning("successive_halving", {"min_resource": 2, "reduction_factor": 2})
    assert _trial(eng, BAD) == 2  # the rung at min_resource epochs (Optuna's steps count from 0)
    assert _trial(eng, [1.0] * EPOCHS) is None


def test_hyperband_stops_bad_trials_in_its_aggressive_brackets() -> None:
    eng = _pruning("hyperband", {"min_resource": 1, "reduction_factor": 2}, good=12)
    pruned = [_trial(eng, BAD) for _ in range(6)]
    assert any(p is not None and p < EPOCHS - 1 for p in pruned), pruned
    assert _trial(eng, [1.0] * EPOCHS) is None


def test_patient_stops_a_trial_that_fell_behind_its_own_best() -> None:
    eng = _pruning("patient", {"patience": 2}, good=0)
    assert _trial(eng, GOOD) is None  # improving every epoch
    assert _trial(eng, [0.5, 0.6, 0.6, 0.6, 0.6, 0.6]) is None  # a plateau is not worse than its best
    # epochs 2, 3, 4 (patience + 1) all below the best before them (0.6)
    assert _trial(eng, [0.5, 0.6, 0.55, 0.55, 0.55, 0.55]) == 4
    falling = [0.9, 0.8, 0.75, 0.6, 0.6, 0.6]
    assert _trial(_pruning("patient", {"patience": 1}, good=0), falling) == 2
    assert _trial(_pruning("patient", {"patience": 1, "min_delta": 0.2}, good=0), falling) == 4  # drops < 0.2 pass


def test_threshold_stops_a_trial_outside_its_bounds_or_nan() -> None:
    eng = _pruning("threshold", {"lower": 0.2, "warmup_epochs": 1}, good=0)
    assert _trial(eng, BAD) == 1  # epoch 0 is the warm-up
    assert _trial(eng, GOOD) is None
    assert _trial(eng, [0.5, math.nan, 0.5, 0.5, 0.5, 0.5]) == 1
    upper = _pruning("threshold", {"upper": 0.65}, good=0)
    assert _trial(upper, GOOD) == 2


def test_default_pruners_are_todays() -> None:
    """``pruner: median`` / ``hyperband`` without options are what they were before options existed."""
    median = make_engine("optuna", "random", name="m", pruner="median", epochs=8)
    median.open()
    pruner = median.study.pruner  # type: ignore[attr-defined]
    assert (pruner._n_startup_trials, pruner._n_warmup_steps, pruner._interval_steps) == (5, 2, 1)
    band = make_engine("optuna", "random", name="h", pruner="hyperband", epochs=8)
    band.open()
    pruner = band.study.pruner  # type: ignore[attr-defined]
    assert (pruner._min_resource, pruner._max_resource, pruner._reduction_factor) == (1, 8, 3)
