"""Annotated types shared by the pydantic models (the pipeline's and the engines' options), and the objectives' one
shape (:class:`Objectives`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, NamedTuple

from pydantic import BeforeValidator


def _not_bool(value: Any) -> Any:
    # pydantic reads true as 1: `epochs: true` is a slip, not one epoch
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {str(value).lower()}")
    return value


#: an integer that refuses true and false
Int = Annotated[int, BeforeValidator(_not_bool)]


class Goal(NamedTuple):
    """One objective of a study: its metric and whether it is maximized or minimized."""

    metric: str
    direction: str


class Objectives(tuple[Goal, ...]):
    """A study's objectives in the one shape every stage reads (``study.objectives``, settled by the plan).

    Empty: the study has no ``study.objectives`` (one value, the plan's metric). :attr:`multi` is the one answer to
    "is this study multi-objective?".

    >>> o = Objectives([("val_accuracy", "maximize"), ("params_count", "minimize")])
    >>> o.multi, o.metrics, o[1].direction
    (True, ('val_accuracy', 'params_count'), 'minimize')
    """

    __slots__ = ()

    def __new__(cls, goals: Iterable[tuple[str, str]] = ()) -> Objectives:
        return super().__new__(cls, tuple(Goal(*g) for g in goals))

    @property
    def multi(self) -> bool:
        """Two or more objectives: a Pareto front rather than one best value."""
        return len(self) > 1

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(g.metric for g in self)

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(g.direction for g in self)
