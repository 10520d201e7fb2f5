"""Parameter ranges have sane bounds, a grid is finite and small, and a space's errors stay one short line."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from automl.cli import app
from automl.space import CategoricalParam, FixedParam, IntParam, Space, SpaceFile, resolve_space

runner = CliRunner()
MEGA = "x" * 1_000_000


def _validate(tmp_path: Path, space: dict[str, Any]) -> tuple[int, str, str]:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space, width=10**9))
    result = runner.invoke(app, ["validate", str(path)])
    return result.exit_code, result.output.strip(), str(path)


def _mlp(**params: Any) -> dict[str, Any]:
    return {"block": "mlp", "params": params}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"units": {"type": "int", "low": 1, "high": 1e30}},
         "params.units.high: expected a value <= 2147483647, got 1e+30"),
        ({"units": {"type": "int", "low": 1, "high": 10**30}},
         "params.units.high: expected a value <= 2147483647, got 1000000000000000000000000000000"),
        ({"units": {"type": "int", "low": -(2**31), "high": 8}},
         "params.units.low: expected a value >= -2147483647, got -2147483648"),
        ({"layers": {"type": "int", "low": 1, "high": 3, "step": 10**21}},
         "params.layers.step: expected a value <= 2147483647, got 1000000000000000000000"),
        ({"layers": {"type": "int", "low": 1, "high": 3, "step": 5}},
         "params.layers.step: `step <= high - low` must hold, got step=5, high - low=2"),
        ({"lr": {"type": "float", "low": 1e-4, "high": float("inf")}},
         "params.lr.high: expected a finite number, got inf"),
        ({"lr": {"type": "float", "low": float("nan"), "high": 0.1}},
         "params.lr.low: expected a finite number, got nan"),
        ({"lr": {"type": "float", "low": 1e-4, "high": 1e13}},
         "params.lr.high: expected a value <= 1e+12, got 1e+13"),
        ({"lr": {"type": "float", "low": -1e13, "high": 0.1}},
         "params.lr.low: expected a value >= -1e+12, got -1e+13"),
        ({"dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": float("inf")}},
         "params.dropout.step: expected a finite number, got inf"),
        ({"dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.6}},
         "params.dropout.step: `step <= high - low` must hold, got step=0.6, high - low=0.5"),
        ({"dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 1e-9}},
         "params.dropout.step: `(high - low) / step <= 1000000` must hold, got 5e+08"),
        ({"units": {"type": "categorical", "choices": [16, 1e30]}},
         "params.units.choices.1: expected a value <= 1e+12, got 1e+30"),
        ({"units": {"type": "categorical", "choices": [16, 10**30]}},
         "params.units.choices.1: expected a value <= 2147483647, got 1000000000000000000000000000000"),
        ({"dropout": {"type": "categorical", "choices": [0.1, float("nan")]}},
         "params.dropout.choices.1: expected a finite number, got nan"),
        ({"units": 10**30}, "params.units: expected a value <= 2147483647, got 1000000000000000000000000000000"),
        ({"units": -1e30}, "params.units: expected a value >= -1e+12, got -1e+30"),
        ({"clipnorm": {"value": float("inf")}}, "params.clipnorm: expected a finite number, got inf"),
    ],
)
def test_numbers_in_a_space_are_bounded(tmp_path: Path, params: dict[str, Any], expected: str) -> None:
    code, out, path = _validate(tmp_path, _mlp(**params))
    assert code == 2, out
    assert out == f"{path}: {expected}"


def test_a_categorical_has_at_most_1000_choices(tmp_path: Path) -> None:
    code, out, path = _validate(tmp_path, _mlp(units={"type": "categorical", "choices": list(range(1, 1002))}))
    assert code == 2
    assert out.startswith(f"{path}: params.units.choices: expected at most 1000 items, got [1, 2, ")
    assert len(out) - len(path) < 400


def test_a_condition_names_at_most_1000_values(tmp_path: Path) -> None:
    space = _mlp(momentum={"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": list(range(1001))}})
    code, out, path = _validate(tmp_path, space)
    assert code == 2
    assert out == f"{path}: params.momentum.when: expected at most 1000 values per parameter, got 1001 for 'optimizer'"


def test_the_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    space = _mlp(units={"type": "int", "low": 1, "high": 2**31 - 1, "log": True},
                 lr={"type": "float", "low": 1e-12, "high": 1e12, "log": True},
                 dropout={"type": "float", "low": 0.0, "high": 0.5, "step": 0.5},
                 layers={"type": "int", "low": 2, "high": 2, "step": 7},
                 activation={"type": "categorical", "choices": ["relu"] + [f"x{i}" for i in range(999)]})
    assert SpaceFile.model_validate(space).params["units"].high == 2**31 - 1


def _line_of(tmp_path: Path, space: dict[str, Any]) -> str:
    code, out, path = _validate(tmp_path, space)
    assert code == 2, out[:1000]
    assert len(out.splitlines()) == 1 and "Traceback" not in out, out[:1000]
    assert len(out) - len(path) < 400, out[:1000]
    return out


@pytest.mark.parametrize(
    "space",
    [
        _mlp(units={"type": "int", "low": 1, "high": 8, "when": MEGA}),  # `when` that is not a mapping
        _mlp(units={"type": "int", "low": 1, "high": 8, "when": {MEGA: 1}}),  # a parent that does not exist
        _mlp(momentum={"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": [MEGA]}}),  # never holds
        _mlp(units={"type": "int", "low": 1, "high": 8, "when": {"layers": [MEGA]}}),  # outside the parent's range
        _mlp(activation={"type": "categorical", "choices": [MEGA, MEGA]}),  # choices not distinct
        _mlp(**{MEGA: 1}),  # not a hyperparameter
        {"block": {"type": "categorical", "choices": ["mlp"], "when": {"units": [MEGA]}}},  # a block with a `when`
        {"block": {"type": "int", "low": 1, "high": 2, "when": {"units": [MEGA]}}},
    ],
)
def test_a_megabyte_value_in_a_space_gives_a_short_line(tmp_path: Path, space: dict[str, Any]) -> None:
    _line_of(tmp_path, space)


def _space(raw: dict[str, Any]) -> Space:
    return resolve_space(SpaceFile.model_validate(raw), 2, file="s.yaml")


def test_a_grid_of_a_parameter_is_bounded() -> None:
    space = _space(_mlp(units={"type": "int", "low": 1, "high": 2**31 - 1}, lr=0.01, momentum=0.9, dropout=0.0))
    with pytest.raises(ValueError, match=r"`units` has 2147483647 grid values; at most 1000000"):
        space.grid()


def test_a_whole_grid_is_bounded() -> None:
    space = _space(_mlp(units={"type": "int", "low": 1, "high": 1000}, layers={"type": "int", "low": 1, "high": 1000},
                        lr=0.01, dropout=0.0))
    with pytest.raises(ValueError, match=r"the grid has 2000000 points .*at most 1000000"):
        space.grid()


def test_can_be_active_is_linear_in_a_web_of_conditions() -> None:
    # every parameter conditional on the two before it: without memory, 2**(n/2) walks
    params: dict[str, Any] = {"p0": CategoricalParam(type="categorical", choices=[1, 2]),
                              "p1": CategoricalParam(type="categorical", choices=[1, 2])}
    for i in range(2, 200):
        params[f"p{i}"] = IntParam(type="int", low=1, high=2, when={f"p{i - 1}": [1], f"p{i - 2}": [1]})
    params["last"] = FixedParam(value=1, when={"p199": [1], "p198": [1]})
    space = Space(params=params)
    answer: list[bool] = []
    worker = threading.Thread(target=lambda: answer.append(space.can_be_active("last")), daemon=True)
    worker.start()
    worker.join(10)
    assert answer == [True]
