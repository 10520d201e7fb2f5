"""Search-space parameters: int, float (log / step), categorical and fixed values, with conditions.

A parameter knows its own bounds and how to draw itself from a :class:`Suggester` (Optuna's trial, a
keras-tuner adapter, a fake in tests), so the space stays independent of any tuning library.

Every number a space holds is bounded (:data:`MAX_INT`, :data:`MAX_FLOAT`), and so are the choices of a
categorical and the values of a condition (:data:`MAX_CHOICES`) and the values a grid enumerates
(:data:`MAX_GRID`): a typo (``high: 1e30``) is an error naming its key, not a study that hangs or runs
out of memory.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import Self

from automl._text import show

Scalar = str | int | float | bool | None

#: largest magnitude of an integer in a space (a C int: what layer sizes and step counts fit in)
MAX_INT = 2**31 - 1
#: largest magnitude of a float in a space; floats are finite as well
MAX_FLOAT = 1e12
#: most choices of a categorical, and most values a condition names per parent
MAX_CHOICES = 1000
#: most values a parameter's grid (a float's step, an int's range) and a whole grid search enumerate
MAX_GRID = 1_000_000

SpaceInt = Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
SpaceFloat = Annotated[float, Field(ge=-MAX_FLOAT, le=MAX_FLOAT, allow_inf_nan=False)]


class Suggester(Protocol):
    """What a tuning engine offers a space to draw values (Optuna's ``Trial`` fits as is)."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...


def _number_problem(value: Any) -> str | None:
    """What is wrong with a number of a space (too large, not finite), or None (also for a non-number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected a finite number, got {show(value)}"
    bound: int | float = MAX_INT if isinstance(value, int) else MAX_FLOAT
    if value > bound:
        return f"expected a value <= {show(bound)}, got {show(value)}"
    if value < -bound:
        return f"expected a value >= {show(-bound)}, got {show(value)}"
    return None


def _normalize_when(value: Any) -> dict[str, list[Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        raise ValueError(f"expected a mapping of parameter -> value(s), got {show(value)}")
    when = {str(k): (list(v) if isinstance(v, list | tuple) else [v]) for k, v in value.items()}
    for parent, values in when.items():
        if len(values) > MAX_CHOICES:
            raise ValueError(f"expected at most {MAX_CHOICES} values per parameter, got {len(values)} for "
                             f"{show(parent)}")
    return when


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    when: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Active only when every named parameter has one of the given values.",
    )

    @field_validator("when", mode="before")
    @classmethod
    def _when(cls, value: Any) -> dict[str, list[Any]]:
        return _normalize_when(value)

    @property
    def tunable(self) -> bool:
        return True

    def conditioned(self, extra: dict[str, list[Any]]) -> Self:
        """A copy that is also conditional on ``extra`` (used for block-specific defaults)."""
        return self.model_copy(update={"when": {**extra, **self.when}})

    def grid_size(self) -> int | None:
        """How many values :meth:`grid` holds (without making it); None when there is no grid."""
        return 1

    def _checked_grid_size(self) -> int:
        size = self.grid_size()
        if size is None:
            raise ValueError("grid search needs every float to have a `step`")
        if size > MAX_GRID:
            raise ValueError(f"a grid of {size} values; at most {MAX_GRID}")
        return size


class IntParam(_Base):
    type: Literal["int"]
    low: SpaceInt
    high: SpaceInt
    step: Annotated[int, Field(gt=0, le=MAX_INT)] = 1
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        if self.low > self.high:
            raise ValueError(f"`low <= high` must hold, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale parameter needs low > 0, got low={self.low}")
        if self.log and self.step != 1:
            raise ValueError(f"`step` and `log` cannot both be set, got step={self.step}, log=true")
        if self.step > 1 and self.high > self.low and self.step > self.high - self.low:
            raise ValueError(f"[step] `step <= high - low` must hold, got step={self.step}, "
                             f"high - low={self.high - self.low}")
        return self

    def draw(self, name: str, s: Suggester) -> int:
        return int(s.suggest_int(name, self.low, self.high, step=self.step, log=self.log))

    def grid_size(self) -> int:
        return (self.high - self.low) // self.step + 1

    def grid(self) -> list[Any]:
        self._checked_grid_size()
        return list(range(self.low, self.high + 1, self.step))

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high


class FloatParam(_Base):
    type: Literal["float"]
    low: SpaceFloat
    high: SpaceFloat
    step: Annotated[float, Field(gt=0, le=MAX_FLOAT, allow_inf_nan=False)] | None = None
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        if self.low > self.high:
            raise ValueError(f"`low <= high` must hold, got low={self.low:g}, high={self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale parameter needs low > 0, got low={self.low:g}")
        if self.log and self.step is not None:
            raise ValueError(f"`step` and `log` cannot both be set, got step={self.step:g}, log=true")
        if self.step is not None and self.high > self.low:
            span = self.high - self.low
            if self.step > span * (1 + 1e-9):  # 0.5 - 0.2 may be a hair below a step of 0.3
                raise ValueError(f"[step] `step <= high - low` must hold, got step={self.step:g}, "
                                 f"high - low={span:g}")
            if span / self.step > MAX_GRID:  # keras-tuner and grid search list every value
                raise ValueError(f"[step] `(high - low) / step <= {MAX_GRID}` must hold, got {span / self.step:g}")
        return self

    def draw(self, name: str, s: Suggester) -> float:
        return float(s.suggest_float(name, self.low, self.high, step=self.step, log=self.log))

    def grid_size(self) -> int | None:
        if self.step is None:
            return None
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1

    def grid(self) -> list[Any]:
        n = self._checked_grid_size()
        assert self.step is not None
        return [round(self.low + i * self.step, 12) for i in range(n)]

    def contains(self, value: Any) -> bool:
        return isinstance(value, int | float) and self.low - 1e-12 <= value <= self.high + 1e-12


class CategoricalParam(_Base):
    type: Literal["categorical"]
    choices: Annotated[list[Scalar], Field(max_length=MAX_CHOICES)]

    @field_validator("choices")
    @classmethod
    def _non_empty(cls, value: list[Scalar]) -> list[Scalar]:
        if not value:
            raise ValueError("a categorical parameter needs at least one choice, got []")
        if len({(type(v), v) for v in value}) != len(value):  # 1, 1.0 and true are distinct choices
            raise ValueError(f"choices must be distinct, got {show(value)}")
        return value

    @model_validator(mode="after")
    def _numbers(self) -> CategoricalParam:
        for i, choice in enumerate(self.choices):
            problem = _number_problem(choice)
            if problem:
                raise ValueError(f"[choices.{i}] {problem}")
        return self

    def draw(self, name: str, s: Suggester) -> Any:
        return s.suggest_categorical(name, list(self.choices))

    def grid_size(self) -> int:
        return len(self.choices)

    def grid(self) -> list[Any]:
        return list(self.choices)

    def contains(self, value: Any) -> bool:
        return value in self.choices


class FixedParam(_Base):
    """A value that is not searched (``units: 64`` or ``{value: 64, when: {...}}``)."""

    type: Literal["fixed"] = "fixed"
    value: Any

    @model_validator(mode="after")
    def _number(self) -> FixedParam:
        problem = _number_problem(self.value)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def tunable(self) -> bool:
        return False

    def draw(self, name: str, s: Suggester) -> Any:
        return self.value

    def grid(self) -> list[Any]:
        return [self.value]

    def contains(self, value: Any) -> bool:
        return bool(value == self.value)


Param = Annotated[IntParam | FloatParam | CategoricalParam | FixedParam, Field(discriminator="type")]
PARAM_TYPES = ("int", "float", "categorical")


def as_param_input(value: Any) -> Any:
    """Turn the YAML shorthand (a plain value) into the mapping form the models validate."""
    if isinstance(value, dict) and ("type" in value or "value" in value):
        if "value" in value and "type" not in value:
            return {"type": "fixed", **value}
        return value
    return {"type": "fixed", "value": value}


def int_range(low: int, high: int, *, log: bool = False, step: int = 1) -> IntParam:
    return IntParam(type="int", low=low, high=high, log=log, step=step)


def float_range(low: float, high: float, *, log: bool = False, step: float | None = None) -> FloatParam:
    return FloatParam(type="float", low=low, high=high, log=log, step=step)


def choice(*choices: Scalar) -> CategoricalParam:
    return CategoricalParam(type="categorical", choices=list(choices))


def fixed(value: Any) -> FixedParam:
    return FixedParam(value=value)
