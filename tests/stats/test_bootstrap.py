"""The paired bootstrap: deterministic, zero inside for identical models, above zero for a clearly better one."""

from __future__ import annotations

import numpy as np
import pytest

from automl.stats import gain, paired_bootstrap, relative_increase, row_values


def _correct(n: int, share: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < share).astype(float)


def test_identical_models_give_an_interval_around_zero() -> None:
    a = _correct(300, 0.8, 1)
    interval = paired_bootstrap(a, a.copy())
    assert interval.estimate == 0 and interval.low <= 0 <= interval.high and not interval.distinguishable


def test_two_equally_good_but_different_models_are_not_distinguishable() -> None:
    interval = paired_bootstrap(_correct(200, 0.8, 1), _correct(200, 0.8, 2))
    assert interval.low < 0 < interval.high and not interval.distinguishable


def test_a_clearly_better_model_has_an_interval_above_zero() -> None:
    worse = _correct(1000, 0.6, 3)
    better = np.maximum(worse, _correct(1000, 0.5, 4))  # right wherever worse is, and on about half the rest
    interval = paired_bootstrap(better, worse)
    assert 0 < interval.low < interval.estimate < interval.high and interval.distinguishable
    assert paired_bootstrap(worse, better).high < 0


def test_the_interval_is_deterministic_and_seeded() -> None:
    a, b = _correct(150, 0.7, 5), _correct(150, 0.7, 6)
    assert paired_bootstrap(a, b) == paired_bootstrap(a, b)
    assert paired_bootstrap(a, b, seed=1) != paired_bootstrap(a, b)
    assert paired_bootstrap(a, b).resamples == 1000


def test_text_and_the_too_small_rule() -> None:
    a, b = _correct(100, 0.8, 7), _correct(100, 0.8, 8)
    interval = paired_bootstrap(a, b)
    text = interval.text("gain", percent=True)
    assert text.startswith("gain ") and " pt [95% CI " in text
    assert interval.too_small() and interval.half_width > 0.01  # 100 rows cannot tell one point
    warning = interval.size_warning("accuracy")
    assert warning is not None and "(100 rows)" in warning and "1 point" in warning
    assert interval.rows_needed() > 100
    big = paired_bootstrap(np.ones(10000), np.ones(10000))
    assert not big.too_small() and big.size_warning("accuracy") is None


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap(np.ones(3), np.ones(4))


def test_row_values_and_gain_by_metric() -> None:
    y = np.array([0, 1, 2, 1])
    probs = np.eye(3)[[0, 1, 2, 0]]  # the last row wrong
    values, on = row_values(probs, y, "classification", "f1")
    assert on == "accuracy" and values.tolist() == [1, 1, 1, 0]
    interval, on = gain(np.eye(3)[y], probs, y, "classification", "accuracy")
    assert on == "accuracy" and interval.estimate == pytest.approx(0.25)
    target = np.array([1.0, 2.0, 3.0, 4.0])
    close, far = target + 0.1, target + 1.0
    interval, on = gain(close, far, target, "regression", "mae")
    assert on == "mae" and interval.estimate == pytest.approx(0.9) and interval.distinguishable
    interval, on = gain(close, far, target, "regression", "rmse")
    assert on == "rmse" and interval.estimate == pytest.approx(0.9)
    drop = relative_increase(np.full(4, 1.1), np.full(4, 1.0))
    assert drop.estimate == pytest.approx(0.1) and drop.low == pytest.approx(0.1)


def test_a_small_split_of_agreeing_models_is_still_too_small_to_tell_a_point() -> None:
    from automl.stats import min_rows

    assert min_rows() == 600
    same = paired_bootstrap(np.ones(40), np.ones(40))
    assert same.half_width == 0 and same.size_warning("accuracy") is None  # the width alone cannot tell
    warning = same.size_warning("accuracy", binary=True)
    assert warning is not None and "(40 rows)" in warning and "at least 600 test rows" in warning
    assert paired_bootstrap(np.ones(600), np.ones(600)).size_warning("accuracy", binary=True) is None
