"""Parameter importances from trial records alone (any engine)."""

from __future__ import annotations

import numpy as np

from automl.report.importance import param_importances


def _trials(n: int = 40) -> tuple[list[dict[str, object]], list[float]]:
    rng = np.random.default_rng(0)
    params: list[dict[str, object]] = []
    values = []
    for _ in range(n):
        lr = float(10 ** rng.uniform(-4, -1))
        units = int(rng.integers(8, 64))
        optimizer = str(rng.choice(["adam", "sgd"]))
        p: dict[str, object] = {"lr": lr, "units": units, "optimizer": optimizer, "block": "mlp"}
        if optimizer == "sgd":
            p["momentum"] = float(rng.uniform(0, 0.9))
        params.append(p)
        values.append(-abs(np.log10(lr) + 2.5))  # only lr matters
    return params, values


def test_the_parameter_that_drives_the_value_ranks_first_and_scores_sum_to_one() -> None:
    scores = param_importances(*_trials())
    assert list(scores)[0] == "lr" and scores["lr"] > 0.6
    assert abs(sum(scores.values()) - 1.0) < 1e-9
    assert "block" not in scores  # never varies
    assert "momentum" in scores  # conditional: absent in adam trials, still scored


def test_too_few_trials_or_a_constant_value_give_no_importances() -> None:
    params, values = _trials(3)
    assert param_importances(params, values) == {}
    params, _ = _trials(10)
    assert param_importances(params, [0.5] * 10) == {}


def test_non_finite_values_are_left_out() -> None:
    params, values = _trials(12)
    values[0] = float("nan")
    assert param_importances(params, values)
