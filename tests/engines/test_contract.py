"""The engine contract: every registered engine and sampler passes the same tests.

Real Optuna storages and keras-tuner oracles on disk under tmp_path; no Keras training (see
test_contract_runs.py for the end-to-end half).
"""

from __future__ import annotations

import pytest

from automl.engines import ENGINE_SAMPLERS
from automl.errors import StudyError
from tests.engines.contract import CASES, ENGINES, drive, make_engine, space_for

pytestmark = pytest.mark.parametrize(("engine", "sampler"), CASES, ids=[f"{e}-{s}" for e, s in CASES])


def test_params_stay_inside_their_bounds_and_conditions(engine: str, sampler: str) -> None:
    eng = make_engine(engine, sampler)
    eng.open()
    drawn = drive(eng, 6)
    assert len(drawn) >= 4
    space = eng.settings.space
    records = eng.trials()
    assert [r.number for r in records] == list(range(len(drawn)))
    for values, record in zip(drawn, records, strict=True):
        for name, value in values.items():
            assert space.params[name].contains(value), (name, value)
        # the engine stores exactly the active tunable values: an inactive parameter never appears
        assert record.params == space.tunable(values)
        assert all(space.is_active(name, values) for name in record.params)
        assert ("momentum" in record.params) == (record.params["optimizer"] == "sgd")
        assert record.state == "COMPLETE" and record.attrs["n_params"] == 1


def test_resume_adds_trials_and_keeps_the_earlier_ones(engine: str, sampler: str) -> None:
    first = make_engine(engine, sampler)
    first.open()
    drive(first, 3)
    before = first.trials()

    again = make_engine(engine, sampler)
    again.open()
    drive(again, 2)
    after = again.trials()
    assert [r.number for r in after] == [0, 1, 2, 3, 4]
    assert [(r.state, r.value, r.params) for r in after[:3]] == [(r.state, r.value, r.params) for r in before]
    assert again.best() is not None and again.best().value == max(r.value for r in after)

    fresh = make_engine(engine, sampler)
    fresh.open(new=True)
    assert fresh.trials() == []


def test_failed_trials_are_recorded_with_their_reason_and_the_study_goes_on(engine: str, sampler: str) -> None:
    eng = make_engine(engine, sampler)
    eng.open()
    drive(eng, 4, state="FAIL")  # more than keras-tuner's default of 3 consecutive failures
    drive(eng, 1)
    records = eng.trials()
    assert [r.state for r in records] == ["FAIL"] * 4 + ["COMPLETE"]
    assert [r.attrs["fail_reason"] for r in records[:4]] == [f"boom {n}" for n in range(4)]
    assert eng.best() is not None and eng.best().number == 4


def test_a_seed_makes_the_sequence_of_parameters_reproducible(engine: str, sampler: str) -> None:
    a, b = make_engine(engine, sampler, name="a"), make_engine(engine, sampler, name="b")
    a.open()
    b.open()
    first, second = drive(a, 5), drive(b, 5)
    assert first == second
    assert len({repr(v) for v in first}) > 1  # and it is not one value over and over


def test_resuming_with_another_space_is_an_error(engine: str, sampler: str) -> None:
    eng = make_engine(engine, sampler)
    eng.open()
    drive(eng, 1)
    other = space_for(sampler, {"block": "mlp", "params": {"units": 8, "lr": {"type": "categorical",
                                                                              "choices": [0.01, 0.1]}}})
    with pytest.raises(StudyError, match=r"different search space \(.*\).*use --name NEW_NAME .* or --new"):
        make_engine(engine, sampler, space=other).open()


def test_a_study_name_belongs_to_one_engine(engine: str, sampler: str) -> None:
    for other in ENGINES:
        if other == engine:
            continue
        rival_sampler = next(s for s in ENGINE_SAMPLERS[other] if s != "grid")
        rival = make_engine(other, rival_sampler, name=f"taken-{other}", space=space_for(sampler))
        rival.open()
        drive(rival, 1)
        mine = make_engine(engine, sampler, name=f"taken-{other}")
        with pytest.raises(StudyError, match=f"made by engine '{other}'.*--name NEW_NAME .* or --new"):
            mine.open()
        mine.open(new=True)  # --new: the name changes hands
        assert not make_engine(other, rival_sampler, name=f"taken-{other}").exists()
        assert mine.trials() == []


def test_the_median_pruner_stops_a_trial_worse_than_the_completed_ones(engine: str, sampler: str) -> None:
    if sampler in ("hyperband", "grid"):
        pytest.skip("Hyperband stops trials by its own budgets; the tiny grid runs out before pruning starts")
    eng = make_engine(engine, sampler, pruner="median", epochs=4)
    eng.open()
    drive(eng, 5)  # the median pruner waits for 5 complete trials
    trial = eng.ask()
    assert trial is not None
    eng.settings.space.sample(trial)
    trial.report(0, 0.0, {})
    assert not trial.should_prune()  # epochs // 4 = 1 warm-up epoch
    trial.report(1, 0.0, {})
    assert trial.should_prune()
    eng.tell(trial, "PRUNED", 0.0, {"reason": "pruned after epoch 1"})
    pruned = eng.trials()[-1]
    assert pruned.state == "PRUNED" and pruned.attrs["reason"] == "pruned after epoch 1"
    assert eng.best() is not None and eng.best().state == "COMPLETE"
