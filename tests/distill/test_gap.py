"""The gap to the teacher in the distillation verdict, and the budget it suggests, on constructed results."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from automl.config.models import DistillConfig
from automl.distill.study import DistillResult, closing_budget
from automl.engines.base import TrialRecord
from automl.space.params import FixedParam, FloatParam
from automl.states import TrialState
from automl.stats import paired_bootstrap


def _rows(correct: int, n: int = 1000) -> np.ndarray:
    return np.array([1.0] * correct + [0.0] * (n - correct))


def _result(teacher: float, distilled: float, scratch: float, **extra: Any) -> DistillResult:
    n = 1000
    t, d, s = _rows(round(teacher * n)), _rows(round(distilled * n)), _rows(round(scratch * n))
    return DistillResult(
        study_name="x-student", metric="accuracy", direction="maximize", teacher_path="best.keras",
        student_path="student.keras", scratch_path="student_scratch.keras", teacher_params=100_000,
        student_params=18_000, teacher_test={"accuracy": teacher}, distilled_test={"accuracy": distilled},
        scratch_test={"accuracy": scratch}, best_params={}, best_value=0.9, parent_run_id="r",
        interval=paired_bootstrap(d, s), interval_metric="accuracy", gap_interval=paired_bootstrap(d, t), **extra)


def test_the_verdict_prints_the_gap_to_the_teacher_beside_the_gain() -> None:
    result = _result(0.961, 0.912, 0.820)  # the scenario: +9.2 pt over scratch, 4.9 pt under the teacher
    assert result.gap == pytest.approx(-0.049)
    assert result.gap_interval is not None and result.gap_interval.high < 0
    assert result.verdict.startswith("distillation helped: test accuracy 0.9120 distilled vs 0.8200 from scratch, "
                                     "gain +9.2 pt [95% CI ")
    assert "; teacher 0.9610, gap to the teacher -4.9 pt [95% CI -" in result.verdict
    assert result.behind

    close = _result(0.961, 0.955, 0.820)
    assert "gap to the teacher -0.6 pt [95% CI " in close.verdict and not close.behind

    unsure = _result(0.90, 0.90, 0.90)  # the interval spans zero: said of the gain, before the teacher's part
    assert unsure.verdict.startswith("distillation's effect is not distinguishable: test accuracy 0.9000 distilled "
                                     "vs 0.9000 from scratch, gain +0.0 pt [95% CI +0.0, +0.0] (the interval spans "
                                     "zero); teacher 0.9000, gap to the teacher +0.0 pt")


def _trial(number: int, value: float, *, size: float | None = None, best_epoch: int | None = None,
           trained: int = 40) -> TrialRecord:
    params = {"alpha": 0.5} | ({} if size is None else {"size": size})
    attrs = {"epochs_trained": trained} | ({} if best_epoch is None else {"best_epoch": best_epoch})
    return TrialRecord(number=number, state=TrialState.COMPLETE, value=value, params=params, attrs=attrs)


def test_a_student_still_rising_at_its_last_epoch_asks_for_more_epochs() -> None:
    trials = [_trial(0, 0.90, best_epoch=39), _trial(1, 0.80, best_epoch=10), _trial(2, 0.85, best_epoch=30)]
    text = closing_budget(trials[0], trials, epochs=40, size=FixedParam(value=0.25), metric="val_accuracy")
    assert text == ("to close the gap to the teacher, try `distill.epochs: 80` (the best student's "
                    "val_accuracy was still rising: its best epoch was 40 of 40)")
    # stopped early (fewer epochs trained than asked): the curve had flattened, so no epochs are suggested
    early = [_trial(0, 0.90, best_epoch=20, trained=25), *trials[1:]]
    assert "distill.epochs" not in (closing_budget(early[0], early, epochs=40, size=None, metric="val_accuracy") or "")


def test_larger_students_scoring_better_ask_for_a_larger_size() -> None:
    size = DistillConfig.model_validate({"size": {"type": "float", "low": 0.05, "high": 0.25}}).size
    assert isinstance(size, FloatParam)
    trials = [_trial(0, 0.91, size=0.24, best_epoch=5), _trial(1, 0.80, size=0.06, best_epoch=5),
              _trial(2, 0.85, size=0.12, best_epoch=5)]
    text = closing_budget(trials[0], trials, epochs=40, size=size, metric="val_accuracy")
    assert text == ("to close the gap to the teacher, try a larger `distill.size` than 0.25 (the best student was "
                    "among the largest searched: 0.24 of [0.05, 0.25])")
    # the best among the larger ones but under the top: the top of the range, fixed
    trials[0] = _trial(0, 0.91, size=0.2, best_epoch=5)
    text = closing_budget(trials[0], trials, epochs=40, size=size, metric="val_accuracy")
    assert text is not None and "try `distill.size: 0.25` (the best student was among the largest searched: 0.2 " \
        "of [0.05, 0.25])" in text


def test_a_late_best_or_no_other_clue_asks_for_more_trials() -> None:
    late = [_trial(0, 0.80, best_epoch=5), _trial(1, 0.82, best_epoch=5), _trial(2, 0.90, best_epoch=5)]
    text = closing_budget(late[2], late, epochs=40, size=FixedParam(value=0.25), metric="val_accuracy")
    assert text == ("to close the gap to the teacher, try `distill.trials: 6` (the best student came in trial 3 of "
                    "3: the search was still finding better ones)")
    early = [_trial(0, 0.90, best_epoch=5), _trial(1, 0.82, best_epoch=5), _trial(2, 0.80, best_epoch=5)]
    text = closing_budget(early[0], early, epochs=40, size=FixedParam(value=0.25), metric="val_accuracy")
    assert text is not None and text.endswith("`distill.trials: 6` (nothing in the study points at epochs or size)")
    assert closing_budget(None, [], epochs=40, size=None, metric="val_accuracy") is None
