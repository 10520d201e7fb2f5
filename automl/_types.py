"""Annotated types shared by the pydantic models (the pipeline's and the engines' options)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _not_bool(value: Any) -> Any:
    # pydantic reads true as 1: `epochs: true` is a slip, not one epoch
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {str(value).lower()}")
    return value


#: an integer that refuses true and false
Int = Annotated[int, BeforeValidator(_not_bool)]
