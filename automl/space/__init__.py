"""Search spaces: parameters, conditions, and resolution against the block registry."""

from automl.space.params import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    Suggester,
)
from automl.space.space import Space, SpaceFile, resolve_space

__all__ = [
    "CategoricalParam",
    "FixedParam",
    "FloatParam",
    "IntParam",
    "Param",
    "Space",
    "SpaceFile",
    "Suggester",
    "resolve_space",
]
