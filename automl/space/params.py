"""Search-space parameters: int, float (log / step), categorical and fixed values, with conditions.

A parameter knows its own bounds and how to draw itself from a :class:`Suggester` (Optuna's trial, a
keras-tuner adapter, a fake in tests), so the space stays independent of any tuning library.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import Self

Scalar = str | int | float | bool | None


class Suggester(Protocol):
    """What a tuning engine offers a space to draw values (Optuna's ``Trial`` fits as is)."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...


def _normalize_when(value: Any) -> dict[str, list[Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        raise ValueError(f"expected a mapping of parameter -> value(s), got {value!r}")
    return {str(k): (list(v) if isinstance(v, list | tuple) else [v]) for k, v in value.items()}


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


class IntParam(_Base):
    type: Literal["int"]
    low: int
    high: int
    step: Annotated[int, Field(gt=0)] = 1
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        if self.low > self.high:
            raise ValueError(f"`low <= high` must hold, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale parameter needs low > 0, got low={self.low}")
        if self.log and self.step != 1:
            raise ValueError(f"`step` and `log` cannot both be set, got step={self.step}, log=true")
        return self

    def draw(self, name: str, s: Suggester) -> int:
        return int(s.suggest_int(name, self.low, self.high, step=self.step, log=self.log))

    def grid(self) -> list[Any]:
        return list(range(self.low, self.high + 1, self.step))

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high


class FloatParam(_Base):
    type: Literal["float"]
    low: float
    high: float
    step: Annotated[float, Field(gt=0)] | None = None
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        if self.low > self.high:
            raise ValueError(f"`low <= high` must hold, got low={self.low:g}, high={self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale parameter needs low > 0, got low={self.low:g}")
        if self.log and self.step is not None:
            raise ValueError(f"`step` and `log` cannot both be set, got step={self.step:g}, log=true")
        return self

    def draw(self, name: str, s: Suggester) -> float:
        return float(s.suggest_float(name, self.low, self.high, step=self.step, log=self.log))

    def grid(self) -> list[Any]:
        if self.step is None:
            raise ValueError("grid search needs every float to have a `step`")
        n = int(math.floor((self.high - self.low) / self.step + 1e-9))
        return [round(self.low + i * self.step, 12) for i in range(n + 1)]

    def contains(self, value: Any) -> bool:
        return isinstance(value, int | float) and self.low - 1e-12 <= value <= self.high + 1e-12


class CategoricalParam(_Base):
    type: Literal["categorical"]
    choices: list[Scalar]

    @field_validator("choices")
    @classmethod
    def _non_empty(cls, value: list[Scalar]) -> list[Scalar]:
        if not value:
            raise ValueError("a categorical parameter needs at least one choice, got []")
        if len({repr(v) for v in value}) != len(value):
            raise ValueError(f"choices must be distinct, got {value}")
        return value

    def draw(self, name: str, s: Suggester) -> Any:
        return s.suggest_categorical(name, list(self.choices))

    def grid(self) -> list[Any]:
        return list(self.choices)

    def contains(self, value: Any) -> bool:
        return value in self.choices


class FixedParam(_Base):
    """A value that is not searched (``units: 64`` or ``{value: 64, when: {...}}``)."""

    type: Literal["fixed"] = "fixed"
    value: Any

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
